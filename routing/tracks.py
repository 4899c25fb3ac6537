"""Seeded synthetic GPS tracks along routes of a road graph (pure; benchmarks and tests).

A vehicle drives a given edge sequence at a per-edge speed (a share of the edge's free-flow
speed), a fix is taken every ``interval_s`` and Gaussian noise of ``sigma_m`` per axis is added
in UTM. The true path and its length are known, so a matcher can be scored against them.
(``simulators/`` drives a whole fleet with events; this is the small helper a matcher bench
needs on its own.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from routing.graph import RoadGraph


@dataclass(frozen=True, eq=False)
class SyntheticTrack:
    """Fixes (WGS 84 degrees, seconds) along ``edges``; ``length_m`` is the driven length,
    ``along_m`` the true distance driven at each fix (metres from the start)."""

    lat: np.ndarray
    lon: np.ndarray
    t_s: np.ndarray
    edges: np.ndarray
    length_m: float
    along_m: np.ndarray


def random_route(
    graph: RoadGraph, rng: np.random.Generator, *, min_length_m: float, max_legs: int = 50
) -> np.ndarray:
    """Edge indices of fastest routes chained through random nodes until ``min_length_m``.

    A leg that starts by turning back along the previous leg's last edge would make the
    vehicle drive into a street and straight out again at the waypoint; such out-and-back
    pairs are cancelled (a taxi passes through its waypoints), so the result has no U-turn.
    """
    h = graph.hierarchy
    ws = h.workspace()
    u, v, length = graph.edge_u, graph.edge_v, graph.edge_length_m
    node = int(rng.integers(graph.node_count))
    stack: list[int] = []
    total = 0.0
    for _ in range(max_legs):
        nxt = int(rng.integers(graph.node_count))
        res = h.path(node, nxt, ws)
        if res is None or res.edges.size == 0:
            continue
        node = nxt
        for e in res.edges.tolist():  # per edge, not per fix: a few thousand
            if stack and u[e] == v[stack[-1]] and v[e] == u[stack[-1]]:
                total -= length[stack.pop()]
            else:
                stack.append(e)
                total += length[e]
        if total >= min_length_m:
            break
    return np.asarray(stack, np.int64)


def drive(
    graph: RoadGraph,
    edges: np.ndarray,
    rng: np.random.Generator,
    *,
    interval_s: float = 1.0,
    sigma_m: float = 5.0,
    speed_share: tuple[float, float] = (0.6, 0.9),
    start_s: float = 0.0,
    correlation_s: float = 0.0,
) -> SyntheticTrack:
    """Fixes of a vehicle driving ``edges`` (consecutive, ``v`` of one is ``u`` of the next).

    Parameters
    ----------
    interval_s
        Seconds between fixes.
    sigma_m
        GPS error, metres (standard deviation per axis, UTM).
    speed_share
        Per-edge speed drawn uniformly between these shares of the free-flow speed.
    correlation_s
        0: white noise (independent per fix, the hardest case at 1 Hz). Otherwise the error is
        a first-order Gauss-Markov process with this time constant, as a real receiver's is:
        ``e[i] = rho e[i-1] + sqrt(1 - rho^2) N(0, sigma)``, ``rho = exp(-dt / correlation_s)``.
    """
    edges = np.asarray(edges, np.int64)
    tr, _, lines, _ = graph._snapper()
    coords = [shapely.get_coordinates(lines[e]) for e in edges]  # one array per edge
    lens = [np.hypot(*np.diff(c, axis=0).T) for c in coords]
    speed = graph.edge_speed_kmh[edges] / 3.6 * rng.uniform(*speed_share, edges.shape[0])
    scale = graph.edge_length_m[edges] / np.maximum([seg.sum() for seg in lens], 1e-9)
    # time at every vertex: each segment's true length over the edge's speed
    xy = np.concatenate([c[1:] if k else c for k, c in enumerate(coords)])
    seg_m = np.concatenate([seg * s for seg, s in zip(lens, scale, strict=True)])
    seg_t = np.concatenate([seg * s / v for seg, s, v in zip(lens, scale, speed, strict=True)])
    vt = np.concatenate(([0.0], np.cumsum(seg_t)))
    vm = np.concatenate(([0.0], np.cumsum(seg_m)))
    t = np.arange(0.0, vt[-1], interval_s)
    if vt[-1] - t[-1] > 1e-6:
        t = np.append(t, vt[-1])  # the last fix where the trip ends
    noise = np.column_stack(
        (rng.normal(0.0, sigma_m, t.shape[0]), rng.normal(0.0, sigma_m, t.shape[0]))
    )
    if correlation_s > 0 and t.shape[0] > 1:
        rho = np.exp(-np.diff(t) / correlation_s)
        # the AR(1) recursion runs per fix (a plain loop, test/bench data only)
        gain = np.sqrt(1.0 - rho * rho)
        for i in range(1, t.shape[0]):
            noise[i] = rho[i - 1] * noise[i - 1] + gain[i - 1] * noise[i]
    x = np.interp(t, vt, xy[:, 0]) + noise[:, 0]
    y = np.interp(t, vt, xy[:, 1]) + noise[:, 1]
    lon, lat = tr.transform(x, y, direction="INVERSE")
    return SyntheticTrack(
        lat=np.asarray(lat),
        lon=np.asarray(lon),
        t_s=t + start_s,
        edges=edges,
        length_m=float(graph.edge_length_m[edges].sum()),
        along_m=np.interp(t, vt, vm),
    )
