"""The travel-time model of an edge: speed, traffic signals and junctions (pure, numpy).

Free-flow speeds (:mod:`routing.speeds`) alone gave ETAs a quarter shorter than OSRM's car profile
on the same roads (median 0.73 of OSRM's durations on Porto and Heidelberg). What OSRM's car
profile (``car.lua``, osrm-backend 26) adds, and what we take from it:

* ``speed_factor`` 0.8 — OSRM's ``speed_reduction``: a ``maxspeed`` is a limit, not the speed
  actually driven; applied to every edge's free-flow speed.
* ``traffic_signal_s`` 2 s per signal passed — OSRM's ``traffic_signal_penalty`` (obstacles.lua).
* ``junction_s`` 1 s on an edge that ends at a junction (a node with more than two neighbours):
  OSRM costs a turn by its angle (a sigmoid up to 7.5 s, 20 s for a U-turn, +2 s across oncoming
  traffic). A node-based hierarchy cannot see the angle between two edges, so the mean turn cost
  per junction passed is folded into the edge; 1 s was fitted on Porto and Heidelberg against
  OSRM (``bench/routing.py`` prints the duration ratio per map). Angle-dependent turn costs and
  turn restrictions need an edge-based hierarchy: not modelled yet.

All three are fields of :class:`routing.speeds.SpeedDefaults`, so ``SOCIALTAXI_MAP_SPEEDS``
overrides them like any speed and a change gives a new graph cache entry.
"""

from __future__ import annotations

import numpy as np


def _coord_keys(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Exact-coordinate keys (1e-7 degrees, OSM's own precision) as unsigned 64-bit integers."""
    x = (np.rint(np.asarray(lon, np.float64) * 1e7).astype(np.int64) + (1 << 31)).astype(np.uint64)
    y = (np.rint(np.asarray(lat, np.float64) * 1e7).astype(np.int64) + (1 << 31)).astype(np.uint64)
    return (x << np.uint64(32)) | y


def signals_per_edge(
    geom_ptr: np.ndarray,
    geom_lon: np.ndarray,
    geom_lat: np.ndarray,
    signal_lon: np.ndarray,
    signal_lat: np.ndarray,
) -> np.ndarray:
    """How many traffic-signal nodes each edge passes (its geometry after the first point).

    Edge geometry is made of the OSM nodes' own coordinates, so a signal node on an edge is found
    by exact coordinate (OSM's 1e-7° precision). The first point is left out: a signal at the
    start node was counted on the edge that ended there.
    """
    n_edges = len(geom_ptr) - 1
    if n_edges <= 0 or len(signal_lon) == 0:
        return np.zeros(max(n_edges, 0), np.int32)
    hit = np.isin(_coord_keys(geom_lon, geom_lat), _coord_keys(signal_lon, signal_lat))
    hit[geom_ptr[:-1]] = False
    return np.add.reduceat(hit.astype(np.int32), geom_ptr[:-1]).astype(np.int32)


def junction_heads(edge_u: np.ndarray, edge_v: np.ndarray, node_count: int) -> np.ndarray:
    """Per edge, whether its end node is a junction (more than two distinct neighbours)."""
    if len(edge_u) == 0:
        return np.zeros(0, bool)
    a = np.minimum(edge_u, edge_v).astype(np.int64)
    b = np.maximum(edge_u, edge_v).astype(np.int64)
    pairs = np.unique(a * node_count + b)
    deg = np.bincount(pairs // node_count, minlength=node_count) + np.bincount(
        pairs % node_count, minlength=node_count
    )
    return deg[np.asarray(edge_v, np.int64)] > 2


def edge_times_s(
    length_m: np.ndarray,
    speed_kmh: np.ndarray,
    signals: np.ndarray,
    junction_head: np.ndarray,
    *,
    speed_factor: float,
    traffic_signal_s: float,
    junction_s: float,
) -> np.ndarray:
    """Travel time of each edge in seconds: driven length at ``speed_factor`` × free-flow speed,
    plus the delays of its signals and of the junction it ends at. Lengths under 0.1 m count as
    0.1 m, so every edge costs something."""
    drive = np.maximum(np.asarray(length_m, np.float64), 0.1) / (
        np.asarray(speed_kmh, np.float64) * speed_factor / 3.6
    )
    return drive + traffic_signal_s * np.asarray(signals) + junction_s * np.asarray(junction_head)
