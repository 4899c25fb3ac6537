"""The monthly audit run from the database, and our map matcher against Valhalla's Meili.

Generates (seeded) a month of trips — by default 7,500 trips of 20–60 minutes with a fix every
second (~18 million points), GPS error sigma drawn per trip between 5 and 20 m — along
fastest-route chains through random nodes of the map (``routing.tracks``), loads them into a
fresh database (trips with their plans and events; fixes through ingest's own store, the binary
``COPY`` path of ``telemetry.store.TelemetryStore.write``), then runs the real batch —
``audit.service.run_period``, the code behind ``socialtaxi audit run --from --to`` — over the
month and prints:

* points matched per second on one core: the matcher's CPU seconds inside that run
  (``time.process_time`` around each ``match_track`` call; numba is single-threaded);
* the full run's wall time and trips per second (loading each trip from the database, matching,
  routing the fastest path between the actual ends, every rule, writing findings);
* Meili's points per second on the first ``--meili-trips`` of the same tracks (its own process,
  Python 3.12 venv built by ``bench/peers/valhalla_env.sh``), interleaved track by track with
  ours so that a change of the shared machine's load hits both alike, with each matcher's
  median length error against the truth.

Usage::

    .venv/bin/python bench/audit.py                      # full size: 7,500 trips, Heidelberg
    .venv/bin/python bench/audit.py --trips 750          # a tenth
    .venv/bin/python bench/audit.py --map porto_portugal.osm.pbf --meili-trips 100

The database (``st_bench_audit_<hex>`` on ``SOCIALTAXI_BENCH_PG``, default the local server) is
dropped at the end unless ``--keep-db``. Track generation and loading are timed apart from the
run.
"""

from __future__ import annotations

import os

# one core: no hidden BLAS/OpenMP threads (numba code here is single-threaded anyway)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import orjson  # noqa: E402
import psycopg  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.peers.meili import Meili, PeerUnavailable, ensure_peer, track_line  # noqa: E402
from config.rules import Rules, load_rules  # noqa: E402
from config.settings import DEFAULT_RULES_FILE  # noqa: E402
from dispatch.tariff import quote  # noqa: E402
from routing import RoadGraph, load_graph  # noqa: E402
from routing.matching import match_track  # noqa: E402
from routing.tracks import drive, random_route  # noqa: E402
from simulators.motion import edge_polyline  # noqa: E402

OSM = Path(os.environ.get("SOCIALTAXI_SHARED_DATA", REPO.parent / "shared" / "data")) / "osm"
PG_SERVER = os.environ.get("SOCIALTAXI_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
TARGET_POINTS_PER_S = 20_000
CATEGORY = "veteran_wwii"  # no co-payment: an honest trip needs no payment row


@dataclass(frozen=True)
class Trip:
    lat: np.ndarray
    lon: np.ndarray
    t_s: np.ndarray  # seconds from the trip's start
    sigma_m: float
    length_m: float  # driven up to the cut (the truth)
    plan_lat: np.ndarray  # the route driven, as planned (WGS 84)
    plan_lon: np.ndarray


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
        # the plan is the route as far as the drive went (an honest trip)
        done = np.searchsorted(np.cumsum(g.edge_length_m[edges]), length_m) + 1
        plat, plon, _ = edge_polyline(edges[:done], g.geom_ptr, g.geom_lon, g.geom_lat)
        yield Trip(tr.lat[keep], tr.lon[keep], tr.t_s[keep], sigma, length_m, plat, plon)


class TimedMatcher:
    """``match_track`` with its CPU seconds and points counted (the run calls it per trip)."""

    def __init__(self) -> None:
        self.cpu_s = 0.0
        self.wall_s = 0.0
        self.points = 0
        self.calls = 0

    def __call__(self, graph: Any, lat: Any, lon: Any, t_s: Any, **kw: Any) -> Any:
        c0, w0 = time.process_time(), time.perf_counter()
        try:
            return match_track(graph, lat, lon, t_s, **kw)
        finally:
            self.cpu_s += time.process_time() - c0
            self.wall_s += time.perf_counter() - w0
            self.points += len(lat)
            self.calls += 1


# --- the month in a database -------------------------------------------------------------------
def month_before(now: datetime) -> tuple[datetime, datetime]:
    """The calendar month (UTC) before ``now``: its first moment and the next month's."""
    end = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = (end - timedelta(days=1)).replace(day=1)
    return start, end


def create_database(rules: Rules) -> str:
    from db import migrate
    from db.seed import sync_rules

    url = f"{PG_SERVER}/st_bench_audit_{uuid.uuid4().hex[:10]}"
    migrate.upgrade(url)
    with psycopg.connect(url, autocommit=True) as conn:
        sync_rules(conn, rules)
    return url


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


class MonthLoader:
    """Writes trips into the database: registries once, then per trip its row, plan and events
    (``COPY``), and its fixes through :class:`telemetry.store.TelemetryStore` in batches."""

    def __init__(self, url: str, rules: Rules, *, vehicles: int, passengers: int, start: datetime):
        from telemetry.store import TelemetryStore

        self.url = url
        self.rules = rules
        self.conn = psycopg.connect(url, autocommit=True)
        self.store = TelemetryStore(url, timezone=rules.timezone)
        c = self.conn
        self.carrier = c.execute(
            "INSERT INTO carriers (name, inn) VALUES ('ООО Бенчмарк', '7800000001') RETURNING id"
        ).fetchone()[0]  # type: ignore[index]
        with c.cursor() as cur:
            with cur.copy(
                "COPY vehicles (carrier_id, plate, vehicle_type, seats, mqtt_id) FROM STDIN"
            ) as cp:
                for i in range(vehicles):
                    cp.write_row((self.carrier, f"Б{i:03d}ББ47", "car", 4, f"bench-{i:03d}"))
            with cur.copy(
                "COPY passengers (last_name, first_name, birth_date, name_norm) FROM STDIN"
            ) as cp:
                for i in range(passengers):
                    cp.write_row((f"Пассажир{i}", "Бенч", "1940-01-01", f"пассажир{i} бенч"))
        self.vehicle_ids = [r[0] for r in c.execute("SELECT id FROM vehicles ORDER BY id")]
        self.passenger_ids = [r[0] for r in c.execute("SELECT id FROM passengers ORDER BY id")]
        c.execute(
            "INSERT INTO passenger_benefits (passenger_id, category, valid_from)"
            " SELECT id, %s, '2000-01-01' FROM passengers",
            (CATEGORY,),
        )
        self.clock = {v: start + timedelta(minutes=30) for v in self.vehicle_ids}
        self.pending: list[tuple[int, Trip, float]] = []
        self.pending_points = 0
        self.trips = 0
        self.points = 0

    def add(self, k: int, trip: Trip, rng: np.random.Generator) -> None:
        vid = self.vehicle_ids[k % len(self.vehicle_ids)]
        t0 = self.clock[vid].timestamp()
        self.clock[vid] += timedelta(seconds=float(trip.t_s[-1]) + float(rng.uniform(300, 900)))
        self.pending.append((vid, trip, t0))
        self.pending_points += trip.lat.shape[0]
        if self.pending_points >= 200_000:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        from telemetry.pipeline import Positions, Processed

        c = self.conn
        rows_obj = []
        for _, trip, _ in self.pending:
            rows_obj.append(("Объект", "medical", "бенч", float(trip.lat[-1]), float(trip.lon[-1])))
        with c.transaction(), c.cursor() as cur:
            ids = []
            # one registered object where each trip ends (its destination)
            for row in rows_obj:
                cur.execute(
                    "INSERT INTO social_objects (name, object_type, address, lat, lon, radius_m)"
                    " VALUES (%s, %s, %s, %s, %s, 150) RETURNING id",
                    row,
                )
                ids.append(cur.fetchone()[0])  # type: ignore[index]
            trip_ids = []
            for (vid, trip, t0), obj in zip(self.pending, ids, strict=True):
                at = datetime.fromtimestamp(t0 + float(trip.t_s[0]), UTC)
                end = datetime.fromtimestamp(t0 + float(trip.t_s[-1]), UTC)
                plan_m = float(trip.length_m)
                fare = quote(self.rules, category=CATEGORY, vehicle_type="car", distance_m=plan_m)
                geom = {
                    "type": "LineString",
                    "coordinates": np.round(
                        np.column_stack((trip.plan_lon, trip.plan_lat)), 7
                    ).tolist(),
                }
                cur.execute(
                    "INSERT INTO trips (passenger_id, category, status, vehicle_type, pickup_at,"
                    " pickup_address, pickup_lat, pickup_lon, dest_object_id, dest_lat, dest_lon,"
                    " planned_route, planned_dist_m, planned_duration_s, fare_kop,"
                    " copay_share_pct, copay_kop, vehicle_id, carrier_id, started_at,"
                    " picked_up_at, completed_at)"
                    " VALUES (%s, %s, 'completed', 'car', %s, 'бенч', %s, %s, %s, %s, %s,"
                    " %s::jsonb, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                    (
                        self.passenger_ids[self.trips % len(self.passenger_ids)],
                        CATEGORY,
                        at,
                        float(trip.plan_lat[0]),
                        float(trip.plan_lon[0]),
                        obj,
                        float(trip.plan_lat[-1]),
                        float(trip.plan_lon[-1]),
                        orjson.dumps(geom).decode(),
                        plan_m,
                        float(trip.t_s[-1] - trip.t_s[0]),
                        fare.fare_kop,
                        fare.copay_share_pct,
                        fare.copay_kop,
                        vid,
                        self.carrier,
                        at,
                        at,
                        end,
                    ),
                )
                trip_ids.append(cur.fetchone()[0])  # type: ignore[index]
                self.trips += 1
            with cur.copy(
                "COPY trip_events (trip_id, vehicle_id, event_type, occurred_at, source) FROM STDIN"
            ) as cp:
                for tid, (vid, trip, t0) in zip(trip_ids, self.pending, strict=True):
                    a = datetime.fromtimestamp(t0 + float(trip.t_s[0]), UTC)
                    b = datetime.fromtimestamp(t0 + float(trip.t_s[-1]), UTC)
                    for kind, when in (
                        ("en_route", a),
                        ("arrived_at_pickup", a),
                        ("passenger_on_board", a),
                        ("arrived_at_destination", b),
                        ("trip_completed", b),
                    ):
                        cp.write_row((tid, vid, kind, when, "vehicle"))
        n = self.pending_points
        vid_col = np.concatenate([np.full(t.lat.shape[0], v, np.int64) for v, t, _ in self.pending])
        ts_us = np.concatenate(
            [np.round((t0 + t.t_s) * 1e6).astype(np.int64) for _, t, t0 in self.pending]
        )
        num = np.full((n, 8), np.nan)
        num[:, 0] = np.concatenate([t.lat for _, t, _ in self.pending])
        num[:, 1] = np.concatenate([t.lon for _, t, _ in self.pending])
        positions = Positions(vid_col, ts_us, num, np.zeros(n, bool), np.zeros(n, bool))
        res = self.store.write(Processed(positions, (), (), n, 0, 0))
        if res.stored != n:
            raise RuntimeError(f"stored {res.stored} of {n} fixes")
        self.points += n
        self.pending.clear()
        self.pending_points = 0

    def close(self) -> None:
        self.flush()
        self.conn.execute("ANALYZE")
        self.store.close()
        self.conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--map", default="heidelberg.osm.pbf", help="file in the shared osm/ dir")
    ap.add_argument("--trips", type=int, default=7500)
    ap.add_argument("--vehicles", type=int, default=100)
    ap.add_argument("--meili-trips", type=int, default=150)
    ap.add_argument("--interval-s", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "socialtaxi")
    ap.add_argument("--no-meili", action="store_true", help="skip the peer (no target line)")
    ap.add_argument("--keep-db", action="store_true", help="do not drop the database")
    args = ap.parse_args()

    from audit.service import run_period

    rules = load_rules(DEFAULT_RULES_FILE)
    osm = OSM / args.map
    g = load_graph(osm, cache_dir=args.cache_dir / "maps")
    print(f"map {args.map}: {g.node_count:,} nodes, {g.edge_count:,} edges")
    t = time.perf_counter()
    warm = next(synthetic_tracks(g, 1, seed=1, interval_s=args.interval_s, minutes=(2, 3)))
    match_track(g, warm.lat, warm.lon, warm.t_s)  # compile or load the numba cache, index
    print(f"warm-up (numba cache load or compile, snapping index): {time.perf_counter() - t:.1f} s")

    start, end = month_before(datetime.now(UTC))
    url = create_database(rules)
    print(f"database {url.rsplit('/', 1)[1]}: month {start:%Y-%m} (UTC)")
    kept: list[Trip] = []
    try:
        rng = np.random.default_rng(args.seed + 1)
        t = time.perf_counter()
        loader = MonthLoader(
            url, rules, vehicles=args.vehicles, passengers=max(1, args.trips // 3), start=start
        )
        for k, trip in enumerate(
            synthetic_tracks(
                g, args.trips, seed=args.seed, interval_s=args.interval_s, minutes=(20.0, 60.0)
            )
        ):
            loader.add(k, trip, rng)
            if k < args.meili_trips:
                kept.append(trip)
            if (k + 1) % max(1, args.trips // 10) == 0:
                print(
                    f"  generated and loaded {k + 1:,} trips "
                    f"(elapsed {time.perf_counter() - t:.0f} s)",
                    flush=True,
                )
        loader.close()
        load_s = time.perf_counter() - t
        print(
            f"loaded {loader.trips:,} trips, {loader.points:,} fixes into vehicle_positions "
            f"in {load_s:.0f} s (generation included)"
        )

        matcher = TimedMatcher()
        c0, w0 = time.process_time(), time.perf_counter()
        done = [0]

        def progress(ids: Any, n: int) -> Iterator[int]:
            step = max(1, n // 10)
            for i, trip_id in enumerate(ids):
                yield trip_id
                done[0] = i + 1
                if (i + 1) % step == 0:
                    print(
                        f"  audited {i + 1:,} of {n:,} trips, matcher "
                        f"{matcher.points / max(matcher.cpu_s, 1e-9):,.0f} points/s "
                        f"(elapsed {time.perf_counter() - w0:.0f} s)",
                        flush=True,
                    )

        tally = run_period(
            url,
            start=start,
            end=end,
            carrier_id=None,
            rules=rules,
            graph=g,
            matcher=matcher,
            progress=progress,
        )
        run_wall = time.perf_counter() - w0
        run_cpu = time.process_time() - c0
        with psycopg.connect(url) as conn:
            by_rule = conn.execute(
                "SELECT rule, count(*) FROM audit_findings GROUP BY rule ORDER BY rule"
            ).fetchall()
    finally:
        if not args.keep_db:
            drop_database(url)
    ours_rate = matcher.points / matcher.cpu_s
    print(
        f"monthly run (audit.service.run_period, from the database): {tally.trips:,} trips "
        f"audited, {tally.failed} failed, {tally.notes:,} notes, findings "
        f"{dict(by_rule) or 'none'}; {run_wall:.1f} s wall, {run_cpu:.1f} CPU s in this "
        f"process: {tally.trips / run_wall:.1f} trips/s"
    )
    print(
        f"matcher in that run: {matcher.calls:,} tracks, {matcher.points:,} points, "
        f"{matcher.cpu_s:.1f} CPU s ({matcher.wall_s:.1f} wall s, "
        f"{100 * matcher.wall_s / run_wall:.0f} % of the run): {ours_rate:,.0f} points/s"
    )

    meili: Meili | None = None
    sub = {"points": 0, "ours_cpu": 0.0, "ours_wall": 0.0, "meili_cpu": 0.0, "meili_wall": 0.0}
    err_ours: list[float] = []
    err_meili: list[float] = []
    meili_fail = 0
    if not args.no_meili and kept:
        try:
            t = time.perf_counter()
            ensure_peer(osm)
            meili = Meili(osm)
            meili.match(warm.lat, warm.lon, warm.t_s, sigma_m=warm.sigma_m)  # load tiles
            print(f"Meili peer ready (venv, tiles, first call): {time.perf_counter() - t:.1f} s")
        except PeerUnavailable as e:
            print(f"Meili peer unavailable: {e}")
            meili = None
    if meili is not None:
        for trip in kept:
            ts = trip.t_s + start.timestamp()
            c0, w0 = time.process_time(), time.perf_counter()
            m = match_track(g, trip.lat, trip.lon, ts)
            c1, w1 = time.process_time(), time.perf_counter()
            r = meili.match_line(track_line(trip.lat, trip.lon, ts, sigma_m=trip.sigma_m))
            sub["points"] += trip.lat.shape[0]
            sub["ours_cpu"] += c1 - c0
            sub["ours_wall"] += w1 - w0
            sub["meili_cpu"] += r.get("cpu_seconds", r["seconds"])
            sub["meili_wall"] += r["seconds"]
            err_ours.append(abs(m.length_m / trip.length_m - 1))
            if r["ok"]:
                err_meili.append(abs(r["length_m"] / trip.length_m - 1))
            else:
                meili_fail += 1
        meili.close()

    lines = [
        f"target matcher >= {TARGET_POINTS_PER_S:,} points/s on one core: "
        f"{'met' if ours_rate >= TARGET_POINTS_PER_S else 'NOT met'} — {ours_rate:,.0f} points/s "
        f"over {matcher.points:,} points ({tally.trips:,} trips at {args.interval_s:g} s, "
        f"inside the monthly run from the database)"
    ]
    if sub["points"]:
        o_rate = sub["points"] / sub["ours_cpu"]
        m_rate = sub["points"] / sub["meili_cpu"]
        print(
            f"same {len(kept)} tracks ({sub['points']:,} points): ours {o_rate:,.0f} points/s "
            f"({sub['points'] / sub['ours_wall']:,.0f} wall), Meili {m_rate:,.0f} points/s "
            f"({sub['points'] / sub['meili_wall']:,.0f} wall); Meili failed on {meili_fail}"
        )
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
    print(
        f"monthly run time: {run_wall:.0f} s wall for {tally.trips:,} trips "
        f"({tally.trips / run_wall:.1f} trips/s, {matcher.points / run_wall:,.0f} points/s "
        f"end to end); loading the month took {load_s:.0f} s"
    )
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
