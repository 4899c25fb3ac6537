"""ETA error before and after calibrating speeds from the fleet's own tracks.

Simulates (seeded) drives on a shared map whose *true* speeds differ from the model's: by road
class (a factor per OSM ``highway`` class), by hour of the week (weekday rush hours, daytime,
nights, weekends) and per edge (a persistent log-normal factor: one street is slower than
another of its class), with per-edge noise on every drive. Fixes every ``--interval`` seconds
with Gaussian GPS error (``routing.tracks.drive``). The training drives are map-matched with
``routing.matching.match_track`` (the matcher the audit uses; the true paths are not given to
it), turned into edge traversals and pooled into a speed profile
(``routing.calibration``). The held-out drives are then timed by the model before (the
graph's default edge times) and after calibration (the profile's edge times at the drive's
hour of the week) along the path each drove, against the time it really took.

Prints the median and p90 absolute percentage error of the route durations, before and after,
in the same run, and the target line.

Usage::

    .venv/bin/python bench/calibrate.py                         # Heidelberg, 600 + 200 drives
    .venv/bin/python bench/calibrate.py --train 2000 --min-count 10
    .venv/bin/python bench/calibrate.py --map murino_lo_osmnx.osm
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from routing import calibration as cal  # noqa: E402
from routing.matching import match_track  # noqa: E402
from routing.store import load_graph  # noqa: E402
from routing.tracks import drive, random_route  # noqa: E402

UTC_OFFSET_S = 3 * 3600  # the simulated fleet keeps Moscow time
MONDAY = datetime(2026, 3, 16, tzinfo=timezone(timedelta(seconds=UTC_OFFSET_S))).timestamp()
"""2026-03-16 00:00 Moscow, a Monday (Unix seconds): hour of the week 0 of the first week."""

# True speed / model speed by road class (the model's free-flow speeds are too high in town,
# more so on small streets), unknown classes 0.75.
CLASS_FACTOR = {
    "motorway": 0.9, "motorway_link": 0.8, "trunk": 0.85, "trunk_link": 0.75,
    "primary": 0.7, "primary_link": 0.65, "secondary": 0.75, "secondary_link": 0.7,
    "tertiary": 0.8, "tertiary_link": 0.75, "unclassified": 0.85, "residential": 0.6,
    "living_street": 0.5, "service": 0.55,
}  # fmt: skip


def hour_factor(how: int) -> float:
    """Traffic by hour of the week: weekday rush hours slow, nights and weekends faster."""
    day, hour = divmod(how, 24)
    if day < 5 and (7 <= hour < 10 or 16 <= hour < 19):
        return 0.7
    if hour >= 22 or hour < 6:
        return 1.15
    if day >= 5:
        return 1.05
    return 0.9


def abs_pct(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    return np.abs(pred - true) / true * 100.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--map", default="heidelberg.osm.pbf", help="file under shared data osm/")
    ap.add_argument("--train", type=int, default=600, help="training drives")
    ap.add_argument("--test", type=int, default=200, help="held-out drives")
    ap.add_argument("--min-count", type=int, default=10, help="traversals per kept bucket")
    ap.add_argument("--interval", type=float, default=5.0, help="seconds between fixes")
    ap.add_argument("--sigma", type=float, default=8.0, help="GPS error, metres")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--cache-dir", type=Path, default=None, help="graph cache (from settings)")
    args = ap.parse_args(argv)
    if args.cache_dir is None:
        from config.settings import get_settings

        # a benchmark is a development tool: no production secret key is needed to read a path
        os.environ.setdefault("SOCIALTAXI_MODE", "development")

        args.cache_dir = get_settings().map_cache_dir

    data = Path(os.environ.get("SOCIALTAXI_SHARED_DATA", "/work/shared/data"))
    t0 = time.perf_counter()
    graph = load_graph(data / "osm" / args.map, cache_dir=args.cache_dir)
    print(f"map {args.map}: {graph.node_count:,} nodes, {graph.edge_count:,} edges "
          f"(loaded in {time.perf_counter() - t0:.1f} s)")  # fmt: skip
    rng = np.random.default_rng(args.seed)
    model_kmh = graph.edge_length_m / np.maximum(graph.edge_time_s, 1e-9) * 3.6
    class_f = np.array([CLASS_FACTOR.get(str(c), 0.75) for c in graph.edge_class])
    edge_f = np.exp(rng.normal(0.0, 0.15, graph.edge_count))  # persistent per street
    assert cal.hour_of_week(np.array([MONDAY]), utc_offset_s=UTC_OFFSET_S)[0] == 0
    hours_served = np.array([d * 24 + h for d in range(7) for h in range(7, 21)])  # 07–21 local

    def one_drive(k: int, week: int):  # type: ignore[no-untyped-def]
        how = int(rng.choice(hours_served))
        start_s = MONDAY + week * 7 * 86400 + how * 3600 + float(rng.uniform(0, 3000))
        edges = random_route(graph, rng, min_length_m=float(rng.uniform(2000, 9000)))
        truth = SimpleNamespace(
            _snapper=graph._snapper,
            edge_length_m=graph.edge_length_m,
            edge_speed_kmh=model_kmh * class_f * edge_f * hour_factor(how),
        )
        track = drive(
            truth,  # type: ignore[arg-type]
            edges,
            rng,
            interval_s=args.interval,
            sigma_m=args.sigma,
            speed_share=(0.85, 1.15),
            start_s=start_s,
        )
        return how, edges, track

    # --- training: match, traverse, calibrate --------------------------------------------
    t0 = time.perf_counter()
    parts, fixes = [], 0
    for k in range(args.train):
        _, edges, tr = one_drive(k, week=k % 4)
        if edges.size == 0:
            continue
        m = match_track(graph, tr.lat, tr.lon, tr.t_s)
        parts.append(cal.traversals(graph, m, tr.t_s, utc_offset_s=UTC_OFFSET_S))
        fixes += tr.t_s.size
    obs = cal.concat(parts)
    profile = cal.calibrate(graph, obs, min_count=args.min_count)
    elapsed = time.perf_counter() - t0
    n_class_h = int(np.count_nonzero(profile.class_hour != cal.ALL_HOURS))
    n_edge = int(np.count_nonzero(profile.edge_hour == cal.ALL_HOURS))
    print(f"training: {args.train} drives, {fixes:,} fixes matched -> {len(obs):,} edge "
          f"traversals in {elapsed:.1f} s; profile: {n_class_h} class x hour buckets, "
          f"{n_edge:,} edges with their own speed, "
          f"{int(np.count_nonzero(profile.edge_hour != cal.ALL_HOURS)):,} edge x hour buckets "
          f"(min count {args.min_count})")  # fmt: skip
    print("class speeds, all hours (observed / model km/h, traversals):")
    for name, h, n, sp, bs in profile.class_table():
        if h == cal.ALL_HOURS and n >= 50:
            true_f = CLASS_FACTOR.get(name, 0.75)
            print(f"  {name:<16} {sp:6.1f} / {bs:6.1f}  (true factor {true_f:.2f}, "
                  f"measured {sp / bs:.2f})  n={n:,}")  # fmt: skip

    # --- held-out drives: ETA before / after -------------------------------------------
    times_at: dict[int | None, np.ndarray] = {}

    def times(h: int | None) -> np.ndarray:
        if h not in times_at:
            times_at[h] = cal.edge_times(graph, profile, hour=h)
        return times_at[h]

    true_s, before_s, after_s, after_all_s = [], [], [], []
    for k in range(args.test):
        how, edges, tr = one_drive(k, week=4 + k % 2)  # weeks after the training ones
        if edges.size == 0:
            continue
        true_s.append(tr.t_s[-1] - tr.t_s[0])
        before_s.append(float(graph.edge_time_s[edges].sum()))
        after_s.append(float(times(how)[edges].sum()))
        after_all_s.append(float(times(None)[edges].sum()))
    true = np.array(true_s)
    rows = {
        "before (model defaults)": abs_pct(np.array(before_s), true),
        "after, all-hours profile": abs_pct(np.array(after_all_s), true),
        "after, hour-of-week profile": abs_pct(np.array(after_s), true),
    }
    print(f"held-out: {true.size} drives, median true duration {np.median(true) / 60:.1f} min")
    print(f"{'ETA abs % error':<30} {'median':>8} {'p90':>8}")
    for name, err in rows.items():
        print(f"{name:<30} {np.median(err):8.1f} {np.percentile(err, 90):8.1f}")
    b = rows["before (model defaults)"]
    a = rows["after, hour-of-week profile"]
    met = np.median(a) < np.median(b) and np.percentile(a, 90) < np.percentile(b, 90)
    print(
        f"target ETA error after calibration < before: {'met' if met else 'NOT met'} — "
        f"median {np.median(a):.1f} % vs {np.median(b):.1f} %, "
        f"p90 {np.percentile(a, 90):.1f} % vs {np.percentile(b, 90):.1f} % "
        f"({true.size} held-out drives, {args.train} training drives, {args.map})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
