"""The audit's imperative shell: load a trip → match its track and route its actual endpoints →
run the pure rules (:mod:`audit.rules`) → persist findings, notes and the run's counts.

Three ways in: :func:`run_period` (a batch over a period and carrier), :func:`work` (the worker
that takes jobs enqueued when trips finish) and :func:`check_content` (a file; no database).
"""

from __future__ import annotations

import logging
import select
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from audit import store
from audit.facts import MatchedTrackLike, Note, Plan, RuleId, TripFacts
from audit.rules import TripAudit, actual_endpoints, audit_trip, prepare
from audit.scenario import Parsed, parse_file
from config.rules import Rules
from db.connect import connect

log = logging.getLogger("audit")

Matcher = Callable[..., Any]


def find_matcher() -> Matcher | None:
    """``routing.matching.match_track`` when the routing package has it, else ``None`` (the
    deviation rule then works on the corridor alone and says so in a note)."""
    try:
        from routing.matching import match_track  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    return match_track  # type: ignore[no-any-return,unused-ignore]


def enrich(
    facts: TripFacts,
    *,
    rules: Rules,
    graph: Any,
    matcher: Matcher | None,
    now: datetime,
    plan_from_map: bool = False,
) -> tuple[TripFacts, list[Note]]:
    """Add what needs the road graph: the matched passenger leg and the fastest route between
    the actual pickup and drop-off (and, for a GPX track, a plan: the fastest route between its
    ends). Without a graph the facts are returned as they are."""
    notes: list[Note] = []
    if graph is None:
        return facts, notes
    from routing import RoutingError
    from routing.profiled import graph_at

    # the active speed profile's graph of the hour the passenger was picked up
    graph = graph_at(graph, facts.picked_up_at or facts.pickup_at)

    ctx, _ = prepare(facts, rules.audit, now=now, max_speed_kmh=rules.telemetry.max_speed_kmh)
    ends = actual_endpoints(ctx)
    if ends is None:
        return facts, notes
    a, b = ends
    try:
        fastest = graph.route((a.lat, a.lon), (b.lat, b.lon))
        facts = replace(facts, fastest_m=float(fastest.dist_m))
        if plan_from_map and facts.plan is None:
            coords = fastest.to_geojson()["geometry"]["coordinates"]
            facts = replace(
                facts,
                plan=Plan(
                    float(fastest.dist_m),
                    float(fastest.duration_s),
                    tuple(c[1] for c in coords),
                    tuple(c[0] for c in coords),
                ),
            )
            notes.append(
                Note(facts.trip_id, "plan_from_map", "План: быстрейший маршрут между концами трека")
            )
    except RoutingError as exc:
        notes.append(Note(facts.trip_id, "no_route", f"Маршрут не построен: {exc}"))
    if matcher is not None:
        leg = ctx.leg(ctx.board_s, ctx.end_s)
        tr = ctx.track
        try:
            matched: MatchedTrackLike = matcher(graph, tr.lat[leg], tr.lon[leg], tr.t_s[leg])
            facts = replace(facts, matched=matched)
        except Exception as exc:  # noqa: BLE001 - the matcher's refusal is noted, the rules run
            notes.append(
                Note(
                    facts.trip_id,
                    "match_failed",
                    f"Сопоставление с дорогами не удалось: {type(exc).__name__}",
                    RuleId.ROUTE_DEVIATION,
                )
            )
    return facts, notes


def audit_facts(
    facts: TripFacts,
    *,
    rules: Rules,
    graph: Any,
    matcher: Matcher | None,
    now: datetime,
    only: Iterable[RuleId] | None = None,
    notes: Iterable[Note] = (),
    plan_from_map: bool = False,
) -> TripAudit:
    facts, extra = enrich(
        facts, rules=rules, graph=graph, matcher=matcher, now=now, plan_from_map=plan_from_map
    )
    return audit_trip(
        facts,
        thresholds=rules.audit,
        rules=rules,
        now=now,
        only=None if only is None else list(only),
        notes=[*notes, *extra],
    )


# --- files ---------------------------------------------------------------------------------------
def check_content(
    content: bytes, *, rules: Rules, graph: Any, matcher: Matcher | None, now: datetime
) -> tuple[Parsed, list[TripAudit]]:
    """Audit every trip of a scenario or GPX file (raises ``ScenarioError`` for a bad file)."""
    parsed = parse_file(content)
    by_trip: dict[int, list[Note]] = {}
    for n in parsed.notes:
        by_trip.setdefault(n.trip_id, []).append(n)
    audits = [
        audit_facts(
            ct.facts,
            rules=rules,
            graph=graph,
            matcher=matcher,
            now=now,
            only=ct.only,
            notes=by_trip.get(ct.facts.trip_id, ()),
            plan_from_map=parsed.kind == "gpx",
        )
        for ct in parsed.trips
    ]
    return parsed, audits


def finding_json(f: Any) -> dict[str, Any]:
    """A finding as one JSON-able object (``audit check`` prints one per line)."""
    return {
        "trip_id": f.trip_id,
        "rule": f.rule.value,
        "key": f.key,
        "severity": f.severity.value,
        "message": f.message,
        "at_stake_km": f.at_stake_km,
        "at_stake_kop": f.at_stake_kop,
        "evidence": f.evidence,
        "geometry": f.geometry,
    }


# --- the database path ---------------------------------------------------------------------------
@dataclass
class RunTally:
    run_id: int
    trips: int = 0
    failed: int = 0
    notes: int = 0
    counts: store.Counts = field(default_factory=store.Counts)


class Auditor:
    """Audits trips from the database within the caller's transaction (one per trip)."""

    def __init__(
        self,
        conn: psycopg.Connection,
        *,
        rules: Rules,
        graph: Any,
        matcher: Matcher | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        from routing.profile_store import ActiveGraphs

        self.conn = conn
        self.rules = rules
        # the graph follows the database's active speed profile (looked up per trip)
        self.graph = (
            ActiveGraphs(graph, timezone=rules.timezone)
            if graph is not None and not isinstance(graph, ActiveGraphs)
            else graph
        )
        self.matcher = matcher
        self.clock = clock
        self._objects = store.load_objects(conn)

    def audit(self, trip_id: int, tally: RunTally) -> TripAudit | None:
        """Audit one trip and persist the result (within a savepoint: a failing trip is
        counted and logged, the rest of the run goes on)."""
        from routing.profile_store import graphs_now

        try:
            with self.conn.transaction():
                row = self.conn.execute("SELECT clock_timestamp()").fetchone()
                loaded_at = row[0] if row else self.clock()
                loaded = store.load_trip(
                    self.conn,
                    trip_id,
                    objects=self._objects,
                    no_show_window=timedelta(minutes=self.rules.audit.no_show_window_min),
                )
                if loaded is None:
                    note = Note(trip_id, "unknown_trip", "Поездка не найдена")
                    tally.notes += store.save_notes(self.conn, [note], run_id=tally.run_id)
                    return None
                result = audit_facts(
                    loaded.facts,
                    rules=self.rules,
                    graph=graphs_now(self.graph, self.conn),
                    matcher=self.matcher,
                    now=self.clock(),
                    notes=loaded.notes,
                )
                counts = store.save_findings(
                    self.conn, trip_id, result.findings, run_id=tally.run_id
                )
                tally.notes += store.save_notes(self.conn, result.notes, run_id=tally.run_id)
                store.close_jobs(self.conn, trip_id, run_id=tally.run_id, loaded_at=loaded_at)
        except psycopg.OperationalError:
            raise  # the connection itself is in trouble: the caller decides
        except Exception as exc:  # noqa: BLE001 - one bad trip must not stop the run
            log.warning("audit of trip %s failed: %s", trip_id, type(exc).__name__)
            tally.failed += 1
            with self.conn.transaction():
                tally.notes += store.save_notes(
                    self.conn,
                    [
                        Note(
                            trip_id,
                            "trip_failed",
                            f"Аудит не выполнен: {type(exc).__name__}",
                        )
                    ],
                    run_id=tally.run_id,
                )
            return None
        tally.trips += 1
        tally.counts.add(counts)
        return result


def run_period(
    url: str,
    *,
    start: datetime,
    end: datetime,
    carrier_id: int | None,
    rules: Rules,
    graph: Any,
    matcher: Matcher | None,
    progress: Callable[[Iterable[int], int], Iterator[int]] | None = None,
) -> RunTally:
    """Audit every finished trip with a pickup in ``[start, end)`` (of one carrier if given);
    returns the run's tally (also stored in ``audit_runs``)."""
    with connect(url, autocommit=True) as conn:
        run_id = store.start_run(
            conn,
            kind="batch",
            rules_version=rules.version,
            start=start,
            end=end,
            carrier_id=carrier_id,
        )
        tally = RunTally(run_id)
        try:
            ids = store.trips_in_period(conn, start=start, end=end, carrier_id=carrier_id)
            auditor = Auditor(conn, rules=rules, graph=graph, matcher=matcher)
            it: Iterable[int] = progress(ids, len(ids)) if progress else ids
            for trip_id in it:
                auditor.audit(trip_id, tally)
        except BaseException as exc:
            _record(conn, tally, status="failed", error=type(exc).__name__)
            raise
        _record(conn, tally, status="done")
    return tally


def _record(
    conn: psycopg.Connection,
    tally: RunTally,
    *,
    status: str | None = None,
    error: str | None = None,
) -> None:
    """Write the run's counts so far (and ``status``/``error`` when given) to its record."""
    store.update_run(
        conn,
        tally.run_id,
        trips=tally.trips,
        failed=tally.failed,
        counts=tally.counts,
        notes=tally.notes,
        status=status,
        error=error,
    )


def work(
    url: str,
    *,
    rules: Rules,
    graph: Any,
    matcher: Matcher | None,
    settle: timedelta = timedelta(seconds=30),
    poll_s: float = 5.0,
    max_attempts: int = 5,
    backoff: timedelta = timedelta(minutes=1),
    stop: Callable[[], bool] = lambda: False,
    once: bool = False,
) -> RunTally:
    """The worker: take due jobs one at a time (``FOR UPDATE SKIP LOCKED``, one transaction per
    job: a crash leaves the job pending), audit the trip, mark the job done. Waits for
    ``NOTIFY audit_jobs`` (or ``poll_s``) when there is nothing to do; ``once`` returns when the
    queue is empty."""
    with connect(url, autocommit=True) as conn, connect(url, autocommit=True) as listen:
        listen.execute("LISTEN audit_jobs")
        run_id = store.start_run(conn, kind="worker", rules_version=rules.version)
        tally = RunTally(run_id)
        auditor = Auditor(conn, rules=rules, graph=graph, matcher=matcher)
        status, error = "done", None
        try:
            while not stop():
                did = _one_job(conn, auditor, tally, settle, max_attempts, backoff)
                if did:
                    _record(conn, tally)
                    continue
                if once:
                    break
                _wait(listen, poll_s)
        except BaseException as exc:
            status, error = "failed", type(exc).__name__
            if isinstance(exc, KeyboardInterrupt):
                status, error = "done", None
            else:
                raise
        finally:
            _record(conn, tally, status=status, error=error)
    return tally


def _one_job(
    conn: psycopg.Connection,
    auditor: Auditor,
    tally: RunTally,
    settle: timedelta,
    max_attempts: int,
    backoff: timedelta,
) -> bool:
    with conn.transaction():
        job = store.take_job(conn, settle=settle)
        if job is None:
            return False
        job_id, trip_id = job
        failed_before = tally.failed
        auditor.audit(trip_id, tally)
        if tally.failed > failed_before:
            store.fail_job(
                conn, job_id, error="audit failed", max_attempts=max_attempts, backoff=backoff
            )
        else:
            store.finish_job(conn, job_id, run_id=tally.run_id)
    return True


def _wait(listen: psycopg.Connection, timeout_s: float) -> None:
    """Block until a NOTIFY arrives on ``listen`` or ``timeout_s`` passes; drain what came."""
    select.select([listen.fileno()], [], [], timeout_s)
    for _ in listen.notifies(timeout=0, stop_after=1000):
        pass
