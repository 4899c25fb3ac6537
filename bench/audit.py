"""Map-matching speed for the monthly audit: our HMM matcher against Valhalla's Meili.

Generates (seeded) a month-like load of trips — by default 7,500 trips of 20–60 minutes with a
fix every second (~15 million points), GPS error sigma drawn per trip between 5 and 20 m —
along fastest-route chains through random nodes of the map (``routing.tracks``), matches
every track on one core with ``routing.matching.match_track`` and prints points matched per
second. The first ``--meili-trips`` tracks are also matched by Meili (``bench/peers/``, in its
own process, Python 3.12 venv built by ``bench/peers/valhalla_env.sh``), interleaved track by
track with ours so that a change of the shared machine's load hits both alike; both speeds are
given on that same subset, with each matcher's median length error against the truth.

Usage::

    .venv/bin/python bench/audit.py                      # full size: 7,500 trips, Heidelberg
    .venv/bin/python bench/audit.py --trips 750          # a tenth
    .venv/bin/python bench/audit.py --map porto_portugal.osm.pbf --meili-trips 100

Speeds are CPU seconds of the matching calls (``time.process_time`` in each process; the wall
times are printed beside them). Track generation is not timed. Tracks are produced on the fly,
so memory stays flat at any size. (The monthly run from the database is timed by the audit
service's bench once it exists; a database track source can replace ``synthetic_tracks``.)
"""

from __future__ import annotations

import os

# one core: no hidden BLAS/OpenMP threads (numba code here is single-threaded anyway)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.peers.meili import Meili, PeerUnavailable, ensure_peer, track_line  # noqa: E402
from routing import RoadGraph, load_graph  # noqa: E402
from routing.matching import match_track  # noqa: E402
from routing.tracks import drive, random_route  # noqa: E402

OSM = Path(os.environ.get("SOCIALTAXI_SHARED_DATA", REPO.parent / "shared" / "data")) / "osm"
TARGET_POINTS_PER_S = 20_000


@dataclass(frozen=True)
class Trip:
    lat: np.ndarray
    lon: np.ndarray
    t_s: np.ndarray
    sigma_m: float
    length_m: float


def synthetic_tracks(
    g: RoadGraph, n: int, *, seed: int, interval_s: float, minutes: tuple[float, float]
) -> Iterator[Trip]:
    """``n`` seeded trips: a duration, a sigma, a route chain long enough, driven and cut."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        duration_s = rng.uniform(*minutes) * 60.0
        sigma = float(rng.uniform(5.0, 20.0))
        edges = random_route(g, rng, min_length_m=duration_s * 14.0, max_legs=200)
        tr = drive(g, edges, rng, interval_s=interval_s, sigma_m=sigma)
        keep = tr.t_s <= duration_s
        length_m = float(tr.along_m[keep][-1])  # driven up to the cut
        yield Trip(tr.lat[keep], tr.lon[keep], tr.t_s[keep] + 1.7e9, sigma, length_m)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--map", default="heidelberg.osm.pbf", help="file in the shared osm/ dir")
    ap.add_argument("--trips", type=int, default=7500)
    ap.add_argument("--meili-trips", type=int, default=150)
    ap.add_argument("--interval-s", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "socialtaxi")
    ap.add_argument("--no-meili", action="store_true", help="skip the peer (no target line)")
    args = ap.parse_args()

    osm = OSM / args.map
    g = load_graph(osm, cache_dir=args.cache_dir)
    print(f"map {args.map}: {g.node_count:,} nodes, {g.edge_count:,} edges")
    t = time.perf_counter()
    warm = next(synthetic_tracks(g, 1, seed=1, interval_s=args.interval_s, minutes=(2, 3)))
    match_track(g, warm.lat, warm.lon, warm.t_s)  # compile or load the numba cache, index
    print(f"warm-up (numba cache load or compile, snapping index): {time.perf_counter() - t:.1f} s")

    meili: Meili | None = None
    if not args.no_meili and args.meili_trips > 0:
        try:
            t = time.perf_counter()
            ensure_peer(osm)
            meili = Meili(osm)
            meili.match(warm.lat, warm.lon, warm.t_s, sigma_m=warm.sigma_m)  # load tiles
            print(f"Meili peer ready (venv, tiles, first call): {time.perf_counter() - t:.1f} s")
        except PeerUnavailable as e:
            print(f"Meili peer unavailable: {e}")
            meili = None

    ours_cpu = ours_wall = 0.0
    points = 0
    sub = {"points": 0, "ours_cpu": 0.0, "ours_wall": 0.0, "meili_cpu": 0.0, "meili_wall": 0.0}
    err_ours: list[float] = []
    err_meili: list[float] = []
    meili_fail = 0
    t_start = time.perf_counter()
    for k, trip in enumerate(
        synthetic_tracks(
            g, args.trips, seed=args.seed, interval_s=args.interval_s, minutes=(20.0, 60.0)
        )
    ):
        c0, w0 = time.process_time(), time.perf_counter()
        m = match_track(g, trip.lat, trip.lon, trip.t_s)
        c1, w1 = time.process_time(), time.perf_counter()
        ours_cpu += c1 - c0
        ours_wall += w1 - w0
        n = trip.lat.shape[0]
        points += n
        if meili is not None and k < args.meili_trips:
            r = meili.match_line(track_line(trip.lat, trip.lon, trip.t_s, sigma_m=trip.sigma_m))
            sub["points"] += n
            sub["ours_cpu"] += c1 - c0
            sub["ours_wall"] += w1 - w0
            sub["meili_cpu"] += r.get("cpu_seconds", r["seconds"])
            sub["meili_wall"] += r["seconds"]
            err_ours.append(abs(m.length_m / trip.length_m - 1))
            if r["ok"]:
                err_meili.append(abs(r["length_m"] / trip.length_m - 1))
            if not r["ok"]:
                meili_fail += 1
        if (k + 1) % max(1, args.trips // 10) == 0:
            print(
                f"  {k + 1:,} trips, {points:,} points, ours {points / ours_cpu:,.0f} points/s "
                f"(elapsed {time.perf_counter() - t_start:.0f} s)",
                flush=True,
            )
    if meili is not None:
        meili.close()

    ours_rate = points / ours_cpu
    print(
        f"ours: {args.trips:,} trips, {points:,} points at {args.interval_s:g} s, "
        f"{ours_cpu:.1f} CPU s ({ours_wall:.1f} wall s): {ours_rate:,.0f} points/s "
        f"({points / ours_wall:,.0f} wall)"
    )
    lines = [
        f"target matcher >= {TARGET_POINTS_PER_S:,} points/s on one core: "
        f"{'met' if ours_rate >= TARGET_POINTS_PER_S else 'NOT met'} — {ours_rate:,.0f} points/s "
        f"over {points:,} points ({args.trips:,} trips)"
    ]
    if meili is not None and sub["points"]:
        o_rate = sub["points"] / sub["ours_cpu"]
        m_rate = sub["points"] / sub["meili_cpu"]
        n_sub = min(args.meili_trips, args.trips)
        print(
            f"same {n_sub} tracks ({sub['points']:,} points): ours {o_rate:,.0f} points/s "
            f"({sub['points'] / sub['ours_wall']:,.0f} wall), Meili {m_rate:,.0f} points/s "
            f"({sub['points'] / sub['meili_wall']:,.0f} wall); Meili failed on {meili_fail}"
        )
        if err_ours:
            print(
                f"median |length error| vs truth on {len(err_ours)} tracks: ours "
                f"{100 * np.median(err_ours):.2f} %, Meili "
                f"{100 * np.median(err_meili) if err_meili else float('nan'):.2f} %"
            )
        lines.append(
            f"target ahead of Meili (same tracks, same run): "
            f"{'met' if o_rate > m_rate else 'NOT met'} — ours {o_rate:,.0f} vs Meili "
            f"{m_rate:,.0f} points/s ({o_rate / m_rate:.1f}x) on {sub['points']:,} points"
        )
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
