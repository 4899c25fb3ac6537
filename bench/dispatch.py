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

Peers (``--peers``, the default; ``pip install -e '.[bench]'``): **VROOM** (``pyvroom``) and
**OR-Tools** routing solve the same instances with the same travel matrix, each with a stated time
limit (``--peer-seconds``), and every plan is replayed and checked by the same code
(``bench/peers/planners.py`` says how the problem is mapped). Besides the Murino day, a rural
Leningrad-Oblast-like day on the largest shared map (Porto, 50k nodes): 250 trips of 5–60 km,
50 vehicles (10 wheelchair vans), pickups within [booked, booked + 15 min], and a tight-fleet
variant (``--rural-tight-vehicles``). Targets: empty km within 2 % of the best of them or better,
zero avoidable lateness (no more late trips than the best peer), in < 2 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.append(str(REPO / "bench"))  # bench/peers (after the repo: this file shadows `dispatch`)

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

OSM_DIR = Path(os.environ.get("SOCIALTAXI_SHARED_DATA", REPO.parent / "shared" / "data")) / "osm"
DEFAULT_OSM = OSM_DIR / "murino_lo_osmnx.osm"
RURAL_OSM = OSM_DIR / "porto_portugal.osm.pbf"
PEER_TARGET_S = 2.0
MSK = ZoneInfo("Europe/Moscow")
TARGET_S = 10.0
_A = load_rules(DEFAULT_RULES_FILE).assignment
#: the planner's thresholds, from the rules file (as the service passes them)
LIMITS = {"boarding_s": _A.boarding_s, "max_late_s": _A.max_late_s}


def make_day(  # type: ignore[no-untyped-def]
    graph,
    *,
    n_trips: int,
    n_vehicles: int,
    seed: int,
    day: datetime,
    km_range: tuple[float, float] | None = None,
    n_vans: int | None = None,
):
    """Seeded random trips and vehicles on the graph's nodes (trip lengths in ``km_range``)."""
    rng = np.random.default_rng(seed)
    n = graph.node_count
    lat, lon = np.asarray(graph.node_lat), np.asarray(graph.node_lon)
    pu_parts, de_parts, dur_parts, dist_parts = [], [], [], []
    have = 0
    while have < n_trips:
        k = n_trips if km_range is None else 4 * n_trips
        pu = rng.choice(n, size=k)
        de = rng.choice(n, size=k)
        keep = pu != de
        pu, de = pu[keep], de[keep]
        # Pickup -> destination of every trip: the diagonal of one matrix request.
        m = graph.matrix_nodes(pu, de)
        dur, dist = np.diag(m.duration_s), np.diag(m.dist_m)
        if km_range is not None:
            ok = (dist >= km_range[0] * 1000) & (dist <= km_range[1] * 1000)
            pu, de, dur, dist = pu[ok], de[ok], dur[ok], dist[ok]
        pu_parts.append(pu)
        de_parts.append(de)
        dur_parts.append(dur)
        dist_parts.append(dist)
        have += len(pu)
    pu = np.concatenate(pu_parts)[:n_trips]
    de = np.concatenate(de_parts)[:n_trips]
    dur = np.concatenate(dur_parts)[:n_trips]
    dist = np.concatenate(dist_parts)[:n_trips]
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
    if n_vans is None:
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


def run_peer(name: str, trips, vehicles, graph, seconds: float) -> tuple[Plan, float]:  # type: ignore[no-untyped-def]
    """One peer solver on our problem (one matrix request), replayed by our ``_Problem``."""
    from peers import planners

    from dispatch.planner import _Problem

    t = time.perf_counter()
    pb = _Problem(trips, vehicles, Travel(graph), **LIMITS)
    solve = planners.vroom_plan if name.startswith("VROOM") else planners.ortools_plan
    routes, unassigned = solve(pb, time_limit_s=seconds)
    plan = pb.plan(routes, unassigned)
    return plan, time.perf_counter() - t


def report(title: str, trips, vehicles, graph, repeats: int, peers=()):  # type: ignore[no-untyped-def]
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
    for limit in peers:
        for name in (f"VROOM ({limit:g} s)", f"OR-Tools ({limit:g} s)"):
            plan, secs = run_peer(name, trips, vehicles, graph, limit)
            check = find_conflicts(plan.assignments, trips, vehicles, Travel(graph), **LIMITS)
            results[name] = (plan, secs)
            rows.append(
                f"{name:<16} {secs:8.3f} s {'':>14}  empty {plan.empty_m / 1000:8.1f} km"
                f"  lateness {plan.lateness_s / 60:7.1f} min in {plan.late_trips:3d} trips"
                f"  unassigned {len(plan.unassigned):3d}  conflicts {len(check)}"
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
    return ours, base, secs, results


def peer_targets(label: str, results) -> list[str]:  # type: ignore[no-untyped-def]
    """Target lines: ours against the best of every solver on one instance."""
    ours, secs = results["plan_day"]
    others = {k: v for k, v in results.items() if k != "plan_day"}
    # The best empty km among the plans that serve passengers best: fewest unassigned trips,
    # then fewest late trips (a plan that saves kilometres by picking more people up late is
    # not better for a social taxi).
    fewest_unassigned = min(len(p.unassigned) for p, _ in results.values())
    served = {k: p for k, (p, _) in results.items() if len(p.unassigned) == fewest_unassigned}
    fewest_late_served = min(p.late_trips for p in served.values())
    full = {k: p for k, p in served.items() if p.late_trips == fewest_late_served}
    best_name = min(full, key=lambda k: full[k].empty_m)
    best = full[best_name]
    gap = 100 * (ours.empty_m / best.empty_m - 1) if best.empty_m else 0.0
    fewest_late = min(p.late_trips for p, _ in results.values())
    figs = ", ".join(
        f"{k} {p.empty_m / 1000:.1f} km / {p.late_trips} late / {len(p.unassigned)} unassigned"
        f" / {s:.2f} s"
        for k, (p, s) in {"plan_day": (ours, secs), **others}.items()
    )
    ok_km = ours in full.values() and gap <= 2.0
    return [
        f"target {label}: empty km within 2 % of the best solver (fewest unassigned, then "
        f"fewest late) or better: "
        f"{'met' if ok_km else 'NOT met'} — ours {gap:+.1f} % vs {best_name}; {figs}",
        f"target {label}: zero avoidable lateness: "
        f"{'met' if ours.late_trips <= fewest_late else 'NOT met'} — ours {ours.late_trips} late "
        f"trips ({ours.lateness_s / 60:.1f} min), fewest of any solver {fewest_late}",
        f"target {label}: planned in < {PEER_TARGET_S:.0f} s: "
        f"{'met' if secs < PEER_TARGET_S else 'NOT met'} — {secs:.3f} s",
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--osm", type=Path, default=DEFAULT_OSM)
    ap.add_argument("--cache-dir", type=Path, default=None, help="graph cache (default: settings)")
    ap.add_argument("--trips", type=int, default=250)
    ap.add_argument("--vehicles", type=int, default=50)
    ap.add_argument("--tight-vehicles", type=int, default=8, help="0 to skip the tight scenario")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-peers", dest="peers", action="store_false", help="skip VROOM/OR-Tools")
    ap.add_argument(
        "--peer-seconds", type=float, nargs="+", default=[2.0, 10.0],
        help="time limits of each peer (each is run once per limit)",
    )  # fmt: skip
    ap.add_argument("--rural-osm", type=Path, default=RURAL_OSM)
    ap.add_argument("--rural-tight-vehicles", type=int, default=30, help="0 to skip")
    args = ap.parse_args()
    peers: list[float] = args.peer_seconds if args.peers else []
    target_lines: list[str] = []

    from routing import load_graph

    t = time.perf_counter()
    if args.cache_dir is None:
        from config.settings import get_settings

        # a benchmark is a development tool: no production secret key is needed to read a path
        os.environ.setdefault("SOCIALTAXI_MODE", "development")

        args.cache_dir = get_settings().map_cache_dir
    graph = load_graph(args.osm, cache_dir=args.cache_dir)
    print(f"graph {args.osm.name}: {graph.node_count} nodes, {graph.edge_count} edges, "
          f"loaded in {time.perf_counter() - t:.2f} s (not counted below)")  # fmt: skip
    day = datetime(2026, 11, 24, tzinfo=MSK)

    trips, vehicles = make_day(
        graph, n_trips=args.trips, n_vehicles=args.vehicles, seed=args.seed, day=day
    )
    print(f"trip lengths: median {np.median([t.dist_m for t in trips]) / 1000:.2f} km, "
          f"{np.median([t.duration_s for t in trips]) / 60:.1f} min")  # fmt: skip
    ours, base, secs, res = report(
        "regional daily load", trips, vehicles, graph, args.repeats, peers
    )
    if peers:
        target_lines += peer_targets("Murino day vs VROOM/OR-Tools", res)
    met = (
        secs < TARGET_S
        and len(ours.unassigned) <= len(base.unassigned)
        and ours.empty_m < base.empty_m
        and ours.lateness_s <= base.lateness_s
    )
    target_lines.insert(
        0,
        f"target < {TARGET_S:.0f} s, fewer empty km and no more lateness than greedy: "
        f"{'met' if met else 'NOT met'} — {secs:.3f} s, empty {ours.empty_m / 1000:.1f} vs "
        f"{base.empty_m / 1000:.1f} km, lateness {ours.lateness_s / 60:.1f} vs "
        f"{base.lateness_s / 60:.1f} min",
    )

    if args.tight_vehicles:
        trips, vehicles = make_day(
            graph, n_trips=args.trips, n_vehicles=args.tight_vehicles, seed=args.seed, day=day
        )
        _, _, _, res = report("tight fleet", trips, vehicles, graph, args.repeats, peers)
        if peers:
            target_lines += peer_targets("Murino tight fleet vs VROOM/OR-Tools", res)

    if peers and args.rural_osm.is_file():
        t = time.perf_counter()
        rural = load_graph(args.rural_osm, cache_dir=args.cache_dir)
        print(f"\ngraph {args.rural_osm.name}: {rural.node_count} nodes, loaded in "
              f"{time.perf_counter() - t:.2f} s")  # fmt: skip
        tight = args.rural_tight_vehicles
        for title, n_veh, n_vans in (
            ("rural day (5-60 km)", 50, 10),
            (
                "rural tight fleet",
                tight,
                max(1, tight // 5),
            ),
        ):
            if not n_veh:
                continue
            trips, vehicles = make_day(
                rural, n_trips=args.trips, n_vehicles=n_veh, seed=args.seed, day=day,
                km_range=(5.0, 60.0), n_vans=n_vans,
            )  # fmt: skip
            print(f"trip lengths: median {np.median([t.dist_m for t in trips]) / 1000:.1f} km")
            _, _, _, res = report(title, trips, vehicles, rural, 1, peers)
            target_lines += peer_targets(f"{title} vs VROOM/OR-Tools", res)
    print()
    print("\n".join(target_lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
