"""OSRM peer runner: runs inside the Python 3.12 benchmark venv (``osrm-bindings``), never in ours.

Reads one JSON document on stdin::

    {"osrm": "/path/map.osrm", "pairs": [[lon1, lat1, lon2, lat2], ...],
     "matrix": {"sources": [[lon, lat], ...], "destinations": [[lon, lat], ...]}, "rounds": 3}

and writes one JSON document on stdout: per pair the duration (s) and distance (m) of OSRM's
fastest route (``null`` where OSRM found none), the per-call latencies (s) of a route without
geometry (``overview=false``) and with full GeoJSON geometry, and the matrix call's time (s).
"""

from __future__ import annotations

import json
import sys
import time

import osrm  # type: ignore[import-not-found]


def main() -> None:
    job = json.load(sys.stdin)
    engine = osrm.OSRM(storage_config=job["osrm"], algorithm="CH", use_shared_memory=False)
    pairs = job["pairs"]
    durations: list[float | None] = []
    distances: list[float | None] = []
    lat_plain: list[float] = []
    lat_geom: list[float] = []
    for lon1, lat1, lon2, lat2 in pairs:
        coords = [(lon1, lat1), (lon2, lat2)]
        p = osrm.RouteParameters(coordinates=coords, overview="false", generate_hints=False)
        t = time.perf_counter()
        try:
            res = engine.Route(p)
        except RuntimeError:
            res = None
        lat_plain.append(time.perf_counter() - t)
        if res is not None and "routes" in res and len(res["routes"]) > 0:
            r = res["routes"][0]
            durations.append(float(r["duration"]))
            distances.append(float(r["distance"]))
        else:
            durations.append(None)
            distances.append(None)
        g = osrm.RouteParameters(
            coordinates=coords, overview="full", geometries="geojson", generate_hints=False
        )
        t = time.perf_counter()
        try:
            engine.Route(g)
        except RuntimeError:
            pass
        lat_geom.append(time.perf_counter() - t)
    out: dict = {
        "durations_s": durations,
        "distances_m": distances,
        "route_latency_s": lat_plain,
        "route_geom_latency_s": lat_geom,
    }
    m = job.get("matrix")
    if m:
        src, dst = m["sources"], m["destinations"]
        coords = [tuple(c) for c in src + dst]
        tp = osrm.TableParameters(
            coordinates=coords,
            sources=list(range(len(src))),
            destinations=list(range(len(src), len(src) + len(dst))),
            generate_hints=False,
        )
        times = []
        for _ in range(int(job.get("rounds", 3))):
            t = time.perf_counter()
            engine.Table(tp)
            times.append(time.perf_counter() - t)
        out["matrix_s"] = times
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
