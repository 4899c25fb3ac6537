"""``socialtaxi simulate``: a simulated fleet publishing over MQTT; ``simulate scenarios``
(labelled scenario files) and ``simulate load`` (load mode for benchmarks)."""

from __future__ import annotations

import hashlib
import sys
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


@app.callback()
def simulate(ctx: typer.Context) -> None:
    """Run a simulated fleet (see `socialtaxi simulate --help`)."""
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        sys.exit(0)
