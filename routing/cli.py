"""``socialtaxi map ...``: road graph import, download, inspection and a test route."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Дорожный граф OpenStreetMap: импорт и загрузка.", no_args_is_help=True)

NetworkOpt = Annotated[
    str,
    typer.Option(
        "--network-type", help="drive_service (с дворовыми проездами) или drive (без них)"
    ),
]
SpeedOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--speed",
        help="Скорость по умолчанию, км/ч: urban_kmh=60, rural_kmh=90, residential=30, ...",
    ),
]
CacheOpt = Annotated[
    Path | None, typer.Option("--cache-dir", help="Каталог кэша (по умолчанию из настроек)")
]


profile_app = typer.Typer(
    help="Профили скоростей (map calibrate): список, включение, выключение.",
    no_args_is_help=True,
)
app.add_typer(profile_app, name="profile")

DatabaseOpt = Annotated[str | None, typer.Option("--database-url", help="По умолчанию из настроек")]


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="map")


def _fail(message: str) -> None:
    typer.echo(f"Ошибка: {message}", err=True)
    raise typer.Exit(1)


def _speeds(pairs: list[str] | None):  # type: ignore[no-untyped-def]
    from config.settings import get_settings
    from routing.speeds import SpeedDefaults

    values: dict[str, float] = dict(getattr(get_settings(), "map_speeds", None) or {})
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        try:
            values[key.strip()] = float(value)
        except ValueError:
            _fail(f"неверная скорость {pair!r}: ожидается ключ=число")
        if not sep:
            _fail(f"неверная скорость {pair!r}: ожидается ключ=число")
    try:
        return SpeedDefaults.from_mapping(values)
    except (TypeError, ValueError) as exc:
        _fail(f"неверные скорости: {exc}")


def _cache_dir(cache_dir: Path | None) -> Path:
    from config.settings import get_settings

    return cache_dir if cache_dir is not None else get_settings().map_cache_dir


def _describe(graph) -> str:  # type: ignore[no-untyped-def]
    lat0, lon0, lat1, lon1 = graph.bounds
    return (
        f"Граф: узлов {graph.node_count:,}, рёбер {graph.edge_count:,}, "
        f"сокращений {graph.hierarchy.shortcut_count:,}; "
        f"границы {lat0:.4f},{lon0:.4f} – {lat1:.4f},{lon1:.4f}; "
        f"память {graph.nbytes / 2**20:.1f} МБ"
    )


@app.command("import")
def import_cmd(
    path: Annotated[
        Path, typer.Argument(help="Файл OSM: .osm, .osm.xml, .osm.gz, .osm.bz2, .osm.pbf")
    ],
    cache_dir: CacheOpt = None,
    network_type: NetworkOpt = "drive_service",
    speed: SpeedOpt = None,
    addresses: Annotated[
        bool,
        typer.Option(
            "--addresses/--no-addresses",
            help="Загрузить адреса карты (addr:*, улицы, населённые пункты) в адресный поиск БД",
        ),
    ] = True,
) -> None:
    """Build the drivable graph of an OSM file and cache it (always rebuilds); load the file's
    addresses into the database's offline address index."""
    from routing.errors import RoutingError
    from routing.store import import_graph

    try:
        graph = import_graph(
            path,
            cache_dir=_cache_dir(cache_dir),
            speeds=_speeds(speed),
            network_type=network_type,  # type: ignore[arg-type]
            progress=True,
        )
    except (RoutingError, ValueError) as exc:
        _fail(getattr(exc, "message", str(exc)) + f" ({exc})")
    typer.echo(_describe(graph))
    typer.echo(f"Кэш: {graph.meta['cache_path']} (построен за {graph.meta['build_s']} с)")
    if addresses:
        _import_addresses(path)


def _import_addresses(path: Path) -> None:
    import psycopg

    from config.settings import get_settings
    from db.connect import DatabaseUnavailable, connect
    from routing.address_store import import_addresses
    from routing.errors import RoutingError

    try:
        with connect(get_settings().database_url) as conn:
            n = import_addresses(conn, path, progress=True)
            conn.commit()
    except DatabaseUnavailable as exc:
        _fail(f"адреса не загружены: база данных недоступна ({exc}); или укажите --no-addresses")
    except psycopg.errors.UndefinedTable:
        _fail("адреса не загружены: нет таблицы addresses — выполните «socialtaxi db upgrade»")
    except RoutingError as exc:
        _fail(f"{exc.message} ({exc})")
    typer.echo(f"Адресов загружено в поиск: {n:,}")


@app.command("fetch")
def fetch_cmd(
    place: Annotated[
        str,
        typer.Option("--place", help="Территория, напр. «Гатчинский район, Ленинградская область»"),
    ],
    out: Annotated[Path | None, typer.Option("--out", help="Куда сохранить OSM XML")] = None,
    cache_dir: CacheOpt = None,
    network_type: NetworkOpt = "drive_service",
    speed: SpeedOpt = None,
) -> None:
    """Download a place's roads with osmnx (needs internet), save OSM XML, then import it."""
    from routing import _io
    from routing.errors import RoutingError
    from routing.sources import place_download_path
    from routing.store import import_graph

    directory = _cache_dir(cache_dir)
    target = out or place_download_path(place, directory)
    try:
        _io.fetch_place(place, target, network_type=network_type)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - network, geocoding and Overpass errors vary
        _fail(f"не удалось загрузить «{place}»: {exc}")
    typer.echo(f"Загружено: {target}")
    try:
        graph = import_graph(
            target,
            cache_dir=directory,
            speeds=_speeds(speed),
            network_type=network_type,  # type: ignore[arg-type]
            progress=True,
        )
    except RoutingError as exc:
        _fail(f"{exc.message} ({exc})")
    typer.echo(_describe(graph))


@app.command("info")
def info_cmd(
    path: Annotated[Path, typer.Argument(help="Файл OSM или кэш .graph.npz")],
    cache_dir: CacheOpt = None,
    network_type: NetworkOpt = "drive_service",
    speed: SpeedOpt = None,
) -> None:
    """Load a graph (from the cache when present) and describe it."""
    from routing.errors import RoutingError
    from routing.store import load_graph

    try:
        graph = load_graph(
            path,
            cache_dir=_cache_dir(cache_dir),
            speeds=_speeds(speed),
            network_type=network_type,  # type: ignore[arg-type]
            progress=True,
        )
    except RoutingError as exc:
        _fail(f"{exc.message} ({exc})")
    typer.echo(_describe(graph))


@app.command("route")
def route_cmd(
    path: Annotated[Path, typer.Argument(help="Файл OSM или кэш .graph.npz")],
    orig: Annotated[str, typer.Option("--from", help="Откуда: широта,долгота")],
    dest: Annotated[str, typer.Option("--to", help="Куда: широта,долгота")],
    cache_dir: CacheOpt = None,
    geojson: Annotated[bool, typer.Option("--geojson", help="Вывести GeoJSON")] = False,
) -> None:
    """Print the fastest route between two points."""
    import json

    from routing.errors import RoutingError
    from routing.store import load_graph

    def point(text: str) -> tuple[float, float]:
        try:
            lat, lon = (float(v) for v in text.split(","))
        except ValueError:
            _fail(f"неверная точка {text!r}: ожидается широта,долгота")
        return lat, lon

    try:
        graph = load_graph(path, cache_dir=_cache_dir(cache_dir), progress=True)
        route = graph.route(point(orig), point(dest))
    except RoutingError as exc:
        _fail(f"{exc.message} ({exc})")
    if geojson:
        typer.echo(json.dumps(route.to_geojson(), ensure_ascii=False))
    else:
        typer.echo(
            f"Расстояние {route.dist_m / 1000:.2f} км, время {route.duration_s / 60:.1f} мин, "
            f"узлов {len(route.nodes)}"
        )


def _day(text: str, what: str, zone):  # type: ignore[no-untyped-def]
    """A date (the start of that local day in ``zone``) or an ISO timestamp (its own zone, or
    ``zone`` without one), as an aware datetime."""
    from datetime import date, datetime

    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=zone)
        ts = datetime.fromisoformat(text)
    except ValueError:
        _fail(f"неверная дата {what} {text!r}: ожидается ГГГГ-ММ-ДД или ISO-время")
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=zone)


@app.command("calibrate")
def calibrate_cmd(
    date_from: Annotated[
        str, typer.Option("--from", help="Начало периода: ГГГГ-ММ-ДД (местное время) или ISO")
    ],
    date_to: Annotated[
        str, typer.Option("--to", help="Конец периода (не включая): ГГГГ-ММ-ДД или ISO")
    ],
    map_file: Annotated[
        Path | None,
        typer.Option("--map", help="Файл OSM графа (по умолчанию map_source из настроек)"),
    ] = None,
    min_count: Annotated[
        int, typer.Option("--min-count", min=1, help="Минимум проездов ребра в корзине")
    ] = 20,
    cache_dir: CacheOpt = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="По умолчанию из настроек")
    ] = None,
) -> None:
    """Calibrate speeds from the completed trips' tracks of a period; store a new profile.

    Load the fixes → map-match each trip (``routing.matching``) → edge traversals → pool by
    class/edge and hour of the week (``routing.calibration``) → store as a new version.
    """
    from zoneinfo import ZoneInfo

    from config.rules import load_rules
    from config.settings import get_settings
    from db.connect import connect
    from routing import calibration as cal
    from routing.errors import RoutingError
    from routing.matching import match_track
    from routing.profile_store import completed_trip_tracks, save_profile
    from routing.sources import load_map_source

    settings = get_settings()
    zone = ZoneInfo(load_rules(settings.rules_file).timezone)  # the service's local time
    start, end = _day(date_from, "--from", zone), _day(date_to, "--to", zone)
    if end <= start:
        _fail("конец периода должен быть позже начала")
    source = str(map_file) if map_file is not None else settings.map_source
    try:
        graph = load_map_source(source, cache_dir=_cache_dir(cache_dir), speeds=_speeds(None))
    except RoutingError as exc:
        _fail(f"{exc.message} ({exc})")
    offset = start.utcoffset()
    utc_offset_s = offset.total_seconds() if offset is not None else 0.0
    parts: list[cal.Traversals] = []
    trips = fixes = 0
    with connect(database_url or settings.database_url) as conn:
        for track in completed_trip_tracks(conn, start=start, end=end):
            matched = match_track(graph, track.lat, track.lon, track.t_s)
            parts.append(cal.traversals(graph, matched, track.t_s, utc_offset_s=utc_offset_s))
            trips += 1
            fixes += int(track.t_s.size)
        obs = cal.concat(parts)
        if len(obs) == 0:
            _fail("за период нет завершённых поездок с отметками на карте: профиль не создан")
        profile = cal.calibrate(graph, obs, min_count=min_count)
        version = save_profile(
            conn,
            profile,
            map_source=str(graph.meta.get("source", source)),
            map_digest=str(graph.meta.get("source_digest", "")),
            period_from=start,
            period_to=end,
            trips=trips,
            fixes=fixes,
        )
        conn.commit()
    n_edges = int((profile.edge_hour == cal.ALL_HOURS).sum())
    n_hours = int((profile.class_hour != cal.ALL_HOURS).sum())
    typer.echo(
        f"Профиль скоростей № {version}: поездок {trips}, отметок {fixes:,}, "
        f"проездов рёбер {len(obs):,}; рёбер со своей скоростью {n_edges:,}, "
        f"корзин «класс × час недели» {n_hours:,} (минимум {min_count})"
    )
    for name, h, n, sp, bs in profile.class_table():
        if h == cal.ALL_HOURS:
            typer.echo(f"  {name:<16} {sp:6.1f} км/ч (модель {bs:5.1f}), проездов {n:,}")


def _profile_conn(database_url: str | None):  # type: ignore[no-untyped-def]
    from config.settings import get_settings
    from db.connect import DatabaseUnavailable, connect

    try:
        return connect(database_url or get_settings().database_url)
    except DatabaseUnavailable as exc:
        _fail(f"база данных недоступна: {exc}")


@profile_app.command("list")
def profile_list_cmd(database_url: DatabaseOpt = None) -> None:
    """Stored speed profiles, newest first; the active one is marked with who and when."""
    from routing.profile_store import list_profiles

    with _profile_conn(database_url) as conn:
        rows = list_profiles(conn)
    if not rows:
        typer.echo("Профилей скоростей нет (создаются командой «socialtaxi map calibrate»).")
        return
    for p in rows:
        mark = "*" if p.active else " "
        typer.echo(
            f"{mark} № {p.version}: {p.period_from:%Y-%m-%d}…{p.period_to:%Y-%m-%d}, "
            f"поездок {p.trips}, проездов рёбер {p.traversals:,}, минимум {p.min_count}; "
            f"карта {Path(p.map_source).name}; создан {p.created_at:%Y-%m-%d %H:%M} "
            f"({p.created_by or '—'})"
        )
        if p.active and p.activated_at is not None:
            typer.echo(f"    включён {p.activated_at:%Y-%m-%d %H:%M} ({p.activated_by})")
    if not any(p.active for p in rows):
        typer.echo("Включённого профиля нет: маршруты по скоростям модели.")


@profile_app.command("activate")
def profile_activate_cmd(
    version: Annotated[int, typer.Argument(help="Номер профиля (map profile list)")],
    database_url: DatabaseOpt = None,
) -> None:
    """Route on profile VERSION from now on (web, planner and audit pick it up at their next
    request); the change is recorded with who and when."""
    from routing.profile_store import UnknownProfile, activate_profile

    with _profile_conn(database_url) as conn:
        try:
            activate_profile(conn, version)
        except UnknownProfile:
            _fail(f"профиля скоростей № {version} нет (см. «socialtaxi map profile list»)")
        conn.commit()
    typer.echo(f"Профиль скоростей № {version} включён: маршруты по его скоростям часа недели.")


@profile_app.command("deactivate")
def profile_deactivate_cmd(database_url: DatabaseOpt = None) -> None:
    """Route on the model's speeds again (recorded with who and when)."""
    from routing.profile_store import deactivate_profile

    with _profile_conn(database_url) as conn:
        changed = deactivate_profile(conn)
        conn.commit()
    if changed:
        typer.echo("Профиль скоростей выключен: маршруты по скоростям модели.")
    else:
        typer.echo("Включённого профиля не было: маршруты и так по скоростям модели.")
