"""Seeded synthetic road networks for benchmarks and tests (pure, no I/O).

No regional-size OSM extract is available offline, so benchmarks use a perturbed grid that
looks like a road network to a router: jittered junctions, missing links, arterial roads every
few blocks with higher speeds, one-way residential streets and speeds varying per edge.
"""

from __future__ import annotations

import numpy as np

from routing.speeds import SpeedDefaults

#: the WGS 84 mean radius, as ``telemetry.plausibility`` uses it (osmnx's default is 6,371,009)
EARTH_RADIUS_M = 6_371_008.8


def grid_network(
    side: int,
    *,
    seed: int = 42,
    spacing_m: float = 150.0,
    origin: tuple[float, float] = (59.30, 29.60),
    keep_prob: float = 0.92,
    oneway_prob: float = 0.2,
    speeds: SpeedDefaults | None = None,
) -> dict[str, np.ndarray]:
    """Arrays (as :func:`routing.graph.arrays_from_osmnx` returns) of a perturbed grid.

    Parameters
    ----------
    side
        Junctions per row and column (``side**2`` nodes before pruning).
    seed
        Seed of every random choice.
    spacing_m
        Mean block size, metres.
    origin
        (lat, lon) of the south-west corner (default: south of Gatchina).
    keep_prob
        Probability that a grid link exists.
    oneway_prob
        Probability that a residential link is one-way.
    speeds
        Class speeds; each edge gets its class speed times a factor in [0.8, 1.1].
    """
    d = speeds or SpeedDefaults()
    rng = np.random.default_rng(seed)
    lat0, lon0 = origin
    dlat = spacing_m / 111_195.0
    dlon = dlat / np.cos(np.radians(lat0))
    r, c = np.divmod(np.arange(side * side), side)
    lat = lat0 + (r + rng.uniform(-0.25, 0.25, r.size)) * dlat
    lon = lon0 + (c + rng.uniform(-0.25, 0.25, c.size)) * dlon

    idx = np.arange(side * side).reshape(side, side)
    horiz = np.column_stack((idx[:, :-1].ravel(), idx[:, 1:].ravel()))
    vert = np.column_stack((idx[:-1, :].ravel(), idx[1:, :].ravel()))
    # the row (for horizontal links) or column (vertical) decides the road class
    h_line = np.repeat(np.arange(side), side - 1)
    v_line = np.tile(np.arange(side), side - 1)
    pairs = np.vstack((horiz, vert))
    line = np.concatenate((h_line, v_line))
    cls = np.full(pairs.shape[0], "residential", dtype="U24")
    cls[line % 4 == 0] = "secondary"
    cls[line % 16 == 0] = "primary"
    cls[line % 64 == 0] = "trunk"
    main = cls != "residential"
    keep = main | (rng.random(pairs.shape[0]) < keep_prob)
    pairs, cls, main = pairs[keep], cls[keep], main[keep]

    base_kmh = np.select(
        [cls == "trunk", cls == "primary", cls == "secondary"],
        [d.rural_kmh, d.rural_kmh * 0.8, d.urban_kmh],
        default=d.class_kmh.get("residential", d.urban_kmh),
    )
    kmh = base_kmh * rng.uniform(0.8, 1.1, pairs.shape[0])
    oneway = ~main & (rng.random(pairs.shape[0]) < oneway_prob)
    flip = rng.random(pairs.shape[0]) < 0.5
    a = np.where(flip, pairs[:, 1], pairs[:, 0])
    b = np.where(flip, pairs[:, 0], pairs[:, 1])
    two = ~oneway
    u = np.concatenate((a, b[two]))
    v = np.concatenate((b, a[two]))
    kmh = np.concatenate((kmh, kmh[two]))
    cls = np.concatenate((cls, cls[two]))
    curvature = rng.uniform(1.0, 1.08, u.size)
    # osmnx's vectorised haversine (imported here: only benchmarks and tests build grids)
    from osmnx.distance import great_circle

    length_m = great_circle(lat[u], lon[u], lat[v], lon[v], EARTH_RADIUS_M) * curvature
    geom_lon = np.column_stack((lon[u], lon[v])).ravel()
    geom_lat = np.column_stack((lat[u], lat[v])).ravel()
    return {
        "node_id": np.arange(side * side, dtype=np.int64) + 9_000_000_000,
        "node_lat": lat,
        "node_lon": lon,
        "edge_u": u.astype(np.int32),
        "edge_v": v.astype(np.int32),
        "edge_length_m": length_m,
        "edge_time_s": length_m / (kmh / 3.6),
        "edge_speed_kmh": kmh.astype(np.float32),
        "edge_class": cls,
        "geom_ptr": np.arange(0, 2 * u.size + 1, 2, dtype=np.int64),
        "geom_lon": geom_lon,
        "geom_lat": geom_lat,
    }
