"""``socialtaxi demo``: run the system as far as it exists on a map given as an OSM file.

Load → call → persist: the schema is migrated, the road graph is built (or loaded from its cache),
a seeded demo data set (:mod:`socialtaxi.demo_data`) is written through the dispatch services, a
few trips are booked for tomorrow, then the web server and the MQTT ingest run as child processes
until Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

import typer

DEMO_PASSWORD = "demo-1234"


def _seed(conn, *, graph, rules, today: date, seed: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
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
        for o in data.objects
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


def register(root: typer.Typer) -> None:
    @root.command("demo")
    def demo(
        map_path: Path = typer.Option(
            None, "--map", help="OSM-файл (.osm, .osm.gz, .osm.bz2, .osm.pbf)"
        ),
        place: str = typer.Option(
            None, "--place", help="Скачать карту по названию (нужен интернет)"
        ),
        seed: int = typer.Option(7, help="Зерно генератора демо-данных"),
        port: int = typer.Option(None, help="Порт веб-сервера"),
        serve: bool = typer.Option(
            True, "--serve/--no-serve", help="Запустить веб и приём телеметрии"
        ),
        duration_s: float = typer.Option(
            0, "--duration", help="Остановиться через N секунд (0 — по Ctrl-C)"
        ),
    ) -> None:
        """Migrate, import the map, seed demo data, then run web and ingest until Ctrl-C."""
        from config.rules import load_rules
        from config.settings import get_settings
        from db import DatabaseUnavailable, connect, migrate
        from db.seed import sync_rules
        from routing import RoutingError, SpeedDefaults
        from routing.sources import load_map_source
        from socialtaxi.demo_data import DEMO_USERS

        s = get_settings()
        if s.mode != "development":
            typer.echo("Ошибка: демо-режим только для SOCIALTAXI_MODE=development", err=True)
            raise typer.Exit(1)
        if not (map_path or place):
            typer.echo("Ошибка: укажите карту: --map ФАЙЛ.osm или --place «название»", err=True)
            raise typer.Exit(1)
        source = str(map_path.resolve()) if map_path else place
        if map_path and not map_path.exists():
            typer.echo(f"Ошибка: файл карты не найден: {map_path}", err=True)
            raise typer.Exit(1)
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
                made = _seed(conn, graph=graph, rules=rules, today=today, seed=seed)
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
        children = [
            subprocess.Popen([*cmd, "web", "--port", str(port)], env=env),
            subprocess.Popen([*cmd, "ingest"], env=env),
        ]
        stop = {"now": False}
        signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
        try:
            base = f"http://{s.web_host}:{port}"
            if _wait_http(f"{base}/health", 60):
                logins = ", ".join(u for u, _, _ in DEMO_USERS)
                typer.echo(f"\nВеб: {base}/api/v1/docs  (логины: {logins}; пароль {DEMO_PASSWORD})")
                typer.echo(
                    f"MQTT: {s.mqtt_host}:{s.mqtt_port},"
                    f" топики {s.mqtt_topic_prefix}/vehicles/demo-001/position"
                )
                typer.echo("Остановить: Ctrl-C\n")
            else:
                typer.echo("Ошибка: веб-сервер не запустился", err=True)
                stop["now"] = True
            started = time.monotonic()
            while not stop["now"]:
                if any(c.poll() is not None for c in children):
                    typer.echo("Ошибка: процесс демо завершился", err=True)
                    break
                if duration_s and time.monotonic() - started >= duration_s:
                    break
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for c in children:
                if c.poll() is None:
                    c.send_signal(signal.SIGINT)
            for c in children:
                try:
                    c.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    c.kill()
        failed = [c.returncode for c in children if c.returncode not in (0, -2, -15, 130)]
        if failed:
            raise typer.Exit(1)
