"""``socialtaxi simulate``: a simulated fleet publishing over MQTT; ``simulate scenarios``
(labelled scenario files) and ``simulate load`` (load mode for benchmarks)."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import Any

import typer

from simulators import DEFAULT_MAP

app = typer.Typer(
    help="Имитация автопарка: живой парк, сценарии с эталонной разметкой, нагрузка.",
    invoke_without_command=True,
)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="simulate")


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"Ошибка: {message}", err=True)
    raise typer.Exit(code)


def load_graph_or_fail(map_path: Path | None) -> tuple[Any, Path]:
    """The road graph of ``map_path`` (default: the shipped map); one clear line on failure."""
    from config.settings import get_settings
    from routing import RoutingError
    from routing.sources import load_map_source

    path = (map_path or DEFAULT_MAP).expanduser()
    if not path.is_file():
        _fail(f"файл карты не найден: {path}")
    try:
        return load_map_source(str(path.resolve()), cache_dir=get_settings().map_cache_dir), path
    except RoutingError as exc:
        _fail(f"карту не прочитать ({path.name}): {exc.message}")
    except (OSError, ValueError) as exc:  # a corrupt file the importer does not explain
        _fail(f"карту не прочитать ({path.name}): {exc}")
    raise AssertionError  # unreachable


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@app.command("scenarios")
def scenarios_cmd(
    map_path: Path = typer.Option(None, "--map", help="OSM-файл (по умолчанию — карта Мурино)"),
    trips: int = typer.Option(40, "--trips", min=1, help="Число поездок"),
    seed: int = typer.Option(7, "--seed", help="Зерно генератора"),
    out: Path = typer.Option(..., "--out", help="Куда записать сценарий (.json)"),
    day: str = typer.Option("2026-03-02", "--day", help="Дата поездок (ГГГГ-ММ-ДД)"),
    kinds: str = typer.Option(None, "--kinds", help="Виды через запятую (по умолчанию все)"),
) -> None:
    """Write a labelled scenario file (docs/scenarios.md): trips as booked, fixes and events as
    published, truth per audit rule. Same seed and map → the same file, byte for byte."""
    import orjson

    from config.rules import RulesError, load_rules
    from config.settings import get_settings
    from simulators.scenarios import KINDS, ScenarioError, ScenarioOptions, generate

    try:
        the_day = date.fromisoformat(day)
    except ValueError:
        _fail(f"неверная дата {day!r}: ожидается ГГГГ-ММ-ДД")
    chosen = tuple(k.strip() for k in kinds.split(",") if k.strip()) if kinds else KINDS
    try:
        rules = load_rules(get_settings().rules_file)
    except RulesError as exc:
        _fail(str(exc))
    graph, path = load_graph_or_fail(map_path)
    opts = ScenarioOptions(
        trips=trips,
        seed=seed,
        day=the_day,
        kinds=chosen,
        map_name=path.name,
        map_sha256=_sha256(path),
    )
    try:
        doc = generate(graph, rules, opts)
    except ScenarioError as exc:
        _fail(str(exc))
    data = orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
    try:
        out.write_bytes(data)
    except OSError as exc:
        _fail(f"не удалось записать {out}: {exc.strerror}")
    counts: dict[str, int] = {}
    for t in doc["trips"]:
        counts[t["kind"]] = counts.get(t["kind"], 0) + 1
    typer.echo(
        f"Сценарий: {len(doc['trips'])} поездок, {sum(len(t['fixes']) for t in doc['trips']):,}"
        f" точек → {out} ({len(data) / 1e6:.1f} МБ)"
    )
    typer.echo("  " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@app.command("load")
def load_cmd(
    vehicles: int = typer.Option(5000, "--vehicles", min=1, help="Число машин"),
    rate_hz: float = typer.Option(1.0, "--rate", min=0.01, help="Точек в секунду на машину"),
    duration_s: float = typer.Option(30.0, "--duration", min=1, help="Длительность, с"),
    seed: int = typer.Option(7, "--seed"),
    id_format: str = typer.Option("load-{:05d}", "--id-format", help="MQTT id машины по номеру"),
    prefix: str = typer.Option(None, "--prefix", help="Префикс топиков (по умолчанию из настроек)"),
    port: int = typer.Option(None, "--port", help="Порт брокера (по умолчанию из настроек)"),
    paho: bool = typer.Option(False, "--paho", help="Публиковать через paho (для сравнения)"),
    as_json: bool = typer.Option(False, "--json", help="Итог одной строкой JSON"),
    map_path: Path = typer.Option(None, "--map", help="Расставить машины по узлам карты"),
) -> None:
    """Load mode: many vehicles at a fixed rate from one process; prints exactly how many fixes
    the broker acknowledged (bench/ingest.py checks the database against it)."""
    import orjson

    from config.settings import get_settings
    from simulators.services.load import run_load
    from telemetry.publish import BrokerGone

    s = get_settings()
    lat = lon = None
    if map_path is not None:
        graph, _ = load_graph_or_fail(map_path)
        lat, lon = graph.node_lat, graph.node_lon
    try:
        res = run_load(
            host=s.mqtt_host,
            port=port or s.mqtt_port,
            prefix=prefix or s.mqtt_topic_prefix,
            vehicles=vehicles,
            rate_hz=rate_hz,
            duration_s=duration_s,
            seed=seed,
            id_format=id_format,
            node_lat=lat,
            node_lon=lon,
            paho=paho,
        )
    except (BrokerGone, ConnectionError) as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(orjson.dumps(res.as_dict()).decode())
        return
    typer.echo(
        f"Опубликовано точек: {res.acknowledged:,} (подтверждено брокером; отправлено"
        f" {res.published:,}) за {res.last_ack - res.first_publish:.1f} с —"
        f" {res.achieved_per_s:,.0f} точек/с при цели {vehicles * rate_hz:,.0f}"
    )


def default_start(now: Any, speed: float, lookback_min: float, rules: Any) -> Any:
    """Where the simulated clock starts: ``lookback_min`` before ``now`` when accelerated (it
    catches up with real time). With fixed service hours, it moves back (15 min at a time, at
    most two days) until trips booked then — pickup after the lead time and up to an hour more —
    fall inside the hours, so the fleet's bookings work at any hour of the night."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    if speed <= 1:
        return now
    start = now - timedelta(minutes=lookback_min)
    b = rules.booking
    if b.round_the_clock or b.service_start is None or b.service_end is None:
        return start
    tz = ZoneInfo(rules.timezone)

    def open_at(t: Any) -> bool:
        local = t.astimezone(tz).time()
        if b.service_start < b.service_end:
            return bool(b.service_start <= local < b.service_end)
        return bool(local >= b.service_start or local < b.service_end)  # overnight window

    lead = timedelta(minutes=b.min_lead_minutes)
    for _ in range(48 * 4):
        if open_at(start + lead + timedelta(minutes=5)) and open_at(
            start + lead + timedelta(minutes=60)
        ):
            return start
        start -= timedelta(minutes=15)
    return now - timedelta(minutes=lookback_min)


@app.callback()
def simulate(
    ctx: typer.Context,
    vehicles: str = typer.Option(
        None,
        "--vehicles",
        help="Число машин (первые N активных) или их MQTT id через запятую (по умолчанию все)",
    ),
    scenario: Path = typer.Option(None, "--scenario", help="Проиграть файл сценария"),
    interval_s: float = typer.Option(5.0, "--interval", min=1, max=30, help="Период точек, с"),
    speed: float = typer.Option(1.0, "--speed", min=1, help="Ускорение времени (30 — в 30 раз)"),
    lookback_min: float = typer.Option(
        180, "--lookback", help="При ускорении: начать на столько минут раньше (догоняет время)"
    ),
    seed: int = typer.Option(7, "--seed"),
    duration_s: float = typer.Option(0, "--duration", help="Остановиться через N с (0 — Ctrl-C)"),
    map_path: Path = typer.Option(None, "--map", help="OSM-файл (по умолчанию — карта Мурино)"),
    book_every_min: float = typer.Option(
        0, "--book-every", help="Бронировать и назначать поездку каждые N минут модели (0 — нет)"
    ),
    violations: float = typer.Option(0.15, "--violations", min=0, max=1, help="Доля нарушений"),
    credentials: Path = typer.Option(
        None,
        "--credentials",
        help="Пароли MQTT машин: строки «mqtt_id пароль» (как для deploy/mosquitto/make-passwd.sh);"
        " без файла — логин машины без пароля (локальный анонимный брокер)",
    ),
) -> None:
    """Run a live simulated fleet: vehicles drive their assigned trips (or a scenario file) and
    publish fixes and events over MQTT until Ctrl-C."""
    if ctx.invoked_subcommand is not None:
        return
    import signal
    import threading
    from datetime import UTC, datetime

    from config.rules import RulesError, load_rules
    from config.settings import get_settings
    from db import DatabaseUnavailable
    from simulators.publish import CredentialsError, VehiclePublishers, read_credentials
    from simulators.schedule import SimClock
    from simulators.services.fleet import Fleet, FleetOptions, ScenarioFileError

    s = get_settings()
    try:
        rules = load_rules(s.rules_file)
    except RulesError as exc:
        _fail(str(exc))
    graph, _ = load_graph_or_fail(map_path)
    real = datetime.now(UTC)
    start = default_start(real, speed, lookback_min, rules)
    clock = SimClock(sim_start=start, real_start=real, speed=speed)
    try:
        secrets = read_credentials(credentials) if credentials else None
    except CredentialsError as exc:
        _fail(str(exc))
    # each vehicle on its own login and client id, as the production ACL (%u) expects
    pub = VehiclePublishers(
        s.mqtt_host, s.mqtt_port, prefix=s.mqtt_topic_prefix, credentials=secrets
    )
    opts = FleetOptions(
        prefix=s.mqtt_topic_prefix,
        interval_s=interval_s,
        seed=seed,
        violation_share=violations,
        book_every_s=book_every_min * 60 or None,
    )
    fleet = Fleet(
        graph=graph,
        rules=rules,
        publisher=pub,
        clock=clock,
        opts=opts,
        db_url=None if scenario else s.database_url,
        echo=lambda line: typer.echo(line, err=line.startswith("Ошибка")),
    )
    try:
        if scenario:
            n = fleet.load_scenario(scenario, start)
            typer.echo(f"Сценарий {scenario.name}: поездок {n}, машин {len(fleet.vehicles)}")
        else:
            from db import connect

            with connect(s.database_url) as conn:
                if vehicles and vehicles.strip().isdigit():
                    fleet.load_vehicles(conn, None, limit=int(vehicles))
                else:
                    ids = [v.strip() for v in (vehicles or "").split(",") if v.strip()]
                    fleet.load_vehicles(conn, ids or None)
            if not fleet.vehicles:
                _fail("нет машин для имитации (нужны активные машины с MQTT id)")
        pub.open(fleet.vehicles)
        if not pub.wait_connected(3):
            typer.echo(
                f"Брокер {s.mqtt_host}:{s.mqtt_port} недоступен или отказал машинам в"
                " подключении: точки копятся и уйдут после подключения",
                err=True,
            )
        if not scenario:
            typer.echo(
                f"Имитация: машин {len(fleet.vehicles)}, точки каждые {interval_s:g} с,"
                f" ускорение ×{speed:g}, модельное время с {start.isoformat(timespec='seconds')};"
                " каждая машина под своим логином MQTT (её mqtt_id)"
            )
    except ScenarioFileError as exc:
        pub.close(flush_s=0)
        _fail(str(exc))
    except DatabaseUnavailable as exc:
        pub.close(flush_s=0)
        _fail(f"база данных недоступна: {exc}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        counters = fleet.run(stop, duration_s=duration_s, shifts=scenario is None)
    except KeyboardInterrupt:
        counters = fleet.counters
    finally:
        # what the broker has not acknowledged yet is re-sent until it is (or 60 s pass)
        if pub.pending and not pub.wait_all(60):
            typer.echo(
                f"Ошибка: брокер не подтвердил {pub.pending:,} сообщений (недоступен)", err=True
            )
        pub.close(flush_s=0)
    typer.echo(
        f"Опубликовано: точек {counters.fixes:,}, событий {counters.events:,} (сообщений"
        f" {counters.messages:,}, подтверждено брокером {pub.acknowledged:,});"
        f" поездок начато {counters.trips_started}, забронировано {counters.trips_booked}"
    )
