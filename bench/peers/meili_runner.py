"""Valhalla's Meili map matcher as a benchmark peer (runs in the peer venv, Python 3.12).

    bench/.peers/valhalla-venv/bin/python bench/peers/meili_runner.py --map MAP [--in FILE]

Reads tracks as JSON lines (stdin or ``--in``)::

    {"id": "t1", "lat": [...], "lon": [...], "t_s": [...], "sigma_m": 5.0, "search_radius_m": 50}

(``sigma_m`` and ``search_radius_m`` optional) and writes one JSON line per track, in order::

    {"id": "t1", "ok": true, "length_m": 1234.5, "shape": [[lat, lon], ...],
     "points": 600, "matched_points": 598, "seconds": 0.031, "cpu_seconds": 0.030,
     "points_per_s": 19354.8,
     "fix_lat": [...], "fix_lon": [...], "fix_offset_m": [...]}

``length_m`` is the sum of the matched edges' lengths as ``trace_attributes`` reports them
(first and last edges partial); ``shape`` the matched geometry; ``seconds`` the wall time of
the ``trace_attributes`` call alone (JSON encoding of the request included, as for any
Valhalla client), ``cpu_seconds`` its CPU time, so ``points_per_s`` is Meili's matching
speed. Per fix, the matched point
(null when Meili left it unmatched) and its distance. On a Valhalla error the line has
``"ok": false`` and ``"error"``. Tiles come from ``valhalla_tiles.py`` (built on first use).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from valhalla_tiles import DEFAULT_ROOT, build  # noqa: E402


def decode_polyline6(encoded: str) -> list[list[float]]:
    """Valhalla's encoded polyline (precision 6) as [[lat, lon], ...]."""
    out: list[list[float]] = []
    index = lat = lon = 0
    n = len(encoded)
    while index < n:
        vals = []
        for _ in range(2):
            result = shift = 0
            while True:
                b = ord(encoded[index]) - 63
                index += 1
                result |= (b & 0x1F) << shift
                shift += 5
                if b < 0x20:
                    break
            vals.append(~(result >> 1) if result & 1 else result >> 1)
        lat += vals[0]
        lon += vals[1]
        out.append([lat / 1e6, lon / 1e6])
    return out


def request(track: dict) -> dict:
    shape = [
        {"lat": la, "lon": lo, "time": t}
        for la, lo, t in zip(track["lat"], track["lon"], track["t_s"], strict=True)
    ]
    options = {"turn_penalty_factor": 0}
    if track.get("sigma_m") is not None:
        options["gps_accuracy"] = float(track["sigma_m"])
    if track.get("search_radius_m") is not None:
        options["search_radius"] = float(track["search_radius_m"])
    return {
        "shape": shape,
        "costing": "auto",
        "shape_match": "map_snap",
        "use_timestamps": False,
        "trace_options": options,
        "filters": {
            "attributes": [
                "edge.length", "shape", "matched.point", "matched.type",
                "matched.distance_from_trace_point",
            ],
            "action": "include",
        },
    }  # fmt: skip


def match(actor, track: dict) -> dict:  # type: ignore[no-untyped-def]
    from valhalla import ValhallaError

    body = request(track)
    n = len(track["lat"])
    t0 = time.perf_counter()
    c0 = time.process_time()
    try:
        res = actor.trace_attributes(json.dumps(body))
    except (ValhallaError, RuntimeError) as e:
        return {"id": track.get("id"), "ok": False, "error": str(e), "points": n,
                "seconds": time.perf_counter() - t0}  # fmt: skip
    seconds = time.perf_counter() - t0
    cpu_seconds = time.process_time() - c0
    res = json.loads(res)
    length_km = sum(e.get("length", 0.0) for e in res.get("edges", []))
    pts = res.get("matched_points", [])
    fix_lat = [p["lat"] if p.get("type") != "unmatched" else None for p in pts]
    fix_lon = [p["lon"] if p.get("type") != "unmatched" else None for p in pts]
    fix_off = [p.get("distance_from_trace_point") if p.get("type") != "unmatched" else None
               for p in pts]  # fmt: skip
    return {
        "id": track.get("id"),
        "ok": True,
        "length_m": length_km * 1000.0,
        "shape": decode_polyline6(res.get("shape", "")),
        "points": n,
        "matched_points": sum(1 for p in pts if p.get("type") != "unmatched"),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "points_per_s": n / seconds if seconds > 0 else float("inf"),
        "fix_lat": fix_lat,
        "fix_lon": fix_lon,
        "fix_offset_m": fix_off,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description="Meili map matching of JSON-lines tracks")
    ap.add_argument("--map", type=Path, required=True, help="OSM file the tiles are built from")
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    ap.add_argument("--in", dest="inp", type=Path, default=None)
    args = ap.parse_args()
    from valhalla import Actor

    tiles = build(args.map, args.root)
    actor = Actor(str(tiles / "config.json"))
    src = args.inp.open() if args.inp else sys.stdin
    for line in src:
        if not line.strip():
            continue
        out = match(actor, json.loads(line))
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
