"""``socialtaxi audit ...``: the worker, batch runs, file checks and monthly reports
(see ``docs/audit.md``)."""

from __future__ import annotations

import logging
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

log = logging.getLogger("audit")


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"Ошибка: {message}", err=True)
    raise typer.Exit(code)


def _rules() -> Any:
    from config.rules import RulesError, load_rules
    from config.settings import get_settings

    try:
        return load_rules(get_settings().rules_file)
    except RulesError as exc:
        _fail(str(exc), 1)


def _graph(map_source: str | None) -> Any:
    """The road graph of ``--map`` (or the configured map); ``None`` with a warning without."""
    from config.settings import get_settings

    s = get_settings()
    source = map_source or s.map_source
    if not source:
        typer.echo(
            "Внимание: карта не задана (--map или SOCIALTAXI_MAP_SOURCE): трек не сопоставляется"
            " с дорогами, отклонение проверяется только по коридору",
            err=True,
        )
        return None
    from routing import RoutingError, SpeedDefaults
    from routing.sources import load_map_source

    speeds = SpeedDefaults.from_mapping(s.map_speeds) if s.map_speeds else None
    try:
        return load_map_source(source, cache_dir=s.map_cache_dir, speeds=speeds)
    except (RoutingError, OSError) as exc:
        _fail(f"карта {source}: {exc}")


def _when(value: str, option: str, tz: str) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"{option}: ожидается дата или время ISO 8601, получено «{value}»")
    if at.tzinfo is None:
        from zoneinfo import ZoneInfo

        at = at.replace(tzinfo=ZoneInfo(tz))
    return at.astimezone(UTC)


def _month(value: str) -> tuple[int, int]:
    try:
        year, month = (int(x) for x in value.split("-"))
        datetime(year, month, 1)
        if not 2000 <= year <= 2099:
            raise ValueError(value)
    except ValueError:
        _fail(f"--month: ожидается ГГГГ-ММ, получено «{value}»")
    return year, month


def register(root: typer.Typer) -> None:
    app = typer.Typer(help="Аудит поездок: отклонения, опоздания, квоты, доплаты (docs/audit.md).")
    root.add_typer(app, name="audit")

    @app.command("worker")
    def worker(
        map_source: str = typer.Option(None, "--map", help="OSM file or place (default: setting)."),
        settle_s: float = typer.Option(
            30.0, min=0, help="Audit a finished trip only after this many seconds (late fixes)."
        ),
        poll_s: float = typer.Option(5.0, min=0.1, help="Look for jobs at least this often."),
        once: bool = typer.Option(False, help="Stop when no job is due."),
    ) -> None:
        """Audit trips as they finish: take jobs from audit_jobs (until SIGTERM/SIGINT)."""
        from audit.service import find_matcher, work
        from config.settings import get_settings

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        rules = _rules()
        graph = _graph(map_source)
        stopping = False

        def _stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, _stop)
        tally = work(
            get_settings().database_url,
            rules=rules,
            graph=graph,
            matcher=find_matcher(),
            settle=timedelta(seconds=settle_s),
            poll_s=poll_s,
            stop=lambda: stopping,
            once=once,
        )
        typer.echo(
            f"run {tally.run_id}: trips {tally.trips}, failed {tally.failed}, "
            f"new {tally.counts.new}, updated {tally.counts.updated}, notes {tally.notes}"
        )

    @app.command("run")
    def run(
        date_from: str = typer.Option(..., "--from", help="Start (ISO date/time, local if naive)."),
        date_to: str = typer.Option(..., "--to", help="End, exclusive."),
        carrier: int = typer.Option(None, "--carrier", help="Only this carrier's trips."),
        map_source: str = typer.Option(None, "--map", help="OSM file or place (default: setting)."),
    ) -> None:
        """Audit every finished trip with a pickup in the period; re-runs update findings."""
        from tqdm import tqdm

        from audit.service import find_matcher, run_period
        from config.settings import get_settings

        rules = _rules()
        start, end = (
            _when(date_from, "--from", rules.timezone),
            _when(date_to, "--to", rules.timezone),
        )
        if end <= start:
            _fail("--to должно быть позже --from")
        graph = _graph(map_source)
        tally = run_period(
            get_settings().database_url,
            start=start,
            end=end,
            carrier_id=carrier,
            rules=rules,
            graph=graph,
            matcher=find_matcher(),
            progress=lambda ids, n: iter(tqdm(ids, total=n, unit="trip", file=sys.stderr)),
        )
        typer.echo(
            f"run {tally.run_id}: trips {tally.trips}, failed {tally.failed}, "
            f"findings new {tally.counts.new}, updated {tally.counts.updated}, "
            f"unchanged {tally.counts.unchanged}, withdrawn {tally.counts.withdrawn}, "
            f"notes {tally.notes}"
        )

    @app.command("check")
    def check(
        file: Path = typer.Argument(..., help="A scenario JSON file (docs/scenarios.md) or GPX."),
        map_source: str = typer.Option(None, "--map", help="OSM file the track was driven on."),
        notes: bool = typer.Option(False, help="Also print run-log notes (as JSON lines)."),
    ) -> None:
        """Audit the trips of a file; print the findings as JSON, one per line."""
        import orjson

        from audit.scenario import ScenarioError
        from audit.service import check_content, find_matcher, finding_json

        try:
            content = file.read_bytes()
        except OSError as exc:
            _fail(f"{file}: {exc.strerror or exc}")
        rules = _rules()
        graph = _graph(map_source)
        try:
            _, audits = check_content(
                content,
                rules=rules,
                graph=graph,
                matcher=find_matcher() if graph is not None else None,
                now=datetime.now(UTC),
            )
        except ScenarioError as exc:
            _fail(f"{file}: {exc}")
        out = sys.stdout
        for a in audits:
            for f in a.findings:
                out.write(orjson.dumps(finding_json(f)).decode() + "\n")
            if notes:
                for n in a.notes:
                    row = {"trip_id": n.trip_id, "note": n.code, "message": n.message}
                    if n.rule:
                        row["rule"] = n.rule.value
                    out.write(orjson.dumps(row).decode() + "\n")

    @app.command("report")
    def report(
        month: str = typer.Option(..., "--month", help="The month, ГГГГ-ММ (e.g. 2027-03)."),
        carrier: int = typer.Option(None, "--carrier", help="Only this carrier."),
        out: Path = typer.Option(..., "--out", help="File to write: .xlsx or .csv."),
    ) -> None:
        """Write the monthly audit report per carrier (XLSX or CSV by the file's suffix)."""
        from audit.report import to_csv, to_xlsx
        from audit.service_findings import monthly_report
        from config.settings import get_settings
        from db.connect import DatabaseUnavailable, connect

        year, mon = _month(month)
        suffix = out.suffix.lower()
        if suffix not in (".xlsx", ".csv"):
            _fail("--out: укажите файл .xlsx или .csv")
        rules = _rules()
        try:
            with connect(get_settings().database_url) as conn:
                rep = monthly_report(
                    conn,
                    year=year,
                    month=mon,
                    carrier_id=carrier,
                    tz=rules.timezone,
                    rules_version=rules.version,
                )
        except DatabaseUnavailable as exc:
            _fail(str(exc), 1)
        try:
            out.write_bytes(to_xlsx(rep) if suffix == ".xlsx" else to_csv(rep))
        except OSError as exc:
            _fail(f"{out}: {exc.strerror or exc}")
        typer.echo(f"{out}: перевозчиков {len(rep.carriers)}, нарушений {len(rep.findings)}")
