"""The ``socialtaxi`` command: one sub-command group per package.

Each domain package owns its own Typer group in ``<package>/cli.py``; this module only mounts them
and maps known errors to one clear line (no traceback) and a non-zero exit code.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime

import typer

from config.rules import RulesError, load_rules
from config.settings import SettingsError, get_settings
from db.connect import DatabaseUnavailable, connect

app = typer.Typer(
    name="socialtaxi",
    help="Социальное такси: диспетчеризация, GPS-мониторинг и аудит поездок.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(
    help="Схема базы данных: миграции, справочники, обслуживание.", no_args_is_help=True
)
app.add_typer(db_app, name="db")


def fail(message: str, code: int = 1) -> None:
    """Print one line to stderr and exit."""
    typer.echo(f"Ошибка: {message}", err=True)
    raise typer.Exit(code)


def _setup_logging() -> None:
    level = get_settings().log_level.upper()
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (idempotent); creates the database if it does not exist."""
    from db import migrate

    s = get_settings()
    try:
        applied = migrate.upgrade(
            s.database_url,
            context={
                "retention_days": s.positions_retention_days,
                "compress_after_days": s.positions_compress_after_days,
            },
        )
    except DatabaseUnavailable as exc:
        fail(f"база данных недоступна: {exc}")
    except migrate.MigrationError as exc:
        fail(str(exc))
    if applied:
        typer.echo(f"Применены миграции: {', '.join(applied)}")
    else:
        typer.echo("Схема актуальна, изменений нет.")


@db_app.command("status")
def db_status() -> None:
    """List migrations and whether each is applied."""
    from db import migrate

    try:
        rows = migrate.status(get_settings().database_url)
    except DatabaseUnavailable as exc:
        fail(f"база данных недоступна: {exc}")
    for version, done in rows:
        typer.echo(f"{'[x]' if done else '[ ]'} {version}")


@db_app.command("seed")
def db_seed() -> None:
    """Load reference data from the rules file (benefit categories)."""
    from db.seed import sync_rules

    s = get_settings()
    try:
        rules = load_rules(s.rules_file)
        with connect(s.database_url) as conn:
            n = sync_rules(conn, rules)
    except (DatabaseUnavailable, RulesError) as exc:
        fail(str(exc))
    typer.echo(f"Категорий льготников загружено: {n} (правила {rules.version})")


@db_app.command("maintain")
def db_maintain() -> None:
    """Create time-series storage ahead and apply the retention setting."""
    from db.timeseries import positions_spec, store_for

    s = get_settings()
    spec = positions_spec(
        retention_days=s.positions_retention_days,
        compress_after_days=s.positions_compress_after_days,
    )
    try:
        with connect(s.database_url, autocommit=True) as conn:
            store = store_for(conn, spec)
            dropped = store.maintain(conn, datetime.now(UTC))
    except DatabaseUnavailable as exc:
        fail(f"база данных недоступна: {exc}")
    typer.echo(f"Хранилище позиций ({store.backend}): удалено разделов {len(dropped)}")


series_app = typer.Typer(help="Серии поездок (например, гемодиализ).", no_args_is_help=True)
app.add_typer(series_app, name="series")


@series_app.command("expand")
def series_expand() -> None:
    """Book the dates of every stored series that have come within the booking horizon (run it
    daily, e.g. from cron); refused dates are kept for operators (GET /trips/recurring/refused)."""
    from dispatch.services.booking import expand_series
    from web.app import load_map

    s = get_settings()
    try:
        rules = load_rules(s.rules_file)
    except RulesError as exc:
        fail(str(exc))
    graph = load_map(s)
    try:
        with connect(s.database_url) as conn:
            done = expand_series(conn, rules=rules, graph=graph, now=datetime.now(UTC))
            conn.commit()
    except DatabaseUnavailable as exc:
        fail(f"база данных недоступна: {exc}")
    booked = sum(d.booked for d in done)
    refused = sum(d.refused for d in done)
    typer.echo(f"Серий продлено: {len(done)}; поездок забронировано {booked}, отказов {refused}")


@app.command("rules")
def rules_check(
    path: str = typer.Argument(None, help="Файл правил (по умолчанию из настроек)"),
) -> None:
    """Validate a rules file."""
    try:
        rules = load_rules(path or get_settings().rules_file)
    except RulesError as exc:
        fail(str(exc))
    typer.echo(
        f"Правила {rules.region}, версия {rules.version}:"
        f" категорий {len(rules.benefit_categories)},"
        f" типов объектов {len(rules.social_object_types)}, тарифов {len(rules.tariffs)}"
    )


def _mount() -> None:
    """Let each package register its commands (``register(app)`` in ``<package>/cli.py``)."""
    import audit.cli
    import routing.cli
    import simulators.cli
    import socialtaxi.demo
    import telemetry.cli
    import web.cli

    for module in (routing.cli, telemetry.cli, audit.cli, web.cli, simulators.cli, socialtaxi.demo):
        module.register(app)


@app.callback()
def _main(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand == "demo":
        # The demo (and the tests) are the only development processes; everything else runs as
        # production by default and refuses the published development key.
        os.environ.setdefault("SOCIALTAXI_MODE", "development")
    try:
        _setup_logging()
    except SettingsError as exc:
        if ctx.resilient_parsing or "--help" in sys.argv[1:]:
            return  # help text needs no settings (a production key is checked when work starts)
        fail(f"настройки: {exc}")


_mount()
