"""The contraction hierarchies give networkx Dijkstra's costs (1,000 random pairs per graph):
the node-based one against the road graph, the turn-aware one (routes and matrices of a map)
against the edge-expanded graph with the same turn costs and restrictions."""

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
        ws = g.hierarchy.workspace()
        for j, t in enumerate(targets):
            expected = ref[int(t)]  # the graph is strongly connected: every node is reachable
            path = g.hierarchy.path(int(s), int(t), ws)
            assert path is not None
            got = path.duration_s
            if expected == 0:
                assert got == 0
                continue
            worst = max(
                worst, abs(got - expected) / expected, abs(table[0, j] - expected) / expected
            )
            # the path is real: consecutive edges, from s to t
            assert path.nodes[0] == s and path.nodes[-1] == t
            e = path.edges
            assert np.all(g.edge_v[e[:-1]] == g.edge_u[e[1:]])
            assert np.isclose(g.edge_time_s[e].sum(), got)
    return worst


def _compare_turns(g: RoadGraph, seed: int, sources: int = PAIRS_SOURCES) -> float:
    """:func:`_compare` for the turn-aware routes: the graph's own API (routes, lean paths,
    matrices) against Dijkstra on the edge-expanded graph."""
    rng = np.random.default_rng(seed)
    ref_graph = g.to_networkx_turns()
    worst = 0.0
    for s in rng.choice(g.node_count, sources, replace=False):
        ref = nx.single_source_dijkstra_path_length(ref_graph, ("s", int(s)), weight="travel_time")
        targets = rng.choice(g.node_count, PAIRS_PER_SOURCE, replace=False)
        targets = targets[targets != s]
        table = g.matrix_nodes([s], targets).duration_s
        for j, t in enumerate(targets):
            expected = ref.get(("t", int(t)), np.inf)
            assert np.isfinite(expected), "a restriction cut a node off"
            route = g.route_nodes(int(s), int(t))
            cost, ids = g.fastest_path(int(s), int(t))
            worst = max(
                worst,
                abs(route.duration_s - expected) / expected,
                abs(table[0, j] - expected) / expected,
                abs(cost - expected) / expected,
            )
            assert ids == route.nodes
            assert route.nodes[0] == g.node_id[s] and route.nodes[-1] == g.node_id[t]
            e = route.edges
            assert np.all(g.edge_v[e[:-1]] == g.edge_u[e[1:]])
            banned = set(zip(g.turn_ban_from.tolist(), g.turn_ban_to.tolist(), strict=True))
            assert not banned & set(zip(e[:-1].tolist(), e[1:].tolist(), strict=True))
            # turns cost something: the route is no cheaper than its edges alone
            assert route.duration_s >= g.edge_time_s[e].sum() - 1e-9
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


@pytest.mark.parametrize("name", ["murino", "heidelberg"])
def test_turn_aware_routes_match_dijkstra_on_the_edge_expanded_graph(name, request):
    g = request.getfixturevalue(name)
    assert g.turns is not None
    worst = _compare_turns(g, seed=5, sources=10)
    print(f"\n{name}: turn-aware, largest relative difference over 500 pairs = {worst:.3e}")
    assert worst <= MAX_REL_DIFF
