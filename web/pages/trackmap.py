"""A trip's track shaped for the finding page's map and replay (pure: numpy in, JSON-able out).

The raw track is every cleaned fix from setting off to completion with its time (seconds after
the first fix) and a speed; the matched track is the audit matcher's road geometry, split into
polylines at its breaks. Coordinates are ``[lat, lon]`` (Leaflet's order), WGS 84 degrees.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SPEED_WINDOW_S = 6.0  # speed over the fixes within ±3 s: 1 Hz fixes with 5 m noise are too jumpy


def speeds_kmh(
    t_s: np.ndarray, x_m: np.ndarray, y_m: np.ndarray, *, window_s: float = SPEED_WINDOW_S
) -> np.ndarray:
    """Speed at each fix, km/h: the path length along the fixes within ``±window_s / 2`` of it
    divided by their time span (metric coordinates, e.g. UTM metres). NaN where the window
    holds a single fix (nothing to measure over)."""
    n = t_s.shape[0]
    if n < 2:
        return np.full(n, np.nan)
    cum = np.concatenate(([0.0], np.cumsum(np.hypot(np.diff(x_m), np.diff(y_m)))))
    lo = np.searchsorted(t_s, t_s - window_s / 2, side="left")
    hi = np.searchsorted(t_s, t_s + window_s / 2, side="right") - 1
    # widen a window holding one fix to its neighbours (sparse fixes)
    lo = np.where(hi == lo, np.maximum(lo - 1, 0), lo)
    hi = np.where(hi == lo, np.minimum(hi + 1, n - 1), hi)
    dt = t_s[hi] - t_s[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        v = (cum[hi] - cum[lo]) / dt * 3.6
    return np.where(dt > 0, v, np.nan)


def polylines(lat: np.ndarray, lon: np.ndarray) -> list[list[list[float]]]:
    """Split a NaN-separated line into polylines of at least two points, ``[[lat, lon], …]``."""
    ok = np.isfinite(lat) & np.isfinite(lon)
    if not ok.any():
        return []
    pts = np.round(np.column_stack((lat, lon)), 6)
    edges = np.diff(np.concatenate(([0], ok.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [pts[a:b].tolist() for a, b in zip(starts, ends, strict=True) if b - a >= 2]


def _rel(t: float | None, t0: float) -> float | None:
    return None if t is None else round(t - t0, 1)


def track_json(track: Any) -> dict[str, Any]:
    """The page's ``track`` object from an :class:`audit.service_track.TripTrack`:
    ``t0`` (epoch s of the first fix), ``raw`` (``t`` seconds after ``t0``, ``lat``, ``lon``,
    ``speed_kmh`` or null), the trip's moments after ``t0``, ``matched`` parts (``part``,
    ``lines``, ``length_m``, ``points``) and ``notes`` (Russian)."""
    t = np.asarray(track.t_s, float)
    t0 = float(t[0]) if t.size else 0.0
    v = speeds_kmh(t, np.asarray(track.x_m, float), np.asarray(track.y_m, float))
    speed = np.where(np.isfinite(v), np.round(v), np.array(None)).tolist()
    matched = []
    for p in track.matched:
        lines = polylines(p.lat, p.lon)
        matched.append(
            {
                "part": p.part,
                "lines": lines,
                "length_m": round(p.length_m, 1),
                "points": sum(len(line) for line in lines),
                "fixes": p.fixes,
                "matched_fixes": p.matched_fixes,
            }
        )
    return {
        "t0": t0,
        "raw": {
            "t": np.round(t - t0, 1).tolist(),
            "lat": np.round(np.asarray(track.lat, float), 6).tolist(),
            "lon": np.round(np.asarray(track.lon, float), 6).tolist(),
            "speed_kmh": speed,
        },
        "start": _rel(track.start_s, t0),
        "board": _rel(track.board_s, t0),
        "end": _rel(track.end_s, t0),
        "matched": matched,
        "notes": list(track.notes),
    }
