"""The audit's database I/O (psycopg): load a trip's facts, upsert findings, runs, run notes,
jobs, reviews, listings and report figures. No decisions here; the caller owns the transaction.

Personal data: the trip facts read only what the rules need — categories, the wheelchair need,
points and times — never names, phones, СНИЛС or addresses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import orjson
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from audit.facts import (
    Finding,
    Note,
    Payment,
    Plan,
    Point,
    SocialObjectFacts,
    Track,
    TripEvent,
    TripFacts,
)
from dispatch.quota import CountedTrip
from dispatch.store.trips import counted_trips

FINAL_STATUSES = ("completed", "no_show", "cancelled")
FIX_MARGIN = timedelta(minutes=5)
#: refusal codes of a vehicle's payment event that still mean money was taken
REFUSED_PAID = frozenset({"already_paid", "payment_not_due"})


# --- loading -------------------------------------------------------------------------------------
def load_objects(conn: psycopg.Connection) -> tuple[SocialObjectFacts, ...]:
    """The registry of social objects in force (active ones)."""
    rows = conn.execute(
        "SELECT id, object_type, lat, lon, radius_m, name FROM social_objects WHERE active"
        " ORDER BY id"
    ).fetchall()
    return tuple(SocialObjectFacts(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows)


def _plan(route: Any, dist_m: float | None, dur_s: float | None) -> Plan | None:
    if dist_m is None or not isinstance(route, dict):
        return None
    coords = route.get("coordinates") or []
    if len(coords) < 2:
        return None
    lon = tuple(float(c[0]) for c in coords)
    lat = tuple(float(c[1]) for c in coords)
    return Plan(float(dist_m), dur_s, lat, lon)


@dataclass(frozen=True)
class Loaded:
    facts: TripFacts
    notes: tuple[Note, ...]


def load_trip(
    conn: psycopg.Connection,
    trip_id: int,
    *,
    objects: Sequence[SocialObjectFacts],
    no_show_window: timedelta,
) -> Loaded | None:
    """The facts of one trip (``None`` when there is no such trip)."""
    cur = conn.cursor(row_factory=dict_row)
    t = cur.execute(
        "SELECT t.id, t.status, t.category, t.pickup_lat, t.pickup_lon, t.dest_lat, t.dest_lon,"
        " t.dest_object_id, t.pickup_at, t.planned_route, t.planned_dist_m, t.planned_duration_s,"
        " t.fare_kop, t.copay_kop, t.override_by IS NOT NULL AS quota_override,"
        " t.vehicle_type AS booked_type, t.companions, t.wheelchair OR p.wheelchair AS wheelchair,"
        " t.carrier_id, t.vehicle_id, v.vehicle_type AS actual_type, t.started_at,"
        " t.picked_up_at, t.completed_at, t.cancelled_at, t.passenger_id, t.pair_id"
        " FROM trips t JOIN passengers p ON p.id = t.passenger_id"
        " LEFT JOIN vehicles v ON v.id = t.vehicle_id WHERE t.id = %s",
        (trip_id,),
    ).fetchone()
    if t is None:
        return None
    notes: list[Note] = []
    ev_rows = cur.execute(
        "SELECT event_type, occurred_at, lat, lon, payload FROM trip_events"
        " WHERE trip_id = %s AND source = 'vehicle' ORDER BY occurred_at, id",
        (trip_id,),
    ).fetchall()
    events = tuple(
        TripEvent(r["event_type"], r["occurred_at"], r["lat"], r["lon"]) for r in ev_rows
    )
    payments = [
        Payment(int(r[0]), r[1], r[2])
        for r in conn.execute(
            "SELECT amount_kop, collected_at, method FROM payments WHERE trip_id = %s"
            " ORDER BY collected_at, id",
            (trip_id,),
        )
    ]
    # A payment the vehicle reported but dispatch refused to record (a second one, or one for a
    # trip not on board: cancelled, no-show) is still money the driver says was taken.
    for r in ev_rows:
        refused = (r["payload"] or {}).get("refused") or {}
        if r["event_type"] == "payment_collected" and refused.get("code") in REFUSED_PAID:
            amount = (r["payload"] or {}).get("amount_kop")
            if isinstance(amount, int) and amount > 0:
                method = str((r["payload"] or {}).get("method") or "cash")
                payments.append(Payment(amount, r["occurred_at"], method))
    no_show_at = next((e.at for e in events if e.type == "no_show"), None)
    start = t["started_at"] or t["pickup_at"] - timedelta(hours=1)
    end = (
        t["completed_at"] or no_show_at or t["cancelled_at"] or t["pickup_at"] + timedelta(hours=2)
    )
    start = min(start, t["pickup_at"] - no_show_window) - FIX_MARGIN
    end = max(end, t["pickup_at"] + no_show_window) + FIX_MARGIN
    track = Track.empty()
    if t["vehicle_id"] is not None:
        rows = conn.execute(
            "SELECT extract(epoch FROM ts)::float8, lat, lon, implausible FROM vehicle_positions"
            " WHERE vehicle_id = %s AND ts BETWEEN %s AND %s ORDER BY ts",
            (t["vehicle_id"], start, end),
        ).fetchall()
        if rows:
            arr = np.array([r[:3] for r in rows], np.float64)
            implausible = np.array([r[3] for r in rows], bool)
            if implausible.any():
                notes.append(
                    Note(
                        trip_id,
                        "implausible_fixes",
                        f"Не учтены неправдоподобные GPS-отметки: {int(implausible.sum())}",
                    )
                )
            arr = arr[~implausible]
            track = Track.of(arr[:, 0], arr[:, 1], arr[:, 2])
    # the passenger's earlier trips as the quota counts them (dispatch's own query: the object
    # type and category stored at booking, the recorded cancellation decision, return pairs)
    prior = tuple(
        CountedTrip(
            r["pickup_at"],
            r["status"],
            r["object_type"] or "",
            r["category"],
            r["pair_id"],
            r["counts_for_quota"],
        )
        for r in counted_trips(
            conn,
            passenger_id=t["passenger_id"],
            start=t["pickup_at"] - timedelta(days=370),
            end=t["pickup_at"],
        )
    )
    categories = tuple(
        r[0]
        for r in conn.execute(
            "SELECT category FROM passenger_benefits WHERE passenger_id = %s"
            " AND valid_from <= %s::date AND (valid_to IS NULL OR valid_to >= %s::date)",
            (t["passenger_id"], t["pickup_at"], t["pickup_at"]),
        )
    )
    facts = TripFacts(
        trip_id=trip_id,
        status=t["status"],
        category=t["category"],
        pickup=Point(t["pickup_lat"], t["pickup_lon"]),
        destination=Point(t["dest_lat"], t["dest_lon"]),
        pickup_at=t["pickup_at"],
        fixes=track,
        events=events,
        payments=tuple(sorted(payments, key=lambda p: p.at)),
        objects=tuple(objects),
        dest_object_id=t["dest_object_id"],
        plan=_plan(t["planned_route"], t["planned_dist_m"], t["planned_duration_s"]),
        fare_kop=t["fare_kop"],
        copay_due_kop=t["copay_kop"],
        quota_override=bool(t["quota_override"]),
        prior_trips=prior,
        passenger_categories=categories,
        needs_wheelchair=bool(t["wheelchair"]),
        companions=int(t["companions"] or 0),
        vehicle_type=t["actual_type"],
        booked_vehicle_type=t["booked_type"],
        carrier_id=t["carrier_id"],
        vehicle_id=t["vehicle_id"],
        started_at=t["started_at"],
        picked_up_at=t["picked_up_at"],
        completed_at=t["completed_at"],
        pair_key=t["pair_id"],
    )
    return Loaded(facts, tuple(notes))


def trips_in_period(
    conn: psycopg.Connection, *, start: datetime, end: datetime, carrier_id: int | None
) -> list[int]:
    """Finished trips with a pickup in ``[start, end)``, optionally of one carrier."""
    rows = conn.execute(
        "SELECT id FROM trips WHERE pickup_at >= %s AND pickup_at < %s AND status = ANY(%s)"
        " AND (%s::bigint IS NULL OR carrier_id = %s) ORDER BY pickup_at, id",
        (start, end, list(FINAL_STATUSES), carrier_id, carrier_id),
    ).fetchall()
    return [r[0] for r in rows]


# --- findings ------------------------------------------------------------------------------------
def evidence_hash(f: Finding) -> str:
    """A digest of what a reviewer sees: severity, evidence, geometry and the stake."""
    blob = orjson.dumps(
        [f.severity.value, f.evidence, f.geometry, f.at_stake_km, f.at_stake_kop],
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(blob).hexdigest()


@dataclass
class Counts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0

    def add(self, other: Counts) -> None:
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.withdrawn += other.withdrawn


def save_findings(
    conn: psycopg.Connection, trip_id: int, findings: Sequence[Finding], *, run_id: int
) -> Counts:
    """Make the stored findings of ``trip_id`` what this run found: insert new ones, update
    changed ones in place (a reviewed finding keeps its review and gets ``evidence_changed_at``),
    and mark the ones no longer found as withdrawn (never deleted)."""
    existing = {
        (r[0], r[1]): (r[2], r[3])
        for r in conn.execute(
            "SELECT rule, key, evidence_hash, withdrawn_at IS NOT NULL FROM audit_findings"
            " WHERE trip_id = %s",
            (trip_id,),
        )
    }
    counts = Counts()
    seen: set[tuple[str, str]] = set()
    for f in findings:
        h = evidence_hash(f)
        k = (f.rule.value, f.key)
        seen.add(k)
        old = existing.get(k)
        if old is not None and old[0] == h and not old[1]:
            counts.unchanged += 1
            conn.execute(
                "UPDATE audit_findings SET last_run_id = %s WHERE trip_id = %s AND rule = %s"
                " AND key = %s",
                (run_id, trip_id, f.rule.value, f.key),
            )
            continue
        if old is None:
            counts.new += 1
        else:
            counts.updated += 1
        conn.execute(
            "INSERT INTO audit_findings (first_run_id, last_run_id, trip_id, rule, key, severity,"
            " message, evidence, geometry, at_stake_km, at_stake_kop, evidence_hash)"
            " VALUES (%(run)s, %(run)s, %(trip)s, %(rule)s, %(key)s, %(sev)s, %(msg)s, %(ev)s,"
            " %(geo)s, %(km)s, %(kop)s, %(hash)s)"
            " ON CONFLICT (trip_id, rule, key) DO UPDATE SET last_run_id = EXCLUDED.last_run_id,"
            " severity = EXCLUDED.severity, message = EXCLUDED.message,"
            " evidence = EXCLUDED.evidence, geometry = EXCLUDED.geometry,"
            " at_stake_km = EXCLUDED.at_stake_km, at_stake_kop = EXCLUDED.at_stake_kop,"
            " evidence_changed_at = CASE WHEN audit_findings.status <> 'new'"
            "   AND audit_findings.evidence_hash <> EXCLUDED.evidence_hash THEN now()"
            "   ELSE audit_findings.evidence_changed_at END,"
            " evidence_hash = EXCLUDED.evidence_hash, withdrawn_at = NULL, updated_at = now()",
            {
                "run": run_id,
                "trip": trip_id,
                "rule": f.rule.value,
                "key": f.key,
                "sev": f.severity.value,
                "msg": f.message,
                "ev": Jsonb(f.evidence),
                "geo": Jsonb(f.geometry) if f.geometry is not None else None,
                "km": f.at_stake_km,
                "kop": f.at_stake_kop,
                "hash": h,
            },
        )
    gone = [k for k, (_, withdrawn) in existing.items() if k not in seen and not withdrawn]
    for rule, key in gone:
        conn.execute(
            "UPDATE audit_findings SET withdrawn_at = now(), last_run_id = %s, updated_at = now()"
            " WHERE trip_id = %s AND rule = %s AND key = %s",
            (run_id, trip_id, rule, key),
        )
    counts.withdrawn = len(gone)
    return counts


def save_notes(conn: psycopg.Connection, notes: Iterable[Note], *, run_id: int) -> int:
    rows = [(run_id, n.trip_id, n.rule.value if n.rule else None, n.code, n.message) for n in notes]
    if rows:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO audit_run_notes (run_id, trip_id, rule, code, message)"
                " VALUES (%s, %s, %s, %s, %s)",
                rows,
            )
    return len(rows)


# --- runs ----------------------------------------------------------------------------------------
def start_run(
    conn: psycopg.Connection,
    *,
    kind: str,
    rules_version: str,
    start: datetime | None = None,
    end: datetime | None = None,
    carrier_id: int | None = None,
) -> int:
    row = conn.execute(
        "INSERT INTO audit_runs (kind, period_from, period_to, carrier_id, rules_version)"
        " VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (kind, start, end, carrier_id, rules_version),
    ).fetchone()
    assert row is not None
    return int(row[0])


def update_run(
    conn: psycopg.Connection,
    run_id: int,
    *,
    trips: int,
    failed: int,
    counts: Counts,
    notes: int,
    status: str | None = None,
    error: str | None = None,
) -> None:
    conn.execute(
        "UPDATE audit_runs SET trips_checked = %s, trips_failed = %s, findings_new = %s,"
        " findings_updated = %s, findings_unchanged = %s, findings_withdrawn = %s, notes = %s,"
        " status = coalesce(%s, status), error = coalesce(%s, error),"
        " finished_at = CASE WHEN %s::text IS NULL THEN finished_at ELSE now() END,"
        " duration_s = extract(epoch FROM now() - started_at)"
        " WHERE id = %s",
        (
            trips,
            failed,
            counts.new,
            counts.updated,
            counts.unchanged,
            counts.withdrawn,
            notes,
            status,
            error,
            status,
            run_id,
        ),
    )


# --- jobs ----------------------------------------------------------------------------------------
def take_job(conn: psycopg.Connection, *, settle: timedelta) -> tuple[int, int] | None:
    """Lock the oldest due job (``FOR UPDATE SKIP LOCKED``: workers never take the same job);
    ``settle`` lets late fixes and payments of a just-finished trip arrive first."""
    row = conn.execute(
        "SELECT id, trip_id FROM audit_jobs WHERE done_at IS NULL AND not_before <= now()"
        " AND enqueued_at <= now() - %s ORDER BY not_before, id LIMIT 1 FOR UPDATE SKIP LOCKED",
        (settle,),
    ).fetchone()
    return None if row is None else (int(row[0]), int(row[1]))


def finish_job(conn: psycopg.Connection, job_id: int, *, run_id: int) -> None:
    conn.execute(
        "UPDATE audit_jobs SET done_at = coalesce(done_at, now()), run_id = %s, error = NULL,"
        " attempts = CASE WHEN done_at IS NULL THEN attempts + 1 ELSE attempts END WHERE id = %s",
        (run_id, job_id),
    )


def fail_job(
    conn: psycopg.Connection, job_id: int, *, error: str, max_attempts: int, backoff: timedelta
) -> None:
    """Count a failed attempt; retry later with growing back-off, give up (done, with the error
    kept) after ``max_attempts``."""
    conn.execute(
        "UPDATE audit_jobs SET attempts = attempts + 1, error = %s,"
        " not_before = now() + %s * (attempts + 1),"
        " done_at = CASE WHEN attempts + 1 >= %s THEN now() ELSE NULL END WHERE id = %s",
        (error[:500], backoff, max_attempts, job_id),
    )


def pending_jobs(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM audit_jobs WHERE done_at IS NULL").fetchone()
    return int(row[0]) if row else 0


# --- findings for controllers --------------------------------------------------------------------
_FINDING_COLS = (
    "f.id, f.trip_id, f.rule, f.key, f.severity, f.status, f.message, f.at_stake_km,"
    " f.at_stake_kop, f.created_at, f.updated_at, f.evidence_changed_at, f.withdrawn_at,"
    " f.reviewed_by, f.reviewed_at, f.review_comment, f.evidence_hash,"
    " t.carrier_id, t.vehicle_id, t.pickup_at, t.passenger_id, v.plate"
)
_FINDING_FROM = (
    " FROM audit_findings f JOIN trips t ON t.id = f.trip_id"
    " LEFT JOIN vehicles v ON v.id = t.vehicle_id"
)


@dataclass(frozen=True)
class FindingFilter:
    rule: str | None = None
    status: str | None = None
    carrier_id: int | None = None
    vehicle_id: int | None = None
    start: datetime | None = None  # pickup time, inclusive
    end: datetime | None = None  # exclusive
    include_withdrawn: bool = False


def _where(flt: FindingFilter) -> tuple[str, dict[str, Any]]:
    parts = ["TRUE"]
    if flt.rule is not None:
        parts.append("f.rule = %(rule)s")
    if flt.status is not None:
        parts.append("f.status = %(status)s")
    if flt.carrier_id is not None:
        parts.append("t.carrier_id = %(carrier_id)s")
    if flt.vehicle_id is not None:
        parts.append("t.vehicle_id = %(vehicle_id)s")
    if flt.start is not None:
        parts.append("t.pickup_at >= %(start)s")
    if flt.end is not None:
        parts.append("t.pickup_at < %(end)s")
    if not flt.include_withdrawn:
        parts.append("f.withdrawn_at IS NULL")
    return " WHERE " + " AND ".join(parts), flt.__dict__.copy()


def list_findings(
    conn: psycopg.Connection, flt: FindingFilter, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    where, params = _where(flt)
    cur = conn.cursor(row_factory=dict_row)
    total_row = cur.execute("SELECT count(*) AS n" + _FINDING_FROM + where, params).fetchone()
    rows = cur.execute(
        "SELECT "
        + _FINDING_COLS
        + _FINDING_FROM
        + where
        + " ORDER BY t.pickup_at DESC, f.id DESC LIMIT %(limit)s OFFSET %(offset)s",
        params | {"limit": limit, "offset": offset},
    ).fetchall()
    return rows, int(total_row["n"]) if total_row else 0


def get_finding(
    conn: psycopg.Connection, finding_id: int, *, for_update: bool = False
) -> dict[str, Any] | None:
    lock = " FOR UPDATE OF f" if for_update else ""
    return (
        conn.cursor(row_factory=dict_row)
        .execute(
            "SELECT "
            + _FINDING_COLS
            + ", f.evidence, f.geometry"
            + _FINDING_FROM
            + " WHERE f.id = %s"
            + lock,
            (finding_id,),
        )
        .fetchone()
    )


def finding_reviews(conn: psycopg.Connection, finding_id: int) -> list[dict[str, Any]]:
    return (
        conn.cursor(row_factory=dict_row)
        .execute(
            "SELECT r.id, r.from_status, r.to_status, r.reviewer_id, u.login AS reviewer,"
            " r.at, r.comment, r.evidence_hash FROM audit_reviews r"
            " JOIN users u ON u.id = r.reviewer_id WHERE r.finding_id = %s ORDER BY r.at, r.id",
            (finding_id,),
        )
        .fetchall()
    )


def save_review(
    conn: psycopg.Connection,
    finding_id: int,
    *,
    from_status: str,
    to_status: str,
    reviewer_id: int,
    comment: str,
    evidence_hash: str,
    at: datetime,
) -> None:
    conn.execute(
        "INSERT INTO audit_reviews (finding_id, from_status, to_status, reviewer_id, at,"
        " comment, evidence_hash) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (finding_id, from_status, to_status, reviewer_id, at, comment, evidence_hash),
    )
    conn.execute(
        "UPDATE audit_findings SET status = %s, reviewed_by = %s, reviewed_at = %s,"
        " review_comment = %s, evidence_changed_at = NULL, updated_at = now() WHERE id = %s",
        (to_status, reviewer_id, at, comment, finding_id),
    )


def log_access(
    conn: psycopg.Connection, *, user_id: int, passenger_id: int, purpose: str, detail: dict
) -> None:
    """An ``access_log`` row: the finding's map shows where the passenger was picked up."""
    conn.execute(
        "INSERT INTO access_log (user_id, action, passenger_id, purpose, detail)"
        " VALUES (%s, 'read', %s, %s, %s)",
        (user_id, passenger_id, purpose, Jsonb(detail)),
    )


# --- report figures ------------------------------------------------------------------------------
def report_figures(
    conn: psycopg.Connection, *, start: datetime, end: datetime, carrier_id: int | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(per-carrier trip figures, per-carrier/rule/status finding figures, finding lines) of
    the trips with a pickup in ``[start, end)``."""
    params = {"start": start, "end": end, "carrier": carrier_id}
    cur = conn.cursor(row_factory=dict_row)
    trips = cur.execute(
        "SELECT c.id AS carrier_id, c.name AS carrier,"
        " count(*) FILTER (WHERE t.status = 'completed') AS completed,"
        " count(*) FILTER (WHERE t.status = 'no_show') AS no_show,"
        " coalesce(sum(t.planned_dist_m) FILTER (WHERE t.status = 'completed'), 0) / 1000.0"
        "   AS km_paid,"
        " coalesce(sum(t.fare_kop) FILTER (WHERE t.status IN ('completed', 'no_show')), 0)"
        "   AS fare_kop"
        " FROM carriers c JOIN trips t ON t.carrier_id = c.id"
        " WHERE t.pickup_at >= %(start)s AND t.pickup_at < %(end)s"
        " AND (%(carrier)s::bigint IS NULL OR c.id = %(carrier)s)"
        " GROUP BY c.id, c.name ORDER BY c.name, c.id",
        params,
    ).fetchall()
    findings = cur.execute(
        "SELECT t.carrier_id, f.rule, f.status, count(*) AS n,"
        " coalesce(sum(f.at_stake_km), 0) AS km, coalesce(sum(f.at_stake_kop), 0) AS kop"
        " FROM audit_findings f JOIN trips t ON t.id = f.trip_id"
        " WHERE f.withdrawn_at IS NULL AND t.pickup_at >= %(start)s AND t.pickup_at < %(end)s"
        " AND t.carrier_id IS NOT NULL"
        " AND (%(carrier)s::bigint IS NULL OR t.carrier_id = %(carrier)s)"
        " GROUP BY 1, 2, 3",
        params,
    ).fetchall()
    lines = cur.execute(
        "SELECT f.id, f.trip_id, c.name AS carrier, coalesce(v.plate, '') AS vehicle,"
        " t.pickup_at, f.rule, f.severity, f.status, f.at_stake_km, f.at_stake_kop, f.message"
        " FROM audit_findings f JOIN trips t ON t.id = f.trip_id"
        " JOIN carriers c ON c.id = t.carrier_id LEFT JOIN vehicles v ON v.id = t.vehicle_id"
        " WHERE f.withdrawn_at IS NULL AND f.status <> 'dismissed'"
        " AND t.pickup_at >= %(start)s AND t.pickup_at < %(end)s"
        " AND (%(carrier)s::bigint IS NULL OR t.carrier_id = %(carrier)s)"
        " ORDER BY c.name, t.pickup_at, f.id",
        params,
    ).fetchall()
    return trips, findings, lines


def close_jobs(conn: psycopg.Connection, trip_id: int, *, run_id: int, loaded_at: datetime) -> None:
    """Mark the trip's pending jobs enqueued before its facts were loaded as done: this audit
    has seen their inputs (a job enqueued later stays for the next pass)."""
    conn.execute(
        "UPDATE audit_jobs SET done_at = now(), run_id = %s, attempts = attempts + 1"
        " WHERE trip_id = %s AND done_at IS NULL AND enqueued_at <= %s",
        (run_id, trip_id, loaded_at),
    )
