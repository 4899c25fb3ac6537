"""Findings for controllers: list, read (with evidence and GeoJSON), review, monthly reports.

Shell functions: connection first, everything else keyword-only; they know nothing of HTTP and
raise :mod:`dispatch.errors` (which ``web/errors.py`` maps to status codes). A carrier's own
staff (``user.carrier_id`` set) see only their carrier's findings. Reading a finding's map — it
shows where the passenger was picked up, often their home — is written to ``access_log``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from audit import store
from audit.facts import RULE_RU
from audit.report import CarrierMonth, FindingLine, Report
from audit.review import ReviewError, review
from dispatch.errors import Conflict, Invalid, NotFound
from dispatch.services import require_any_role

REVIEWER_ROLES = ("controller", "supervisor", "admin")
_NOT_FOUND = "Нарушение не найдено"


def _scoped(user: Any, flt: store.FindingFilter) -> store.FindingFilter:
    own = getattr(user, "carrier_id", None)
    if own is None:
        return flt
    if flt.carrier_id is not None and flt.carrier_id != own:
        # another carrier's findings do not exist for this user
        return store.FindingFilter(**(flt.__dict__ | {"carrier_id": -1}))
    return store.FindingFilter(**(flt.__dict__ | {"carrier_id": own}))


def _visible(user: Any, row: dict[str, Any] | None) -> dict[str, Any]:
    own = getattr(user, "carrier_id", None)
    if row is None or (own is not None and row["carrier_id"] != own):
        raise NotFound(_NOT_FOUND, code="finding_not_found")
    return row


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "trip_id": row["trip_id"],
        "rule": row["rule"],
        "rule_name": RULE_RU.get(row["rule"], row["rule"]),
        "key": row["key"],
        "severity": row["severity"],
        "status": row["status"],
        "message": row["message"],
        "at_stake_km": float(row["at_stake_km"]),
        "at_stake_kop": int(row["at_stake_kop"]),
        "carrier_id": row["carrier_id"],
        "vehicle_id": row["vehicle_id"],
        "vehicle_plate": row["plate"],
        "pickup_at": row["pickup_at"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "evidence_changed": row["evidence_changed_at"] is not None,
        "evidence_changed_at": row["evidence_changed_at"],
        "withdrawn": row["withdrawn_at"] is not None,
        "reviewed_at": row["reviewed_at"],
        "review_comment": row["review_comment"],
    }


def list_findings(
    conn: psycopg.Connection,
    *,
    user: Any,
    flt: store.FindingFilter,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    """A page of findings (newest pickups first) and the total matching the filter."""
    require_any_role(user, REVIEWER_ROLES, "Нарушения доступны контролёрам")
    rows, total = store.list_findings(conn, _scoped(user, flt), limit=limit, offset=offset)
    return {"items": [_summary(r) for r in rows], "total": total, "limit": limit, "offset": offset}


def get_finding(conn: psycopg.Connection, *, user: Any, finding_id: int) -> dict[str, Any]:
    """One finding with its evidence, its geometry (GeoJSON FeatureCollection, WGS 84) and its
    review history; the read is access-logged."""
    require_any_role(user, REVIEWER_ROLES, "Нарушения доступны контролёрам")
    row = _visible(user, store.get_finding(conn, finding_id))
    store.log_access(
        conn,
        user_id=user.id,
        passenger_id=row["passenger_id"],
        purpose="Аудит: проверка нарушения",
        detail={"finding_id": finding_id, "trip_id": row["trip_id"]},
    )
    return _summary(row) | {
        "evidence": row["evidence"],
        "geometry": row["geometry"] or {"type": "FeatureCollection", "features": []},
        "reviews": store.finding_reviews(conn, finding_id),
    }


def review_finding(
    conn: psycopg.Connection,
    *,
    user: Any,
    finding_id: int,
    action: str,
    comment: str,
    now: datetime,
) -> dict[str, Any]:
    """Confirm, dismiss or reopen a finding; the history row keeps the evidence seen."""
    require_any_role(user, REVIEWER_ROLES, "Решение по нарушению принимает контролёр")
    row = _visible(user, store.get_finding(conn, finding_id, for_update=True))
    if row["withdrawn_at"] is not None and action != "reopen":
        raise Conflict(
            "Повторная проверка больше не находит это нарушение", code="finding_withdrawn"
        )
    try:
        decision = review(row["status"], action, comment=comment)
    except ReviewError as exc:
        cls = Invalid if exc.code in ("comment_required", "bad_action") else Conflict
        raise cls(exc.message, code=exc.code) from None
    store.save_review(
        conn,
        finding_id,
        from_status=decision.from_status.value,
        to_status=decision.to_status.value,
        reviewer_id=user.id,
        comment=decision.comment,
        evidence_hash=row["evidence_hash"],
        at=now,
    )
    return get_finding(conn, user=user, finding_id=finding_id)


# --- reports -------------------------------------------------------------------------------------
def month_bounds(year: int, month: int, tz: str) -> tuple[datetime, datetime]:
    """The month's start and end (exclusive) in the region's time zone, as UTC."""
    if not (2000 <= year <= 2099 and 1 <= month <= 12):
        raise Invalid(f"Неверный месяц: {year:04d}-{month:02d}", code="bad_month")
    zone = ZoneInfo(tz)
    start = datetime(year, month, 1, tzinfo=zone)
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    end = datetime(nxt.year, nxt.month, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def monthly_report(
    conn: psycopg.Connection,
    *,
    year: int,
    month: int,
    carrier_id: int | None,
    tz: str,
    rules_version: str,
    user: Any = None,
) -> Report:
    """The month's report per carrier (a carrier's staff get their own carrier only)."""
    if user is not None:
        require_any_role(user, REVIEWER_ROLES, "Отчёты аудита доступны контролёрам")
        own = getattr(user, "carrier_id", None)
        if own is not None:
            if carrier_id not in (None, own):
                raise NotFound("Перевозчик не найден", code="carrier_not_found")
            carrier_id = own
    start, end = month_bounds(year, month, tz)
    trips, figures, lines = store.report_figures(conn, start=start, end=end, carrier_id=carrier_id)
    per: dict[int, dict[str, Any]] = defaultdict(
        lambda: {"findings": defaultdict(int), "confirmed": 0, "km": 0.0, "kop": 0}
    )
    for r in figures:
        if r["status"] == "dismissed":
            continue
        p = per[r["carrier_id"]]
        p["findings"][r["rule"]] += int(r["n"])
        if r["status"] == "confirmed":
            p["confirmed"] += int(r["n"])
        p["km"] += float(r["km"])
        p["kop"] += int(r["kop"])
    zone = ZoneInfo(tz)
    carriers = tuple(
        CarrierMonth(
            carrier_id=t["carrier_id"],
            carrier=t["carrier"],
            trips_completed=int(t["completed"]),
            trips_no_show=int(t["no_show"]),
            km_paid=float(t["km_paid"]),
            fare_kop=int(t["fare_kop"]),
            findings=dict(per[t["carrier_id"]]["findings"]),
            confirmed=per[t["carrier_id"]]["confirmed"],
            at_stake_km=round(per[t["carrier_id"]]["km"], 3),
            at_stake_kop=per[t["carrier_id"]]["kop"],
        )
        for t in trips
    )
    findings = tuple(
        FindingLine(
            finding_id=r["id"],
            trip_id=r["trip_id"],
            carrier=r["carrier"],
            vehicle=r["vehicle"],
            pickup_at=r["pickup_at"].astimezone(zone),
            rule=r["rule"],
            severity=r["severity"],
            status=r["status"],
            at_stake_km=float(r["at_stake_km"]),
            at_stake_kop=int(r["at_stake_kop"]),
            message=r["message"],
        )
        for r in lines
    )
    return Report(year, month, rules_version, carriers, findings)
