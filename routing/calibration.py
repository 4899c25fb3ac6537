"""Speed profiles calibrated from the fleet's own matched tracks (pure: numpy, shapely).

A **speed profile** says how fast the fleet really drives, per road class and per edge (where
there is enough data), by hour of the week (``0`` = Monday 00:00–01:00 local time, ``167`` =
Sunday 23:00), with an all-hours value for each as the fallback. It is built in three steps:

1. :func:`traversals` — one map-matched track (:func:`routing.matching.match_track`) becomes
   edge traversals: for every edge of a matched piece that the fixes cover from its start to
   its end, the time the vehicle took over it. The fixes' matched points are placed along the
   piece (their offset on their edge + the length of the piece's edges before it); the times
   at which the vehicle passes every node of the piece are interpolated between the two fixes
   around it, and an edge's time is the difference between its two nodes' times. Consecutive
   edges share their node times, so an interpolation error at a node moves time from one edge
   to the next and cancels in any sum over a route. Time spent standing at a signal or in a
   queue is part of the edge it happens on — that is what an ETA has to include.
2. :func:`calibrate` — traversals are pooled into buckets: (edge, hour), (edge, all hours),
   (class, hour), (class, all hours). A bucket is kept when it has at least ``min_count``
   traversals. Its speed is total length over total time (the speed at which the bucket's
   kilometres were actually driven — what an ETA sums), beside the model's speed over the same
   traversals (``base_speed_kmh``: total length over total default edge time).
3. :func:`edge_times` / :func:`apply_profile` — the edge times of one hour (or of all hours):
   an edge's own (edge, hour) speed if kept; else its (edge, all hours) speed scaled by its
   class's hour factor (class hour speed / class all-hours speed; 1 when that hour is not
   kept); else its default time scaled by the class's observed/model ratio for that hour, then
   for all hours; else the default time unchanged. Scaling the *default* time by a class ratio
   keeps the differences between edges of one class (their speed limits) that the model knows.

Edges are keyed by the OSM ids of their end nodes, so a profile survives a rebuild of the graph
cache (internal indices do not). No road-class names are invented here: they are the graph's
``edge_class`` values (OSM ``highway``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from routing.graph import RoadGraph
from routing.matching import MatchedTrack

__all__ = [
    "HOURS_PER_WEEK",
    "ALL_HOURS",
    "Traversals",
    "SpeedProfile",
    "hour_of_week",
    "traversals",
    "concat",
    "calibrate",
    "edge_times",
    "apply_profile",
]

HOURS_PER_WEEK = 168
ALL_HOURS = -1
"""``hour_of_week`` of an all-hours bucket."""

_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


def hour_of_week(t_s: np.ndarray, *, utc_offset_s: float) -> np.ndarray:
    """Hour of the week (0 = Monday 00:00 local) of Unix times ``t_s`` (seconds, UTC).

    ``utc_offset_s``: local time minus UTC, seconds (Europe/Moscow: 10,800, no DST since 2014).
    """
    local_h = np.floor((np.asarray(t_s, dtype=float) + utc_offset_s) / 3600.0).astype(np.int64)
    day = np.floor_divide(local_h, 24)
    return (((day + _EPOCH_WEEKDAY) % 7) * 24 + local_h % 24).astype(np.int16)


@dataclass(frozen=True, eq=False)
class Traversals:
    """Observed edge traversals: graph edge index, hour of the week it was entered, seconds."""

    edge: np.ndarray
    hour: np.ndarray
    time_s: np.ndarray

    def __len__(self) -> int:
        return int(self.edge.shape[0])


def _empty() -> Traversals:
    return Traversals(np.empty(0, np.int64), np.empty(0, np.int16), np.empty(0, float))


def concat(parts: Sequence[Traversals]) -> Traversals:
    """All traversals of several tracks as one."""
    if not parts:
        return _empty()
    return Traversals(
        np.concatenate([p.edge for p in parts]).astype(np.int64),
        np.concatenate([p.hour for p in parts]).astype(np.int16),
        np.concatenate([p.time_s for p in parts]).astype(float),
    )


def traversals(
    graph: RoadGraph,
    track: MatchedTrack,
    t_s: np.ndarray,
    *,
    utc_offset_s: float,
    max_speed_kmh: float = 200.0,
) -> Traversals:
    """The fully observed edge traversals of one matched track (see the module docstring).

    Parameters
    ----------
    track
        The matched track of the fixes whose Unix times (seconds) are ``t_s``.
    utc_offset_s
        Local time minus UTC, seconds, for the hour of the week.
    max_speed_kmh
        Traversals implying a higher speed are dropped (a matching glitch, not a drive).
    """
    t_s = np.asarray(t_s, dtype=float)
    matched = np.flatnonzero(track.fix_edge >= 0)
    if matched.size < 2:
        return _empty()
    tr, _, lines, _ = graph._snapper()  # the graph's own UTM polylines (shared with snapping)
    fe = track.fix_edge[matched]
    x, y = tr.transform(track.fix_lon[matched], track.fix_lat[matched])
    # offset of each matched point along its edge, in edge_length_m units (the polyline in UTM
    # differs from the stored length by the projection's scale)
    along = shapely.line_locate_point(lines[fe], shapely.points(x, y))
    geo_len = np.maximum(shapely.length(lines[fe]), 1e-9)
    offset = along * (graph.edge_length_m[fe] / geo_len)
    parts: list[Traversals] = []
    for p, edges in enumerate(track.piece_edges):  # per piece: a handful per track
        sel = track.fix_piece[matched] == p
        if np.count_nonzero(sel) < 2 or edges.size == 0:
            continue
        edges = np.asarray(edges, np.int64)
        starts = np.concatenate(([0.0], np.cumsum(graph.edge_length_m[edges], dtype=float)))
        # position of each fix's edge in the piece: its first occurrence (stable sort)
        order = np.argsort(edges, kind="stable")
        k = np.searchsorted(edges[order], fe[sel])
        k = np.minimum(k, edges.size - 1)
        ok = edges[order][k] == fe[sel]
        pos = order[k]
        s = starts[pos] + offset[sel]
        t = t_s[matched][sel]
        # a fix on a repeated edge (a loop) or a step back (noise) does not move the vehicle
        # back: keep the fixes that advance along the piece
        keep = ok & (s >= np.maximum.accumulate(np.where(ok, s, -np.inf)))
        s, t = s[keep], t[keep]
        if s.size < 2:
            continue
        # time at each node of the piece: between the last fix before it and the first at/after
        j = np.searchsorted(s, starts, side="left")
        inside = (j >= 1) & (j < s.size)
        jj = np.clip(j, 1, s.size - 1)
        ds = s[jj] - s[jj - 1]
        frac = np.where(ds > 0, (starts - s[jj - 1]) / np.where(ds > 0, ds, 1.0), 0.0)
        node_t = t[jj - 1] + frac * (t[jj] - t[jj - 1])
        full = inside[:-1] & inside[1:]
        time_s = node_t[1:] - node_t[:-1]
        length_m = graph.edge_length_m[edges]
        good = full & (time_s > 0) & (length_m / np.maximum(time_s, 1e-9) * 3.6 <= max_speed_kmh)
        parts.append(
            Traversals(
                edges[good],
                hour_of_week(node_t[:-1][good], utc_offset_s=utc_offset_s),
                time_s[good],
            )
        )
    return concat(parts)


@dataclass(frozen=True, eq=False)
class SpeedProfile:
    """Observed speeds (see the module docstring); rows of two tables.

    Class rows: ``class_name``, ``class_hour`` (``ALL_HOURS`` = all), ``class_n`` traversals,
    ``class_speed_kmh`` observed, ``class_base_kmh`` the model's over the same traversals.
    Edge rows: ``edge_u``/``edge_v`` OSM node ids, ``edge_hour``, ``edge_n``,
    ``edge_speed_kmh``, ``edge_base_kmh``. ``version``: the stored profile's number (``None``
    before it is stored); ``meta``: provenance (period, map digest, counts, ``min_count``).
    """

    class_name: np.ndarray
    class_hour: np.ndarray
    class_n: np.ndarray
    class_speed_kmh: np.ndarray
    class_base_kmh: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_hour: np.ndarray
    edge_n: np.ndarray
    edge_speed_kmh: np.ndarray
    edge_base_kmh: np.ndarray
    min_count: int
    version: int | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def class_table(self) -> list[tuple[str, int, int, float, float]]:
        """Class rows as (class, hour, n, speed_kmh, base_kmh), all-hours rows first."""
        rows = zip(
            self.class_name.tolist(),
            self.class_hour.tolist(),
            self.class_n.tolist(),
            self.class_speed_kmh.tolist(),
            self.class_base_kmh.tolist(),
            strict=True,
        )
        return sorted(rows, key=lambda r: (r[1] != ALL_HOURS, r[0], r[1]))


def _pool(
    key: np.ndarray, length_m: np.ndarray, time_s: np.ndarray, base_s: np.ndarray, min_count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Unique keys with at least ``min_count`` rows: (keys, n, speed_kmh, base_kmh)."""
    uniq, inv, n = np.unique(key, return_inverse=True, return_counts=True)
    sum_l = np.bincount(inv, weights=length_m)
    sum_t = np.bincount(inv, weights=time_s)
    sum_b = np.bincount(inv, weights=base_s)
    # A bucket of zero-length edges has no speed to learn (0 km/h would break the profile).
    ok = (n >= min_count) & (sum_t > 0) & (sum_b > 0) & (sum_l > 0)
    return (
        uniq[ok],
        n[ok],
        (sum_l / np.where(ok, sum_t, 1.0) * 3.6)[ok],
        (sum_l / np.where(ok, sum_b, 1.0) * 3.6)[ok],
    )


def calibrate(
    graph: RoadGraph,
    obs: Traversals,
    *,
    min_count: int,
    meta: Mapping[str, Any] | None = None,
) -> SpeedProfile:
    """Pool traversals into class and edge buckets by hour and for all hours (module docstring).

    ``min_count``: traversals a bucket needs to be kept (the settings' or the command's value).
    """
    if min_count < 1:
        raise ValueError("min_count must be at least 1")
    e = obs.edge.astype(np.int64)
    length = graph.edge_length_m[e].astype(float)
    base = graph.edge_time_s[e].astype(float)
    t = obs.time_s.astype(float)
    hours = obs.hour.astype(np.int64)
    classes, cls = np.unique(graph.edge_class, return_inverse=True)
    c = cls[e]
    H = HOURS_PER_WEEK + 1  # slot 0 = all hours, 1 + h = hour h

    def split(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return k // H, (k % H) - 1

    def both(ids: np.ndarray) -> tuple[np.ndarray, ...]:
        key = np.concatenate([ids * H, ids * H + 1 + hours])
        rep = (np.tile(length, 2), np.tile(t, 2), np.tile(base, 2))
        uk, n, sp, bs = _pool(key, *rep, min_count=min_count)
        i, h = split(uk)
        return i, h, n, sp, bs

    ci, ch, cn, csp, cbs = both(c.astype(np.int64))
    ei, eh, en, esp, ebs = both(e)
    nid = graph.node_id
    return SpeedProfile(
        class_name=classes[ci].astype(str),
        class_hour=ch.astype(np.int16),
        class_n=cn.astype(np.int64),
        class_speed_kmh=csp,
        class_base_kmh=cbs,
        edge_u=nid[graph.edge_u[ei]].astype(np.int64),
        edge_v=nid[graph.edge_v[ei]].astype(np.int64),
        edge_hour=eh.astype(np.int16),
        edge_n=en.astype(np.int64),
        edge_speed_kmh=esp,
        edge_base_kmh=ebs,
        min_count=int(min_count),
        meta=dict(meta or {}, traversals=len(obs)),
    )


def _edge_rows(graph: RoadGraph, profile: SpeedProfile, hour: int) -> dict[int, float]:
    """Graph edge index → observed speed (km/h) of the profile's edge rows of ``hour``."""
    sel = profile.edge_hour == hour
    if not np.any(sel):
        return {}
    nid = graph.node_id
    index = {
        (int(a), int(b)): i
        for i, (a, b) in enumerate(
            zip(nid[graph.edge_u].tolist(), nid[graph.edge_v].tolist(), strict=True)
        )
    }
    out: dict[int, float] = {}
    for u, v, sp in zip(
        profile.edge_u[sel].tolist(),
        profile.edge_v[sel].tolist(),
        profile.edge_speed_kmh[sel].tolist(),
        strict=True,
    ):
        i = index.get((u, v))
        if i is not None:
            out[i] = sp
    return out


def edge_times(graph: RoadGraph, profile: SpeedProfile, *, hour: int | None = None) -> np.ndarray:
    """Edge travel times (s) under ``profile`` at hour of the week ``hour`` (``None``: all
    hours), with the fallbacks of the module docstring; the default time where nothing is
    known."""
    if hour is not None and not 0 <= hour < HOURS_PER_WEEK:
        raise ValueError(f"hour of the week must be 0..167, got {hour}")
    h = ALL_HOURS if hour is None else int(hour)
    base = graph.edge_time_s.astype(float)
    length = graph.edge_length_m.astype(float)
    classes, cls = np.unique(graph.edge_class, return_inverse=True)
    cidx = {name: i for i, name in enumerate(classes.tolist())}

    def class_ratio(hh: int) -> np.ndarray:
        """Per class: observed time / model time at ``hh`` (NaN when not kept)."""
        r = np.full(classes.shape[0], np.nan)
        sel = profile.class_hour == hh
        for name, sp, bs in zip(
            profile.class_name[sel].tolist(),
            profile.class_speed_kmh[sel].tolist(),
            profile.class_base_kmh[sel].tolist(),
            strict=True,
        ):
            if name in cidx:
                r[cidx[name]] = bs / sp
        return r

    r_all = class_ratio(ALL_HOURS)
    r_h = class_ratio(h) if h != ALL_HOURS else r_all
    # class hour factor relative to all hours (1 when either is missing)
    hour_factor = np.where(np.isfinite(r_h) & np.isfinite(r_all), r_h / r_all, 1.0)
    ratio = np.where(np.isfinite(r_h), r_h, r_all)
    out = np.where(np.isfinite(ratio[cls]), base * ratio[cls], base)
    # edge rows: all hours scaled by the class's hour factor, then the hour's own rows
    for i, sp in _edge_rows(graph, profile, ALL_HOURS).items():
        out[i] = length[i] / (sp / 3.6) * hour_factor[cls[i]]
    if h != ALL_HOURS:
        for i, sp in _edge_rows(graph, profile, h).items():
            out[i] = length[i] / (sp / 3.6)
    return out


def apply_profile(graph: RoadGraph, profile: SpeedProfile, *, hour: int | None = None) -> RoadGraph:
    """A routable copy of ``graph`` whose edge times come from ``profile`` at
    ``hour`` (:func:`edge_times`); the hierarchy is contracted again on them."""
    times = edge_times(graph, profile, hour=hour)
    arrays = graph.arrays()
    # only the times change: ``edge_speed_kmh`` stays the tagged free-flow speed it is elsewhere
    arrays["edge_time_s"] = times.astype(graph.edge_time_s.dtype)
    meta = dict(graph.meta, speed_profile=profile.version, speed_profile_hour=hour)
    return RoadGraph.from_arrays(arrays, meta, keep_largest_scc=False)
