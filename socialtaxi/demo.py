"""``socialtaxi demo``: the whole system on one machine, with no argument.

Load → call → persist: the schema is migrated; the road graph is built (or loaded from its cache)
from the map shipped with the package (Murino, Leningrad Oblast; ``--map`` / ``--place``
override); social objects are taken from the map's own OSM data where it has them (invented on
road nodes where it has none, and said so); a seeded demo data set (:mod:`socialtaxi.demo_data`)
is written through the dispatch services; then the web server, the MQTT ingest, the audit worker
(when the audit has one) and a simulated fleet (``socialtaxi simulate --book-every ...``: it keeps
booking trips through the real booking checks, assigning and driving them, a few with
violations) run as child processes until Ctrl-C, which stops them all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import typer

DEMO_PASSWORD = "demo-1234"


def _osm_objects(path: Path) -> list[dict]:
    """Socially significant objects named in an OSM file (nodes, and ways at their centroid):
    ``{"object_type", "name", "address", "lat", "lon"}``. XML (.osm, .gz, .bz2) is read with
    the standard library (osmnx-written files carry an XML header libosmium refuses); PBF
    with pyosmium."""
    from socialtaxi.demo_data import social_object_from_tags

    found: list[dict] = []

    def add(tags: dict[str, str], lat: float, lon: float) -> None:
        hit = social_object_from_tags(tags)
        if hit is not None:
            code, name, address = hit
            found.append(
                {"object_type": code, "name": name, "address": address, "lat": lat, "lon": lon}
            )

    name = path.name.lower()
    if name.endswith(".pbf"):
        import osmium

        o: Any
        for o in osmium.FileProcessor(str(path)).with_locations():
            if o.is_node() and len(o.tags):
                add(dict(o.tags), o.location.lat, o.location.lon)
            elif o.is_way() and len(o.tags):
                pts = [(n.lat, n.lon) for n in o.nodes if n.location.valid()]
                if pts:
                    add(dict(o.tags), *map(lambda v: sum(v) / len(v), zip(*pts, strict=True)))
        return found
    import bz2
    import gzip
    import xml.etree.ElementTree as ET

    opener = gzip.open if name.endswith(".gz") else bz2.open if name.endswith(".bz2") else open
    coords: dict[str, tuple[float, float]] = {}
    with opener(path, "rb") as f:  # type: ignore[operator]
        for _, el in ET.iterparse(f, events=("end",)):
            if el.tag == "node":
                lat, lon = float(el.get("lat", "nan")), float(el.get("lon", "nan"))
                coords[el.get("id", "")] = (lat, lon)
                tags = {t.get("k", ""): t.get("v", "") for t in el.findall("tag")}
                if tags:
                    add(tags, lat, lon)
                el.clear()
            elif el.tag == "way":
                tags = {t.get("k", ""): t.get("v", "") for t in el.findall("tag")}
                if tags.get("name"):
                    pts = [
                        coords[r] for nd in el.findall("nd") if (r := nd.get("ref", "")) in coords
                    ]
                    if pts:
                        add(tags, *map(lambda v: sum(v) / len(v), zip(*pts, strict=True)))
                el.clear()
    return found


def _map_objects(path: Path | None, graph, rules) -> list[dict]:  # type: ignore[no-untyped-def]
    """The map's own social objects that lie within the service area (near a road)."""
    import numpy as np

    if path is None:
        return []
    try:
        objs = _osm_objects(path)
    except Exception as exc:  # noqa: BLE001 (an unreadable tag section: fall back, say why)
        typer.echo(f"  объекты OSM не прочитаны ({type(exc).__name__}): будут вымышленные")
        return []
    if not objs:
        return []
    from routing.errors import OutOfServiceArea

    lat = np.array([o["lat"] for o in objs])
    lon = np.array([o["lon"] for o in objs])
    keep = np.ones(len(objs), bool)
    try:
        graph.snap(lat, lon, max_dist_m=rules.booking.service_area_snap_m)
    except OutOfServiceArea as exc:
        keep[exc.indices] = False
    return [
        {**o, "radius_m": rules.audit.destination_geofence_m}
        for o, k in zip(objs, keep.tolist(), strict=True)
        if k
    ][:60]


def _seed(conn, *, graph, rules, today: date, seed: int, map_objects: list[dict]) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Write the demo data set once (skipped when the demo operator exists)."""
    from dispatch import models
    from dispatch.errors import DispatchError
    from dispatch.services import booking, registry
    from dispatch.store import users as ustore
    from socialtaxi.demo_data import DEMO_USERS, demo_dataset
    from web.auth import hash_password

    if ustore.get_user_with_hash(conn, login="operator") is not None:
        return {}
    pw = hash_password(DEMO_PASSWORD)
    users = {
        login: ustore.upsert_user(conn, login=login, full_name=name, password_hash=pw, roles=roles)
        for login, name, roles in DEMO_USERS
    }
    admin = users["admin"]
    data = demo_dataset(graph.node_lat, graph.node_lon, today=today, seed=seed)
    carriers = [
        registry.create_entry(
            conn, table="carriers", data=models.CarrierIn(**c), rules=rules, actor=admin
        )
        for c in data.carriers
    ]
    for v in data.vehicles:
        fields = {k: val for k, val in v.items() if k != "carrier"}
        registry.create_entry(
            conn,
            table="vehicles",
            rules=rules,
            actor=admin,
            data=models.VehicleIn(carrier_id=carriers[v["carrier"]].id, **fields),
        )
    for d in data.drivers:
        fields = {k: val for k, val in d.items() if k != "carrier"}
        registry.create_entry(
            conn,
            table="drivers",
            rules=rules,
            actor=admin,
            data=models.DriverIn(carrier_id=carriers[d["carrier"]].id, **fields),
        )
    objects = [
        registry.create_entry(
            conn, table="social_objects", data=models.SocialObjectIn(**o), rules=rules, actor=admin
        )
        for o in (map_objects or data.objects)
    ]
    passengers = [
        registry.create_passenger(conn, data=models.PassengerIn(**p), rules=rules, actor=admin)
        for p in data.passengers
    ]
    # A morning of bookings for tomorrow, each through the full booking checks.
    tz = ZoneInfo(rules.timezone)
    operator = users["operator"]
    booked = 0
    for i, p in enumerate(passengers[:15]):
        allowed = rules.category(p.benefits[0].category).allowed_object_types
        dest = next(
            (o for o in objects[i % len(objects) :] + objects if o.object_type in allowed), None
        )
        if dest is None:
            continue
        local = datetime.combine(today + timedelta(days=1), dtime(8 + i % 10, (i * 20) % 60), tz)
        req = models.TripRequest(
            passenger_id=p.id, destination_id=dest.id, pickup_at=local.astimezone(UTC), companions=0
        )
        try:
            booking.book_trip(
                conn, req=req, rules=rules, graph=graph, actor=operator, now=datetime.now(UTC)
            )
            booked += 1
        except DispatchError:
            continue  # e.g. a passenger whose needs the demo fleet cannot meet
    conn.commit()
    return {
        "passengers": len(passengers),
        "objects": len(objects),
        "vehicles": len(data.vehicles),
        "trips": booked,
    }


def _wait_http(url: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (loopback)
                return resp.status == 200
        except OSError:
            time.sleep(0.5)
    return False


@dataclass(frozen=True)
class Live:
    """What the dispatcher sees when the demo says it is ready."""

    fleet: int  # vehicles with an MQTT id
    vehicles: int  # of them reporting live (a fix within the live map's STALE_S)
    today: int  # trips with a pickup today (local)
    completed: int  # of them completed


def _wait_live(url: str, *, tz: str, timeout_s: float) -> Live:
    """Wait (up to ``timeout_s``) until the fleet has replayed its history: every simulated
    vehicle reports live, as the live map counts it (``web.pages.live.STALE_S``)."""
    import psycopg

    from web.pages.live import STALE_S

    deadline = time.monotonic() + timeout_s
    live = Live(0, 0, 0, 0)
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2) as conn:
                row = conn.execute(
                    "SELECT (SELECT count(*) FROM vehicles WHERE active AND mqtt_id IS NOT NULL),"
                    " (SELECT count(*) FROM vehicle_last_position"
                    "   WHERE ts > now() - make_interval(secs => %s)),"
                    " (SELECT count(*) FROM trips WHERE (pickup_at AT TIME ZONE r.tz)::date"
                    "   = (now() AT TIME ZONE r.tz)::date),"
                    " (SELECT count(*) FROM trips WHERE status = 'completed'"
                    "   AND (pickup_at AT TIME ZONE r.tz)::date = (now() AT TIME ZONE r.tz)::date)"
                    " FROM (SELECT %s::text AS tz) r",
                    (STALE_S, tz),
                ).fetchone()
            if row is not None:
                live = Live(*(int(v) for v in row))
        except psycopg.Error:
            pass
        if (live.fleet and live.vehicles >= live.fleet) or time.monotonic() >= deadline:
            return live
        time.sleep(1.0)


def audit_worker_command() -> list[str] | None:
    """``["audit", "worker"]`` when the audit package registers a ``worker`` command (the hook:
    the demo starts it as soon as it exists, with the demo's map through the settings);
    ``None`` until then."""
    import typer.main

    from socialtaxi.cli import app

    group = typer.main.get_group(app)
    audit = group.commands.get("audit")
    if audit is not None and "worker" in (getattr(audit, "commands", None) or {}):
        return ["audit", "worker"]
    return None


def _stop_all(children: list[subprocess.Popen]) -> None:
    """SIGINT to every child still running; SIGTERM to what still runs after 10 s (a child
    started from a background shell inherits an ignored SIGINT), SIGKILL after 5 s more."""
    for c in children:
        if c.poll() is None:
            c.send_signal(signal.SIGINT)
    for sig, grace_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        deadline = time.monotonic() + grace_s
        for c in children:
            try:
                c.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for c in children:
            if c.poll() is None:
                c.send_signal(sig)
    for c in children:
        c.wait(5)


def register(root: typer.Typer) -> None:
    @root.command("demo")
    def demo(
        map_path: Path = typer.Option(
            None, "--map", help="OSM-файл (.osm, .osm.gz, .osm.bz2, .osm.pbf); по умолчанию Мурино"
        ),
        place: str = typer.Option(
            None, "--place", help="Скачать карту по названию (нужен интернет; затем из кэша)"
        ),
        seed: int = typer.Option(7, help="Зерно генератора демо-данных и имитации"),
        port: int = typer.Option(None, help="Порт веб-сервера"),
        serve: bool = typer.Option(
            True, "--serve/--no-serve", help="Запустить веб, приём телеметрии и автопарк"
        ),
        fleet: bool = typer.Option(True, "--fleet/--no-fleet", help="Запустить имитацию автопарка"),
        interval_s: float = typer.Option(5.0, "--interval", min=1, max=30, help="Период точек, с"),
        history_min: float = typer.Option(
            360,
            "--history",
            min=0,
            help="Автопарк сначала проигрывает последние N минут (поездки, нарушения для аудита)",
        ),
        catch_up_s: float = typer.Option(
            15, "--catch-up", min=1, help="За сколько секунд проиграть историю (--history)"
        ),
        book_every_min: float = typer.Option(
            10.0, "--book-every", help="Новая поездка каждые N минут модельного времени"
        ),
        duration_s: float = typer.Option(
            0, "--duration", help="Остановиться через N секунд (0 — по Ctrl-C)"
        ),
    ) -> None:
        """The whole system on one machine: schema, map, demo data, web, ingest, audit worker
        and a simulated fleet, until Ctrl-C.

        The fleet starts at *now*: it first replays the last ``--history`` minutes within
        ``--catch-up`` seconds (trips booked, assigned, driven and completed then, a share with
        violations, so the audit has findings at once), then runs in real time. The demo says
        it is ready when the vehicles report live positions (``_wait_live``)."""
        from config.rules import load_rules
        from config.settings import get_settings
        from db import DatabaseUnavailable, connect, migrate
        from db.seed import sync_rules
        from routing import RoutingError, SpeedDefaults
        from routing.sources import load_map_source
        from simulators import DEFAULT_MAP
        from socialtaxi.demo_data import DEMO_USERS

        s = get_settings()
        if s.mode != "development":
            typer.echo("Ошибка: демо-режим только для SOCIALTAXI_MODE=development", err=True)
            raise typer.Exit(1)
        if map_path is None and not place:
            map_path = DEFAULT_MAP
        if map_path and not map_path.exists():
            typer.echo(f"Ошибка: файл карты не найден: {map_path}", err=True)
            raise typer.Exit(1)
        source = str(map_path.resolve()) if map_path else place
        rules = load_rules(s.rules_file)
        try:
            migrate.upgrade(s.database_url)
            typer.echo("Схема базы данных актуальна.")
            typer.echo(f"Дорожный граф: {source} ...")
            speeds = SpeedDefaults.from_mapping(s.map_speeds) if s.map_speeds else None
            graph = load_map_source(source, cache_dir=s.map_cache_dir, speeds=speeds, progress=True)
            typer.echo(f"  узлов {graph.node_count}, рёбер {graph.edge_count}")
            with connect(s.database_url) as conn:
                sync_rules(conn, rules)
                today = datetime.now(ZoneInfo(rules.timezone)).date()
                fresh = not _seeded(conn)
                objs: list[dict] = []
                if fresh:
                    osm_file = map_path or _downloaded(place, s.map_cache_dir)
                    objs = _map_objects(osm_file, graph, rules)
                    if objs:
                        typer.echo(f"  социальные объекты из данных карты OSM: {len(objs)}")
                    else:
                        typer.echo(
                            "  в данных карты нет социальных объектов OSM (amenity=clinic, "
                            "pharmacy, ...): объекты придуманы у узлов дорог"
                        )
                made = _seed(
                    conn, graph=graph, rules=rules, today=today, seed=seed, map_objects=objs
                )
                replay_min = _history_to_replay(conn, history_min)
                if replay_min < history_min:
                    typer.echo(
                        f"  история уже записана прошлым запуском: проигрываю {replay_min:.0f} мин"
                    )
                    history_min = replay_min
        except DatabaseUnavailable as exc:
            typer.echo(f"Ошибка: база данных недоступна: {exc}", err=True)
            raise typer.Exit(1) from None
        except RoutingError as exc:
            typer.echo(f"Ошибка: карта: {exc.message}", err=True)
            raise typer.Exit(1) from None
        if made:
            typer.echo("Демо-данные: " + ", ".join(f"{k} {v}" for k, v in made.items()))
        else:
            typer.echo("Демо-данные уже загружены.")
        if not serve:
            return
        port = port or s.web_port
        env = {**os.environ, "SOCIALTAXI_MAP_SOURCE": source, "SOCIALTAXI_WEB_PORT": str(port)}
        cmd = [sys.executable, "-m", "socialtaxi"]
        ingest_id = f"demo-ingest-{abs(hash((s.database_url, s.mqtt_topic_prefix))) % 10**8}"
        specs: list[tuple[str, list[str]]] = [
            ("веб", [*cmd, "web", "--port", str(port)]),
            ("приём телеметрии", [*cmd, "ingest", "--client-id", ingest_id, "--metrics-port", "0"]),
        ]
        worker = audit_worker_command()
        if worker:
            # the worker matches tracks on the same map (without one it checks the corridor only)
            worker_map = source if map_path else str(_downloaded(place, s.map_cache_dir))
            specs.append(("аудит", [*cmd, *worker, "--map", worker_map]))
        if fleet:
            specs.append(
                (
                    "автопарк",
                    [
                        *cmd,
                        "simulate",
                        "--map",
                        source if map_path else str(_downloaded(place, s.map_cache_dir)),
                        "--speed",
                        f"{max(1.0, history_min * 60 / catch_up_s):g}",
                        "--interval",
                        f"{interval_s:g}",
                        "--lookback",
                        f"{history_min:g}",
                        "--book-every",
                        f"{book_every_min:g}",
                        "--seed",
                        str(seed),
                    ],
                )
            )
        children: list[subprocess.Popen] = []
        stop = {"now": False}
        signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
        try:
            for _, argv in specs:
                # own process group: a Ctrl-C in the terminal reaches the demo only, and the
                # demo stops each child itself (none is left behind)
                children.append(subprocess.Popen(argv, env=env, start_new_session=True))
            base = f"http://{s.web_host}:{port}"
            if _wait_http(f"{base}/health", 60):
                typer.echo(f"\nВеб: {base}/  (API: {base}/api/v1/docs)")
                typer.echo(
                    "Логины: "
                    + ", ".join(f"{u} ({name})" for u, name, _ in DEMO_USERS)
                    + f"; пароль у всех {DEMO_PASSWORD}"
                )
                typer.echo(
                    f"MQTT: {s.mqtt_host}:{s.mqtt_port}, топики"
                    f" {s.mqtt_topic_prefix}/vehicles/demo-001/position"
                )
                if fleet:
                    live = _wait_live(s.database_url, tz=rules.timezone, timeout_s=catch_up_s + 60)
                    typer.echo(
                        f"Автопарк: на линии машин {live.vehicles} из {live.fleet}; поездок"
                        f" сегодня {live.today} (завершено {live.completed}); новая поездка"
                        f" каждые {book_every_min:g} мин"
                    )
                typer.echo("Остановить: Ctrl-C\n")
            else:
                typer.echo("Ошибка: веб-сервер не запустился", err=True)
                stop["now"] = True
            started = time.monotonic()
            while not stop["now"]:
                dead = [
                    name
                    for (name, _), c in zip(specs, children, strict=True)
                    if c.poll() is not None
                ]
                if dead:
                    typer.echo(f"Ошибка: процесс демо завершился: {', '.join(dead)}", err=True)
                    break
                if duration_s and time.monotonic() - started >= duration_s:
                    break
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            _stop_all(children)
        failed = [c.returncode for c in children if c.returncode not in (0, -2, -15, 130)]
        if failed:
            raise typer.Exit(1)


def _history_to_replay(conn, history_min: float) -> float:  # type: ignore[no-untyped-def]
    """Minutes of history the fleet may replay without going over the fixes an earlier demo run
    wrote into this database (a vehicle would then report two places at the same moments)."""
    last = conn.execute("SELECT max(ts) FROM vehicle_positions WHERE ts <= now()").fetchone()[0]
    if last is None:
        return history_min
    since_min = (datetime.now(UTC) - last).total_seconds() / 60
    return max(0.0, min(history_min, since_min))


def _seeded(conn) -> bool:  # type: ignore[no-untyped-def]
    from dispatch.store import users as ustore

    return ustore.get_user_with_hash(conn, login="operator") is not None


def _downloaded(place: str | None, cache_dir: Path) -> Path | None:
    if not place:
        return None
    from routing.sources import place_download_path

    return place_download_path(place, cache_dir)
