"""Page speed and live-map latency on a realistic database, each beside its baseline.

Creates its OWN database (``st_bench_web_<pid>``, migrated like production) and fills it with
SQL (seeded): 2,000 vehicles of 10 carriers, 20,000 passengers, 60 social objects, 10,000 trips
over ±15 days around "today" and 1,000,000 GPS positions. Then:

1. **Page server time**: every page, p50/p95 over ``--repeats`` requests, measured in-process
   (the ASGI app through httpx's transport: no network, no browser), *interleaved* with the bare
   JSON API call(s) behind the page on the same data — the baseline of the same run. The machine
   is shared; interleaving makes load drift hit both sides.
2. **Live map**: the app runs under uvicorn; a writer moves all 2,000 vehicles once a second
   (one committed UPSERT of ``vehicle_last_position`` per second, what ingest's committer does),
   an SSE client reads ``/dispatcher/live``; for every vehicle update received, latency =
   receive time − the commit time of the round that wrote it. Baseline: Traccar's old web map
   polled every 15 s (on average 7.5 s behind, 14.25 s at p95).

Targets: p95 < 300 ms server time per page; live-map p95 < 2 s. Usage::

    SOCIALTAXI_SHARED_DATA=/work/shared/data .venv/bin/python bench/web.py [--repeats 30]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
os.environ.setdefault("SOCIALTAXI_MODE", "development")

import httpx  # noqa: E402
import psycopg  # noqa: E402

SERVER = os.environ.get("SOCIALTAXI_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
SHARED = Path(os.environ.get("SOCIALTAXI_SHARED_DATA", Path(_HERE).parents[1] / "shared" / "data"))
NOW = datetime(2026, 3, 16, 7, 0, tzinfo=UTC)  # Monday 10:00 Moscow: "today" of the data
SECRET = "bench-secret-key-for-socialtaxi-web-0123456789abcdef"
SEED = 13
N_VEHICLES, N_CARRIERS, N_PASSENGERS, N_OBJECTS = 2000, 10, 20_000, 60
N_TRIPS, N_POSITIONS = 10_000, 1_000_000
# Murino (the map the pages route on)
LAT0, LAT1, LON0, LON1 = 60.036, 60.068, 30.440, 30.488


def fill(url: str) -> None:
    from db.timeseries import positions_spec, store_for

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"SELECT setseed({SEED / 100})")
        conn.execute(
            "INSERT INTO carriers (name, inn) SELECT 'ООО Перевозчик ' || i,"
            " lpad((4700000000 + i)::text, 10, '0') FROM generate_series(1, %s) i",
            (N_CARRIERS,),
        )
        conn.execute(
            "INSERT INTO vehicles (carrier_id, plate, vehicle_type, seats, wheelchair_places,"
            " mqtt_id) SELECT 1 + i %% %s, 'А' || lpad(i::text, 4, '0') || 'ВС47',"
            " CASE WHEN i %% 5 = 0 THEN 'wheelchair_van' ELSE 'car' END, 4,"
            " CASE WHEN i %% 5 = 0 THEN 1 ELSE 0 END, 'veh-' || i"
            " FROM generate_series(1, %s) i",
            (N_CARRIERS, N_VEHICLES),
        )
        conn.execute(
            "INSERT INTO social_objects (name, object_type, address, lat, lon, radius_m)"
            " SELECT 'Объект ' || i, (ARRAY['medical','mfc','social_fund','hemodialysis'])"
            "[1 + i %% 4], 'Мурино, ул. Тестовая, ' || i,"
            " %s + random() * %s, %s + random() * %s, 150 FROM generate_series(1, %s) i",
            (LAT0, LAT1 - LAT0, LON0, LON1 - LON0, N_OBJECTS),
        )
        conn.execute(
            "INSERT INTO passengers (last_name, first_name, middle_name, birth_date, name_norm,"
            " home_address, home_lat, home_lon)"
            " SELECT (ARRAY['Иванова','Петрова','Смирнова','Кузнецова','Попова'])[1 + i %% 5]"
            " || i, 'Мария', 'Петровна', date '1930-01-01' + (i %% 15000),"
            " lower((ARRAY['Иванова','Петрова','Смирнова','Кузнецова','Попова'])[1 + i %% 5]"
            " || i || ' мария петровна'), 'Мурино, дом ' || i,"
            " %s + random() * %s, %s + random() * %s FROM generate_series(1, %s) i",
            (LAT0, LAT1 - LAT0, LON0, LON1 - LON0, N_PASSENGERS),
        )
        conn.execute(
            "INSERT INTO passenger_phones (passenger_id, phone_norm, is_primary)"
            " SELECT id, (79210000000 + id)::text, true FROM passengers"
        )
        conn.execute(
            "INSERT INTO passenger_benefits (passenger_id, category, valid_from)"
            " SELECT id, 'disabled_2', date '2020-01-01' FROM passengers"
        )
        # 10,000 trips over ±15 days; past ones completed, today's mixed, future booked
        conn.execute(
            "INSERT INTO trips (passenger_id, category, status, vehicle_type, pickup_at,"
            " pickup_address, pickup_lat, pickup_lon, dest_object_id, dest_lat, dest_lon,"
            " vehicle_id, carrier_id, fare_kop, copay_kop)"
            " SELECT 1 + (i * 7) %% %(np)s, 'disabled_2', s.status, 'car', s.at,"
            " 'Мурино, дом ' || i, %(la)s + random() * 0.03, %(lo)s + random() * 0.045,"
            " o.id, o.lat, o.lon, CASE WHEN s.status = 'booked' THEN NULL ELSE v END,"
            " CASE WHEN s.status = 'booked' THEN NULL ELSE 1 + v %% %(nc)s END, 31600, 7900"
            " FROM generate_series(1, %(nt)s) i"
            " CROSS JOIN LATERAL (SELECT %(now)s::timestamptz"
            "   + ((i %% 31) - 15) * interval '1 day' + ((i %% 11) - 3) * interval '1 hour' AS at)"
            "   t0"
            " CROSS JOIN LATERAL (SELECT t0.at, CASE WHEN t0.at < %(now)s - interval '3 hours'"
            "   THEN 'completed' WHEN t0.at < %(now)s + interval '1 day' THEN 'assigned'"
            "   ELSE 'booked' END AS status) s"
            " CROSS JOIN LATERAL (SELECT 1 + (i * 13) %% %(nv)s AS v) vv"
            " JOIN social_objects o ON o.id = 1 + i %% %(no)s",
            {
                "np": N_PASSENGERS, "la": LAT0, "lo": LON0, "nc": N_CARRIERS, "nt": N_TRIPS,
                "now": NOW, "nv": N_VEHICLES, "no": N_OBJECTS,
            },
        )  # fmt: skip
        # 1,000,000 positions: 500 fixes for each of 2,000 vehicles over the last days
        per = N_POSITIONS // N_VEHICLES
        series = store_for(conn, positions_spec())
        series.ensure_range(conn, NOW - timedelta(days=3), NOW + timedelta(days=2))
        conn.execute(
            "INSERT INTO vehicle_positions (vehicle_id, ts, lat, lon, speed_kmh)"
            " SELECT v, %s - (k * 30 + v %% 30) * interval '1 second',"
            " %s + random() * %s, %s + random() * %s, 30"
            " FROM generate_series(1, %s) v CROSS JOIN generate_series(0, %s) k",
            (NOW, LAT0, LAT1 - LAT0, LON0, LON1 - LON0, N_VEHICLES, per - 1),
        )
        conn.execute(
            "INSERT INTO vehicle_last_position (vehicle_id, ts, lat, lon, speed_kmh)"
            " SELECT DISTINCT ON (vehicle_id) vehicle_id, ts, lat, lon, speed_kmh"
            " FROM vehicle_positions ORDER BY vehicle_id, ts DESC"
        )
        conn.execute("ANALYZE")
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM trips), (SELECT count(*) FROM vehicle_positions)"
        ).fetchone()
        print(f"filled: {counts[0]:,} trips, {counts[1]:,} positions, {N_VEHICLES:,} vehicles")


def add_admin(url: str) -> str:
    from web.auth import hash_password, open_session

    with psycopg.connect(url, autocommit=True) as conn:
        uid = conn.execute(
            "INSERT INTO users (login, full_name, password_hash) VALUES ('boss', 'Бенч',"
            " %s) RETURNING id",
            (hash_password("bench-password-123"),),
        ).fetchone()[0]
        for role in ("operator", "dispatcher", "controller", "supervisor", "admin"):
            conn.execute("INSERT INTO user_roles (user_id, role) VALUES (%s, %s)", (uid, role))
        return open_session(conn, user_id=uid, now=NOW, lifetime=timedelta(days=30))[0]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def _csrf(session: str) -> str:
    from web.pages.session import csrf_for

    return csrf_for(session, SECRET)


def pages_and_apis(trip_id: int, passenger_id: int, day: str) -> list[tuple[str, tuple, list]]:
    """(page name, page request, [API requests behind it]); a request = (method, url, body)."""
    start = f"{day}T00:00:00%2B03:00"
    end = f"{day}T23:59:59%2B03:00"
    search = {"q": "+7 921 000-01-23"}  # a phone typed as the passenger says it
    return [
        ("operator: trip list", ("GET", "/operator/trips", None),
         [("GET", "/api/v1/trips?limit=51", None),
          ("GET", "/api/v1/social-objects?limit=500", None)]),
        ("operator: find passenger", ("POST", "/operator/book/search", search),
         [("POST", "/api/v1/passengers/search", {"query": "+7 921 000-01-23"})]),
        ("operator: passenger card", ("GET", f"/operator/book/{passenger_id}", None),
         [("GET", f"/api/v1/passengers/{passenger_id}", None),
          ("GET", f"/api/v1/passengers/{passenger_id}/quota", None)]),
        ("operator: pickup step", ("GET", f"/operator/book/{passenger_id}/pickup", None),
         [("GET", f"/api/v1/passengers/{passenger_id}", None),
          ("GET", "/api/v1/social-objects?limit=500", None)]),
        ("operator: trip page", ("GET", f"/operator/trips/{trip_id}", None),
         [("GET", f"/api/v1/trips/{trip_id}", None),
          ("GET", f"/api/v1/trips/{trip_id}/events", None),
          ("GET", f"/api/v1/trips/{trip_id}/documents", None)]),
        ("dispatcher: live map + day", ("GET", f"/dispatcher?day={day}", None),
         [("GET", "/api/v1/fleet/positions", None),
          ("GET", f"/api/v1/trips?start={start}&end={end}&limit=500", None)]),
        ("controller: findings", ("GET", "/controller", None),
         [("GET", "/api/v1/audit/findings?limit=25", None)]),
        ("admin: vehicles", ("GET", "/admin?kind=vehicles", None),
         [("GET", "/api/v1/vehicles?limit=51", None)]),
        ("admin: passengers", ("GET", "/admin?kind=passengers", None),
         [("GET", "/api/v1/passengers?limit=51", None)]),
        ("admin: rules", ("GET", "/admin/rules", None), [("GET", "/api/v1/auth/me", None)]),
    ]  # fmt: skip


def measure_pages(app, session: str, repeats: int, ids: tuple[int, int]) -> list[str]:
    from fastapi.testclient import TestClient

    results = []
    csrf = _csrf(session)
    day = "2026-03-16"
    with TestClient(app, cookies={"socialtaxi_session": session}) as client:

        def call(req: tuple) -> float:
            method, url, body = req
            t0 = time.perf_counter()
            if method == "GET":
                r = client.get(url)
            elif url.startswith("/api/"):
                r = client.post(url, json=body)
            else:
                r = client.post(url, data=body, headers={"X-CSRF-Token": csrf})
            dt = time.perf_counter() - t0
            assert r.status_code == 200, (url, r.status_code, r.text[:300])
            return dt * 1000

        print(f"\npage server time, {repeats} requests each, interleaved with the API (ms)")
        print(f"{'page':30} {'page p50':>9} {'page p95':>9} {'API p50':>9} {'API p95':>9}")
        worst = 0.0
        for name, page, apis in pages_and_apis(*ids, day):
            call(page)  # warm (templates compiled, caches)
            for a in apis:
                call(a)
            page_t, api_t = [], []
            for _ in range(repeats):
                page_t.append(call(page))
                api_t.append(sum(call(a) for a in apis))
            p95 = pct(page_t, 95)
            worst = max(worst, p95)
            print(
                f"{name:30} {statistics.median(page_t):9.1f} {p95:9.1f}"
                f" {statistics.median(api_t):9.1f} {pct(api_t, 95):9.1f}"
            )
            results.append((name, p95, pct(api_t, 95)))
    slowest = max(results, key=lambda r: r[1])
    verdict = "met" if worst < 300 else "NOT met"
    return [
        f"target page p95 < 300 ms: {verdict} — slowest page {slowest[0]!r} p95 "
        f"{slowest[1]:.0f} ms (its API calls p95 {slowest[2]:.0f} ms); "
        f"{len(results)} pages measured"
    ]


def measure_live(url: str, app, session: str, seconds: float) -> list[str]:
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    while not server.started:
        time.sleep(0.05)
    commits: dict[str, float] = {}  # fix ts (ISO) → commit time (monotonic)
    latencies: list[float] = []
    stop = threading.Event()
    got_snapshot = threading.Event()

    def writer() -> None:
        with psycopg.connect(url) as conn:
            k = 0
            while not stop.is_set():
                k += 1
                ts = NOW + timedelta(seconds=k)
                t_round = time.monotonic()
                conn.execute(
                    "INSERT INTO vehicle_last_position (vehicle_id, ts, lat, lon, speed_kmh,"
                    " updated_at) SELECT id, %s, %s + random() * %s, %s + random() * %s, 30, now()"
                    " FROM vehicles ORDER BY id ON CONFLICT (vehicle_id) DO UPDATE SET"
                    " ts = EXCLUDED.ts, lat = EXCLUDED.lat, lon = EXCLUDED.lon,"
                    " updated_at = EXCLUDED.updated_at",
                    (ts, LAT0, LAT1 - LAT0, LON0, LON1 - LON0),
                )
                conn.commit()
                commits[ts.isoformat()] = time.monotonic()
                stop.wait(max(0.0, 1.0 - (time.monotonic() - t_round)))

    def reader() -> None:
        headers = {"Cookie": f"socialtaxi_session={session}", "Accept": "text/event-stream"}
        with httpx.stream(
            "GET", f"http://127.0.0.1:{port}/dispatcher/live", headers=headers, timeout=None
        ) as r:
            event = None
            for line in r.iter_lines():
                if stop.is_set():
                    break
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event:
                    now_m = time.monotonic()
                    body = json.loads(line[5:])
                    if event == "snapshot":
                        got_snapshot.set()
                        continue
                    for v in body["vehicles"]:
                        t_commit = commits.get(v["ts"])
                        if t_commit is not None:
                            latencies.append(now_m - t_commit)

    rd = threading.Thread(target=reader, daemon=True)
    rd.start()
    got_snapshot.wait(30)
    wr = threading.Thread(target=writer, daemon=True)
    wr.start()
    time.sleep(seconds)
    stop.set()
    wr.join(10)
    rd.join(5)
    server.should_exit = True
    th.join(10)
    n_rounds = len(commits)
    print(f"\nlive map: {N_VEHICLES:,} vehicles at 1 Hz for {seconds:.0f} s ({n_rounds} rounds)")
    if not latencies:
        return ["target live-map p95 < 2 s: NOT met — no updates received"]
    p50, p95 = statistics.median(latencies), pct(latencies, 95)
    expected = n_rounds * N_VEHICLES
    print(
        f"  commit → SSE event: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms,"
        f" max {max(latencies) * 1000:.0f} ms; {len(latencies):,} of {expected:,} updates received"
    )
    print("  baseline (Traccar's old web, 15 s polling): p50 7500 ms, p95 14250 ms")
    verdict = "met" if p95 < 2.0 else "NOT met"
    return [
        f"target live-map p95 < 2 s: {verdict} — commit→event p95 {p95 * 1000:.0f} ms"
        f" (p50 {p50 * 1000:.0f} ms) with {N_VEHICLES:,} vehicles at 1 Hz;"
        f" 15 s polling baseline p95 14250 ms"
    ]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--live-seconds", type=float, default=20.0)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    from config.rules import load_rules
    from config.settings import DEFAULT_RULES_FILE, Settings
    from db import migrate
    from db.seed import sync_rules
    from routing import load_graph
    from web.app import create_app

    name = f"st_bench_web_{os.getpid()}"
    url = f"{SERVER}/{name}"
    migrate.upgrade(url)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            sync_rules(conn, load_rules(DEFAULT_RULES_FILE))
        t0 = time.perf_counter()
        fill(url)
        print(f"fill: {time.perf_counter() - t0:.1f} s")
        session = add_admin(url)
        graph = load_graph(
            SHARED / "osm" / "murino_lo_osmnx.osm", cache_dir=Settings().map_cache_dir
        )
        settings = Settings(
            database_url=url, secret_key=SECRET, db_pool_min=2, db_pool_max=8,
            session_idle_minutes=24 * 60,
        )  # fmt: skip
        with psycopg.connect(url) as conn:
            trip_id = conn.execute("SELECT max(id) FROM trips").fetchone()[0]
            passenger_id = conn.execute("SELECT min(id) FROM passengers").fetchone()[0]
        lines = measure_pages(
            create_app(settings, graph=graph, clock=lambda: NOW), session, args.repeats,
            (trip_id, passenger_id),
        )  # fmt: skip
        lines += measure_live(
            url, create_app(settings, graph=graph, clock=lambda: NOW), session, args.live_seconds
        )
        print()
        for line in lines:
            print(line)
    finally:
        if args.keep:
            print(f"database kept: {url}")
        else:
            with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )
                admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


if __name__ == "__main__":
    main()
