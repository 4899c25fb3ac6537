"""Turn-aware routing: the edge-expanded graph and its contraction hierarchy (pure, numpy).

A node-based hierarchy charges a junction the same whichever way the vehicle leaves it, so it
cannot carry turn costs by angle nor turn restrictions. Here every directed road edge is a node
of an *edge-expanded* graph and every allowed turn ``e1 -> e2`` (``e1`` ends where ``e2``
starts) an arc costing the turn (:func:`routing.traveltime.turn_costs_s`) plus ``e2``'s own
time — the construction OSRM's ``EdgeBasedGraphFactory`` uses. Banned turns (OSM
``restriction=no_*``, and every turn but the one an ``only_*`` allows) simply have no arc.

Point-to-point queries start and end at road *nodes*, as the node-based API does: each road node
``v`` gets a source ``S_v`` with arcs to its outgoing edges (cost: the edge's time) and a target
``T_v`` with zero-cost arcs from its incoming edges. ``S_v`` has no incoming and ``T_v`` no
outgoing arcs, so they are contracted first and add no shortcuts; the existing numba contraction
(:func:`routing.ch.Hierarchy.build`), the bidirectional query and the bucket many-to-many then
work unchanged from ``S_s`` to ``T_t``.

Hierarchy node layout: ``0 .. m-1`` road edges, ``m + v`` is ``S_v``, ``m + n + v`` is ``T_v``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from routing.ch import Hierarchy, Workspace
from routing.traveltime import edge_bearings_deg, node_degrees, turn_angles_deg, turn_costs_s


@dataclass(frozen=True)
class TurnCosts:
    """The turn model's parameters (OSRM ``car.lua``; see :mod:`routing.traveltime`)."""

    turn_penalty_s: float = 7.5
    turn_bias: float = 1.075
    u_turn_penalty_s: float = 20.0
    oncoming_turn_penalty_s: float = 2.0

    def as_dict(self) -> dict[str, float]:
        return {
            "turn_penalty_s": self.turn_penalty_s,
            "turn_bias": self.turn_bias,
            "u_turn_penalty_s": self.u_turn_penalty_s,
            "oncoming_turn_penalty_s": self.oncoming_turn_penalty_s,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TurnCosts:
        return cls(**{k: float(values[k]) for k in cls().as_dict()})


@dataclass(frozen=True)
class Turns:
    """The allowed turns of a road graph: arc ``i`` goes from edge ``turn_from[i]`` to edge
    ``turn_to[i]`` and costs ``turn_s[i]`` seconds on top of the second edge's time."""

    turn_from: np.ndarray
    turn_to: np.ndarray
    turn_s: np.ndarray


def turn_pairs(
    edge_u: np.ndarray,
    edge_v: np.ndarray,
    node_count: int,
    ban_from: np.ndarray,
    ban_to: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Every turn ``(e1, e2)`` between consecutive edges (``e1`` ends where ``e2`` starts,
    U-turns included) that is not banned, as two arrays of edge indices."""
    u = np.asarray(edge_u, np.int64)
    v = np.asarray(edge_v, np.int64)
    m = u.shape[0]
    order = np.argsort(u, kind="stable")
    out_ptr = np.searchsorted(u[order], np.arange(node_count + 1))
    count = np.diff(out_ptr)[v]
    e1 = np.repeat(np.arange(m, dtype=np.int64), count)
    first = np.cumsum(count) - count
    k = np.arange(e1.shape[0], dtype=np.int64) - np.repeat(first, count)
    e2 = order[out_ptr[v[e1]] + k]
    if len(ban_from):
        banned = np.asarray(ban_from, np.int64) * m + np.asarray(ban_to, np.int64)
        keep = ~np.isin(e1 * m + e2, banned)
        e1, e2 = e1[keep], e2[keep]
    return e1, e2


def allowed_turns(
    edge_u: np.ndarray,
    edge_v: np.ndarray,
    geom_ptr: np.ndarray,
    geom_lon: np.ndarray,
    geom_lat: np.ndarray,
    node_count: int,
    ban_from: np.ndarray,
    ban_to: np.ndarray,
    costs: TurnCosts,
) -> Turns:
    """Every turn between consecutive edges, minus the banned pairs, with its cost.

    Parameters
    ----------
    edge_u, edge_v
        Edge ends (node indices).
    geom_ptr, geom_lon, geom_lat
        Flat edge geometry (WGS 84), oriented from ``u`` to ``v``.
    node_count
        Number of road nodes.
    ban_from, ban_to
        Banned turns as pairs of edge indices.
    costs
        The turn model's parameters.
    """
    u = np.asarray(edge_u, np.int64)
    v = np.asarray(edge_v, np.int64)
    e1, e2 = turn_pairs(u, v, node_count, ban_from, ban_to)
    b_start, b_end = edge_bearings_deg(geom_ptr, geom_lon, geom_lat)
    angle = turn_angles_deg(b_end[e1], b_start[e2])
    junction = node_degrees(u, v, node_count)[v[e1]] > 2
    u_turn = v[e2] == u[e1]
    turn_s = turn_costs_s(
        angle,
        junction,
        u_turn,
        turn_penalty_s=costs.turn_penalty_s,
        turn_bias=costs.turn_bias,
        u_turn_penalty_s=costs.u_turn_penalty_s,
        oncoming_turn_penalty_s=costs.oncoming_turn_penalty_s,
    )
    return Turns(turn_from=e1, turn_to=e2, turn_s=turn_s)


def connected_bans(
    edge_u: np.ndarray,
    edge_v: np.ndarray,
    node_count: int,
    ban_from: np.ndarray,
    ban_to: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, int]:
    """The banned turns minus those that would leave a road edge unable to reach, or be reached
    from, the rest of the network.

    With every turn allowed (U-turns included) the edge-expanded graph of a strongly connected
    road graph is strongly connected. Real restrictions on a clipped extract can break that: a
    ``no_u_turn`` at a street cut by the extract's border traps a vehicle there. Such bans are
    dropped (bans touching an edge outside the largest strongly connected component, repeated
    until none is left outside) so every pickup still reaches every drop-off.

    Returns
    -------
    (ban_from, ban_to, dropped)
    """
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    bf = np.asarray(ban_from, np.int64)
    bt = np.asarray(ban_to, np.int64)
    u = np.asarray(edge_u, np.int64)
    v = np.asarray(edge_v, np.int64)
    m = u.shape[0]
    total = bf.shape[0]
    while bf.shape[0]:
        e1, e2 = turn_pairs(u, v, node_count, bf, bt)
        adj = sp.csr_matrix((np.ones(e1.shape[0], np.int8), (e1, e2)), shape=(m, m))
        _, labels = connected_components(adj, directed=True, connection="strong")
        main = labels == np.bincount(labels).argmax()
        if main.all():
            break
        keep = main[bf] & main[bt]
        if keep.all():
            # no ban touches a cut-off edge: drop the bans at the nodes those edges meet
            near = np.zeros(node_count, bool)
            near[u[~main]] = True
            near[v[~main]] = True
            keep = ~near[v[bf]]
            if keep.all():
                keep[:] = False
        bf, bt = bf[keep], bt[keep]
    return bf.astype(np.int32), bt.astype(np.int32), int(total - bf.shape[0])


def expanded_graph(
    edge_u: np.ndarray,
    edge_v: np.ndarray,
    edge_time_s: np.ndarray,
    edge_length_m: np.ndarray,
    node_count: int,
    turns: Turns,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The edge-expanded graph with the source and target nodes (layout: module docstring).

    Returns
    -------
    (nodes, tail, head, cost_s, length_m)
        Arc costs are the turn plus the entered edge's time; lengths are the entered edge's.
    """
    m = int(np.asarray(edge_u).shape[0])
    n = int(node_count)
    u = np.asarray(edge_u, np.int64)
    v = np.asarray(edge_v, np.int64)
    t = np.asarray(edge_time_s, np.float64)
    d = np.asarray(edge_length_m, np.float64)
    edges = np.arange(m, dtype=np.int64)
    tail = np.concatenate((turns.turn_from, m + u, edges))
    head = np.concatenate((turns.turn_to, edges, m + n + v))
    cost = np.concatenate((turns.turn_s + t[turns.turn_to], t, np.zeros(m)))
    length = np.concatenate((d[turns.turn_to], d, np.zeros(m)))
    return m + 2 * n, tail, head, cost, length


class TurnHierarchy:
    """A contraction hierarchy of the edge-expanded graph, queried between road nodes.

    Attributes
    ----------
    hierarchy
        The hierarchy over ``m + 2n`` nodes (:mod:`routing.ch`).
    m, n
        Road edges and road nodes.
    costs
        The turn model it was built with.
    """

    def __init__(self, hierarchy: Hierarchy, m: int, n: int, costs: TurnCosts) -> None:
        self.hierarchy = hierarchy
        self.m = int(m)
        self.n = int(n)
        self.costs = costs

    @classmethod
    def build(
        cls,
        arrays: dict[str, np.ndarray],
        costs: TurnCosts,
        *,
        settle_limit: int = 100,
    ) -> TurnHierarchy:
        """Contract the edge-expanded graph of a road graph's arrays (``GRAPH_ARRAYS``)."""
        n = int(arrays["node_id"].shape[0])
        turns = allowed_turns(
            arrays["edge_u"],
            arrays["edge_v"],
            arrays["geom_ptr"],
            arrays["geom_lon"],
            arrays["geom_lat"],
            n,
            arrays["turn_ban_from"],
            arrays["turn_ban_to"],
            costs,
        )
        nx_, tail, head, cost, length = expanded_graph(
            arrays["edge_u"], arrays["edge_v"], arrays["edge_time_s"], arrays["edge_length_m"],
            n, turns,
        )  # fmt: skip
        h = Hierarchy.build(nx_, tail, head, cost, length, settle_limit=settle_limit)
        return cls(h, int(arrays["edge_u"].shape[0]), n, costs)

    def workspace(self, node_id: np.ndarray, edge_v: np.ndarray) -> Workspace:
        """Scratch space whose path labels are road node ids: an edge is labelled by its head,
        ``S_v`` and ``T_v`` by ``v`` (so a path's labels end with the target twice)."""
        labels = np.concatenate((node_id[edge_v], node_id, node_id))
        return self.hierarchy.workspace(labels)

    def table(self, orig: np.ndarray, dest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Durations (s) and metres between road nodes (``inf`` where no path obeys the
        restrictions); a node to itself is 0."""
        o = np.asarray(orig, np.int64)
        d = np.asarray(dest, np.int64)
        dur, dist = self.hierarchy.table(self.m + o, self.m + self.n + d)
        same = o[:, None] == d[None, :]
        if same.any():
            dur[same] = 0.0
            dist[same] = 0.0
        return dur, dist
