"""The contraction hierarchy gives networkx Dijkstra's costs (1,000 random pairs per graph)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from routing import RoadGraph
from routing.synthetic import grid_network
from tests.unit.conftest_routing import *  # noqa: F403 (session fixtures)

PAIRS_SOURCES = 20
PAIRS_PER_SOURCE = 50  # 20 x 50 = 1,000 origin-destination pairs
MAX_REL_DIFF = 1e-4  # 0.01 %


def _compare(g: RoadGraph, seed: int) -> float:
    """Largest relative cost difference over 1,000 random pairs; checks paths on the way."""
    rng = np.random.default_rng(seed)
    ref_graph = g.to_networkx()
    sources = rng.choice(g.node_count, PAIRS_SOURCES, replace=False)
    worst = 0.0
    for s in sources:
        ref = nx.single_source_dijkstra_path_length(ref_graph, int(s), weight="travel_time")
        targets = rng.choice(g.node_count, PAIRS_PER_SOURCE, replace=False)
        table, _ = g.hierarchy.table(np.array([s]), targets)
        for j, t in enumerate(targets):
            expected = ref[int(t)]  # the graph is strongly connected: every node is reachable
            route = g.route_nodes(int(s), int(t))
            got = route.duration_s
            if expected == 0:
                assert got == 0
                continue
            worst = max(
                worst, abs(got - expected) / expected, abs(table[0, j] - expected) / expected
            )
            # the path is real: consecutive edges, from s to t
            assert route.nodes[0] == g.node_id[s] and route.nodes[-1] == g.node_id[t]
            e = route.edges
            assert np.all(g.edge_v[e[:-1]] == g.edge_u[e[1:]])
    return worst


@pytest.mark.parametrize("name", ["murino", "heidelberg"])
def test_ch_matches_networkx_dijkstra(name, request, record_property):
    g = request.getfixturevalue(name)
    worst = _compare(g, seed=7)
    record_property("max_rel_diff", worst)
    print(f"\n{name}: largest relative difference over 1,000 pairs = {worst:.3e}")
    assert worst <= MAX_REL_DIFF


def test_ch_matches_networkx_on_a_grid_with_one_way_streets(record_property):
    g = RoadGraph.from_arrays(grid_network(40, seed=3, oneway_prob=0.4), {"source": "grid"})
    worst = _compare(g, seed=11)
    record_property("max_rel_diff", worst)
    print(f"\ngrid 40x40: largest relative difference over 1,000 pairs = {worst:.3e}")
    assert worst <= MAX_REL_DIFF
