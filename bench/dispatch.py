"""Benchmark of day planning (``dispatch.planner.plan_day``) on the real road network.

Usage::

    .venv/bin/python bench/dispatch.py                   # 250 trips, 50 vehicles, Murino (LO)
    .venv/bin/python bench/dispatch.py --trips 400 --vehicles 40 --seed 7

A seeded random day in the Murino road network (Leningrad Oblast, the OSM extract in
``shared/data/osm``): pickups and destinations are random graph nodes, pickup times uniform over
07:00–21:00 Moscow time, ~15 % wheelchair trips (booked as ``wheelchair_van``), ~30 % with one
companion; ~20 % of the vehicles are wheelchair vans, starting at random nodes at 06:30. Trip
durations and distances are the fastest routes between pickup and destination.

For our planner and the simple greedy baseline (trips in pickup order, each to the nearest fitting
vehicle that is free in time) — same trips, same vehicles, same run — it prints the planning time
(median of ``--repeats``, including the one travel-matrix request), total empty kilometres, total
lateness and the number of late trips, unassigned trips and remaining conflicts. Both plans are
checked independently with :func:`dispatch.planner.find_conflicts`.

A second scenario with a tight fleet (``--tight-vehicles``, default 8: ~31 trips per vehicle, two
wheelchair vans for ~35 wheelchair trips) shows the two under load, where lateness appears.
The target is: 250 trips / 50 vehicles planned in under 10 s, with fewer empty km and less
lateness than the baseline.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from config.rules import load_rules  # noqa: E402
from config.settings import DEFAULT_RULES_FILE  # noqa: E402
from dispatch.planner import (  # noqa: E402
    Plan,
    TripJob,
    VehicleState,
    find_conflicts,
    greedy_baseline,
    plan_day,
)

DEFAULT_OSM = REPO.parent / "shared" / "data" / "osm" / "murino_lo_osmnx.osm"
MSK = ZoneInfo("Europe/Moscow")
TARGET_S = 10.0
_A = load_rules(DEFAULT_RULES_FILE).assignment
#: the planner's thresholds, from the rules file (as the service passes them)
LIMITS = {"boarding_s": _A.boarding_s, "max_late_s": _A.max_late_s}


def make_day(graph, *, n_trips: int, n_vehicles: int, seed: int, day: datetime):  # type: ignore[no-untyped-def]
    """Seeded random trips and vehicles on the graph's nodes."""
    rng = np.random.default_rng(seed)
    n = graph.node_count
    lat, lon = np.asarray(graph.node_lat), np.asarray(graph.node_lon)
    pu = rng.choice(n, size=n_trips)
    de = rng.choice(n, size=n_trips)
    same = pu == de
    while same.any():
        de[same] = rng.choice(n, size=int(same.sum()))
        same = pu == de
    # Pickup -> destination of every trip: the diagonal of one matrix request.
    m = graph.matrix_nodes(pu, de)
    dur = np.diag(m.duration_s)
    dist = np.diag(m.dist_m)
    start = day.replace(hour=7, minute=0, second=0, microsecond=0)
    offsets = np.sort(rng.uniform(0, 14 * 3600, size=n_trips))  # 07:00–21:00 local
    offsets = np.round(offsets / 300) * 300  # operators book in 5-minute steps
    wheelchair = rng.random(n_trips) < 0.15
    companions = (rng.random(n_trips) < 0.30).astype(int)
    trips = [
        TripJob(
            id=i + 1,
            pickup_at=(start + timedelta(seconds=float(offsets[i]))).astimezone(UTC),
            pickup_lat=float(lat[pu[i]]),
            pickup_lon=float(lon[pu[i]]),
            dest_lat=float(lat[de[i]]),
            dest_lon=float(lon[de[i]]),
            duration_s=float(dur[i]),
            dist_m=float(dist[i]),
            vehicle_type="wheelchair_van" if wheelchair[i] else "car",
            wheelchair=bool(wheelchair[i]),
            companions=int(companions[i]),
        )
        for i in range(n_trips)
    ]
    depots = rng.choice(n, size=n_vehicles)
    n_vans = max(1, round(0.2 * n_vehicles))
    shift = day.replace(hour=6, minute=30, second=0, microsecond=0).astimezone(UTC)
    vehicles = [
        VehicleState(
            id=100 + k,
            vehicle_type="wheelchair_van" if k < n_vans else "car",
            seats=3 if k < n_vans else 4,
            wheelchair_places=1 if k < n_vans else 0,
            lat=float(lat[depots[k]]),
            lon=float(lon[depots[k]]),
            available_from=shift,
        )
        for k in range(n_vehicles)
    ]
    return trips, vehicles


class Travel:
    """The shell's travel function over routing's matrix, counting calls and time."""

    def __init__(self, graph) -> None:  # type: ignore[no-untyped-def]
        self.graph = graph
        self.calls = 0
        self.seconds = 0.0

    def __call__(self, o: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = time.perf_counter()
        m = self.graph.matrix(o[:, 0], o[:, 1], d[:, 0], d[:, 1])
        self.calls += 1
        self.seconds += time.perf_counter() - t
        return m.duration_s, m.dist_m


def run(name: str, fn, trips, vehicles, graph, repeats: int) -> tuple[Plan, float, float]:  # type: ignore[no-untyped-def]
    times, matrix_times = [], []
    plan = None
    for _ in range(repeats):
        travel = Travel(graph)
        t = time.perf_counter()
        plan = fn(trips, vehicles, travel, **LIMITS)
        times.append(time.perf_counter() - t)
        matrix_times.append(travel.seconds)
        assert travel.calls == 1, f"{name}: {travel.calls} matrix requests"
    assert plan is not None
    return plan, statistics.median(times), statistics.median(matrix_times)


def report(title: str, trips, vehicles, graph, repeats: int) -> tuple[Plan, Plan, float]:  # type: ignore[no-untyped-def]
    n_wc = sum(t.wheelchair for t in trips)
    n_vans = sum(v.wheelchair_places > 0 for v in vehicles)
    print(f"\n== {title}: {len(trips)} trips ({n_wc} wheelchair), {len(vehicles)} vehicles "
          f"({n_vans} wheelchair vans) ==")  # fmt: skip
    rows = []
    results = {}
    for name, fn in (("plan_day", plan_day), ("greedy baseline", greedy_baseline)):
        plan, secs, msecs = run(name, fn, trips, vehicles, graph, repeats)
        check = find_conflicts(plan.assignments, trips, vehicles, Travel(graph), **LIMITS)
        assert check == [], f"{name}: infeasible plan: {check[:3]}"
        results[name] = (plan, secs)
        late_n = plan.late_trips
        rows.append(
            f"{name:<16} {secs:8.3f} s (matrix {msecs:5.3f} s)  empty {plan.empty_m / 1000:8.1f} km"
            f"  lateness {plan.lateness_s / 60:7.1f} min in {late_n:3d} trips"
            f"  unassigned {len(plan.unassigned):3d}  conflicts {len(plan.conflicts)}"
        )
    print("\n".join(rows))
    ours, secs = results["plan_day"]
    base, _ = results["greedy baseline"]
    if base.empty_m > 0:
        print(
            f"plan_day vs greedy: empty km {100 * (ours.empty_m / base.empty_m - 1):+.1f} %, "
            f"lateness {ours.lateness_s / 60:.1f} vs {base.lateness_s / 60:.1f} min, "
            f"late trips {ours.late_trips} vs {base.late_trips}, "
            f"unassigned {len(ours.unassigned)} vs {len(base.unassigned)}"
        )
    return ours, base, secs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--osm", type=Path, default=DEFAULT_OSM)
    ap.add_argument("--cache-dir", type=Path, default=None, help="graph cache (default: settings)")
    ap.add_argument("--trips", type=int, default=250)
    ap.add_argument("--vehicles", type=int, default=50)
    ap.add_argument("--tight-vehicles", type=int, default=8, help="0 to skip the tight scenario")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from routing import load_graph

    t = time.perf_counter()
    graph = load_graph(args.osm, cache_dir=args.cache_dir)
    print(f"graph {args.osm.name}: {graph.node_count} nodes, {graph.edge_count} edges, "
          f"loaded in {time.perf_counter() - t:.2f} s (not counted below)")  # fmt: skip
    day = datetime(2026, 11, 24, tzinfo=MSK)

    trips, vehicles = make_day(
        graph, n_trips=args.trips, n_vehicles=args.vehicles, seed=args.seed, day=day
    )
    print(f"trip lengths: median {np.median([t.dist_m for t in trips]) / 1000:.2f} km, "
          f"{np.median([t.duration_s for t in trips]) / 60:.1f} min")  # fmt: skip
    ours, base, secs = report("regional daily load", trips, vehicles, graph, args.repeats)
    met = (
        secs < TARGET_S
        and len(ours.unassigned) <= len(base.unassigned)
        and ours.empty_m < base.empty_m
        and ours.lateness_s <= base.lateness_s
    )
    print(f"target (< {TARGET_S:.0f} s, fewer empty km and no more lateness than greedy): "
          f"{'MET' if met else 'NOT MET'}")  # fmt: skip

    if args.tight_vehicles:
        trips, vehicles = make_day(
            graph, n_trips=args.trips, n_vehicles=args.tight_vehicles, seed=args.seed, day=day
        )
        report("tight fleet", trips, vehicles, graph, args.repeats)
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
