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
