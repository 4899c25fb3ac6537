"""The travel-time model: edge speed, traffic signals, junctions and turns (pure, numpy).

Free-flow speeds (:mod:`routing.speeds`) alone gave ETAs a quarter shorter than OSRM's car profile
on the same roads (median 0.73 of OSRM's durations on Porto and Heidelberg). What OSRM's car
profile (``car.lua``, osrm-backend 26) adds, and what we take from it:

* ``speed_factor`` 0.8 — OSRM's ``speed_reduction``: a ``maxspeed`` is a limit, not the speed
  actually driven; applied to every edge's free-flow speed.
* ``traffic_signal_s`` 2 s per signal passed — OSRM's ``traffic_signal_penalty`` (obstacles.lua).
* ``junction_s`` on an edge that ends at a junction (a node with more than two neighbours): a
  flat delay per junction passed, the only turn cost a node-based hierarchy can carry. With the
  turn-aware (edge-based) hierarchy the angle-based turn cost below does that work, and
  ``junction_s`` was recalibrated against OSRM (``bench/routing.py`` prints the duration ratio
  per map).
* turn costs (:func:`turn_costs_s`) — OSRM's ``process_turn`` in ``car.lua`` (osrm-backend 26):
  at a junction (more than two roads) or a U-turn, ``turn_penalty / (1 + exp(-(13 / bias ×
  angle / 180 - 6.5 × bias)))`` for a right turn (angle > 0) and ``turn_penalty / (1 + exp(-(13
  × bias × |angle| / 180 - 6.5 / bias)))`` for a left one, with ``turn_penalty`` 7.5 s and
  ``turn_bias`` 1.075 (right-hand traffic: lefts cost more), plus ``u_turn_penalty`` 20 s for a
  U-turn, plus ``oncoming_turn_penalty`` 2 s × ``1 / (1 + exp(-(13 × |angle| / 180 - 3.25)))``
  for a left turn at a junction (across oncoming traffic; OSRM also exempts roundabouts, which we
  do not tell apart). The angle is the change of bearing between the last segment of the
  incoming edge and the first of the outgoing one (0 = straight on, positive = to the right), as
  in OSRM.

All figures are fields of :class:`routing.speeds.SpeedDefaults`, so ``SOCIALTAXI_MAP_SPEEDS``
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


def node_degrees(edge_u: np.ndarray, edge_v: np.ndarray, node_count: int) -> np.ndarray:
    """Per node, how many distinct neighbours it has (either direction): the number of roads
    that meet there (OSRM's ``number_of_roads``)."""
    if len(edge_u) == 0:
        return np.zeros(node_count, np.int64)
    a = np.minimum(edge_u, edge_v).astype(np.int64)
    b = np.maximum(edge_u, edge_v).astype(np.int64)
    pairs = np.unique(a * node_count + b)
    return np.bincount(pairs // node_count, minlength=node_count) + np.bincount(
        pairs % node_count, minlength=node_count
    )


def junction_heads(edge_u: np.ndarray, edge_v: np.ndarray, node_count: int) -> np.ndarray:
    """Per edge, whether its end node is a junction (more than two distinct neighbours)."""
    if len(edge_u) == 0:
        return np.zeros(0, bool)
    return node_degrees(edge_u, edge_v, node_count)[np.asarray(edge_v, np.int64)] > 2


def edge_bearings_deg(
    geom_ptr: np.ndarray, geom_lon: np.ndarray, geom_lat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bearing (degrees clockwise from north) of each edge's first and last segment.

    Computed on a local equirectangular projection (longitude scaled by cos latitude): exact
    enough for the angle between two segments that meet at a node.
    """
    start = np.asarray(geom_ptr[:-1], np.int64)
    end = np.asarray(geom_ptr[1:], np.int64) - 1
    lon = np.asarray(geom_lon, np.float64)
    lat = np.asarray(geom_lat, np.float64)

    def bearing(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        dx = (lon[j] - lon[i]) * np.cos(np.radians(0.5 * (lat[i] + lat[j])))
        dy = lat[j] - lat[i]
        return np.degrees(np.arctan2(dx, dy))

    return bearing(start, start + 1), bearing(end - 1, end)


def turn_angles_deg(bearing_in_deg: np.ndarray, bearing_out_deg: np.ndarray) -> np.ndarray:
    """Turn angle from an incoming to an outgoing bearing, in (-180, 180]: 0 straight on,
    positive to the right, negative to the left (OSRM's ``turn.angle``)."""
    a = np.mod(np.asarray(bearing_out_deg) - np.asarray(bearing_in_deg), 360.0)
    return np.where(a > 180.0, a - 360.0, a)


def turn_costs_s(
    angle_deg: np.ndarray,
    at_junction: np.ndarray,
    u_turn: np.ndarray,
    *,
    turn_penalty_s: float,
    turn_bias: float,
    u_turn_penalty_s: float,
    oncoming_turn_penalty_s: float = 0.0,
) -> np.ndarray:
    """Seconds a turn costs, OSRM ``car.lua`` ``process_turn`` (see the module docstring).

    Parameters
    ----------
    angle_deg
        Turn angles (:func:`turn_angles_deg`).
    at_junction
        Whether the turn is at a node where more than two roads meet; elsewhere only a U-turn
        costs anything (as in OSRM).
    u_turn
        Whether the turn goes back along the road it came by.
    turn_penalty_s, turn_bias, u_turn_penalty_s, oncoming_turn_penalty_s
        OSRM's ``turn_penalty`` (7.5), ``turn_bias`` (1.075, > 1 makes lefts dearer:
        right-hand traffic), ``u_turn_penalty`` (20) and ``oncoming_turn_penalty`` (2).
    """
    a = np.asarray(angle_deg, np.float64)
    right = turn_penalty_s / (1.0 + np.exp(-((13.0 / turn_bias) * a / 180.0 - 6.5 * turn_bias)))
    left = turn_penalty_s / (1.0 + np.exp(-((13.0 * turn_bias) * -a / 180.0 - 6.5 / turn_bias)))
    u = np.asarray(u_turn, bool)
    junction = np.asarray(at_junction, bool)
    sharpness = 1.0 / (1.0 + np.exp(-(13.0 * np.abs(a) / 180.0 - 3.25)))
    oncoming = oncoming_turn_penalty_s * sharpness * ((a < 0.0) & junction & ~u)
    cost = np.where(a >= 0.0, right, left) + u_turn_penalty_s * u + oncoming
    return np.where(junction | u, cost, 0.0)


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
