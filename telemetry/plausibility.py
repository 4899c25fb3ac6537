"""Physical plausibility of GPS fixes: implied speed between consecutive fixes of a vehicle.

Vectorised with numpy over whole batches (no Python loop over points). Distances are great-circle
metres on the WGS 84 mean sphere (the haversine formula), which is well within a metre per
kilometre of the ellipsoidal distance: plenty to tell 200 km/h from a teleport.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

EARTH_RADIUS_M = 6_371_008.8


def haversine_m(
    lat1: NDArray[np.float64],
    lon1: NDArray[np.float64],
    lat2: NDArray[np.float64],
    lon2: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Great-circle distance in metres between points given in WGS 84 degrees.

    The project's one haversine (``routing.synthetic`` uses ``osmnx.distance.great_circle``, the
    same formula, with this radius). Written here because importing osmnx would cost the ingest
    process ~1.7 s and ~100 MB for six lines of numpy."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def implausible_jumps(
    vehicle: NDArray[np.int64],
    t_s: NDArray[np.float64],
    lat: NDArray[np.float64],
    lon: NDArray[np.float64],
    *,
    max_speed_kmh: float,
    anchor: NDArray[np.bool_] | None = None,
) -> NDArray[np.bool_]:
    """Which fixes arrive by a jump faster than ``max_speed_kmh`` from the fix before them.

    Fixes are compared with their neighbours *in time* per vehicle (input order does not matter,
    so late and out-of-order fixes are judged where they belong). A single outlier ("spike": too
    fast both in and out) is flagged, and the fix after it is judged against the fix before the
    spike instead, so one glitch does not condemn the good fix that follows it.

    Parameters
    ----------
    vehicle, t_s, lat, lon
        Equal-length arrays: vehicle id, time (epoch seconds), WGS 84 degrees.
    max_speed_kmh
        The highest believable speed.
    anchor
        Rows that are earlier, already accepted fixes (e.g. the last known position) given only
        as context; they are never flagged.

    Returns
    -------
    Boolean array aligned with the input: ``True`` for an implausible fix.
    """
    n = len(vehicle)
    out = np.zeros(n, dtype=bool)
    if n < 2:
        return out
    order = np.lexsort((t_s, vehicle))
    v, t, la, lo = vehicle[order], t_s[order], lat[order], lon[order]
    max_mps = max_speed_kmh / 3.6

    def too_fast(i: NDArray[np.intp], j: NDArray[np.intp]) -> NDArray[np.bool_]:
        dt = t[j] - t[i]
        dist = haversine_m(la[i], lo[i], la[j], lo[j])
        with np.errstate(divide="ignore", invalid="ignore"):
            return (v[i] == v[j]) & (dt > 0) & (dist > max_mps * dt)

    idx = np.arange(n)
    fast = too_fast(idx[:-1], idx[1:])  # jump k -> k+1
    in_fast = np.concatenate(([False], fast))
    out_fast = np.concatenate((fast, [False]))
    spike = in_fast & out_fast
    prev_spike = np.concatenate(([False], spike[:-1]))
    # For a fix right after a spike, judge the jump from the fix before the spike instead.
    skip_ok = np.zeros(n, dtype=bool)
    cand = np.nonzero(prev_spike)[0]
    cand = cand[cand >= 2]
    skip_ok[cand] = ~too_fast(cand - 2, cand)
    flagged_sorted = in_fast & ~(prev_spike & skip_ok)
    out[order] = flagged_sorted
    if anchor is not None:
        out &= ~anchor
    return out
