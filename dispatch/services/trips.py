"""Trips after booking: read, list, lifecycle actions, events, documents.

Every state change is decided by :func:`dispatch.lifecycle.plan_change` and written by
:func:`dispatch.store.trips.record_event` (the writer vehicle events use too) as a ``trip_events``
row with the time and the actor, in the same transaction as the trip update.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from config.rules import Rules
from dispatch.documents import check_document
from dispatch.errors import Conflict, Invalid, NotFound
from dispatch.lifecycle import TripAction, TripState, TripStatus, plan_change
from dispatch.models import Document, Trip, TripEvent, User
from dispatch.services import scope
from dispatch.store import passengers as pstore
from dispatch.store import trips as tstore


def get_trip(
    conn: psycopg.Connection, *, trip_id: int, lock: bool = False, actor: Any = None
) -> Trip:
    """The trip; 404 when there is none — or when ``actor`` is a carrier's staff and the trip
    is not its carrier's (:mod:`dispatch.services.scope`)."""
    trip = tstore.get_trip(conn, trip_id=trip_id, lock=lock)
    if trip is None:
        raise NotFound("Поездка не найдена", code="not_found")
    scope.check_trip(actor, trip)
    return trip


def list_trips(
    conn: psycopg.Connection,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    status: TripStatus | None = None,
    passenger_id: int | None = None,
    vehicle_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
    carrier_id: int | None = None,
) -> list[Trip]:
    return tstore.list_trips(
        conn,
        carrier_id=carrier_id,
        start=start,
        end=end,
        status=status,
        passenger_id=passenger_id,
        vehicle_id=vehicle_id,
        limit=limit,
        offset=offset,
    )


def log_trip_read(
    conn: psycopg.Connection,
    *,
    actor: User,
    action: str,
    trip: Trip,
    purpose: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Write to the access log that ``actor`` was shown ``trip`` (its pickup address — often the
    passenger's home — its comment and reasons are the passenger's personal data)."""
    pstore.log_access(
        conn,
        user_id=actor.id,
        action=action,
        passenger_ids=[trip.passenger_id],
        purpose=purpose,
        detail={"trip_id": trip.id, **(detail or {})},
    )


def list_events(
    conn: psycopg.Connection, *, trip_id: int, actor: User, purpose: str
) -> list[TripEvent]:
    """The trip's events (reasons of a cancellation or a no-show included), logged as read."""
    trip = get_trip(conn, trip_id=trip_id, actor=actor)
    events = tstore.list_events(conn, trip_id=trip_id)
    log_trip_read(conn, actor=actor, action="read_events", trip=trip, purpose=purpose)
    return events


def act(
    conn: psycopg.Connection,
    *,
    trip_id: int,
    action: TripAction,
    actor: User,
    now: datetime,
    rules: Rules,
    reason: str | None = None,
    initiator: str | None = None,
) -> Trip:
    """A lifecycle action from a user (:func:`apply_action`); the trip shown back is logged.

    A cancellation records its ``initiator`` (passenger, carrier, operator) and timing, and
    whether it counts against the quota (rules file ``[cancellation]``). A no-show is accepted
    only after the booked pickup plus the rules' waiting time and only if the vehicle's GPS was
    within the pickup radius during the wait; a refusal names each failed check.
    """
    extra: dict[str, Any] | None = None
    payload: dict[str, Any] | None = None
    if action is TripAction.CANCEL:
        extra = _cancel_decision(conn, trip_id=trip_id, initiator=initiator, now=now, rules=rules)
        payload = dict(extra)
    elif action is TripAction.NO_SHOW:
        _check_no_show(conn, trip_id=trip_id, now=now, rules=rules)
        extra = {"counts_for_quota": rules.no_show.counts}
        payload = dict(extra)
    trip = apply_action(
        conn, trip_id=trip_id, action=action, actor=actor, now=now, rules=rules, reason=reason,
        extra=extra, payload=payload,
    )  # fmt: skip
    log_trip_read(conn, actor=actor, action=action.value, trip=trip, purpose="dispatch")
    return trip


def _cancel_decision(
    conn: psycopg.Connection, *, trip_id: int, initiator: str | None, now: datetime, rules: Rules
) -> dict[str, Any]:
    from dispatch.cancellation import INITIATORS, cancel_timing

    if initiator not in INITIATORS:
        raise Invalid(
            "Укажите, кто отменяет поездку: пассажир, перевозчик или оператор",
            code="cancel_initiator_required",
        )
    trip = get_trip(conn, trip_id=trip_id, lock=True)
    timing = cancel_timing(
        pickup_at=trip.pickup_at,
        at=now,
        vehicle_at_pickup=trip.status == TripStatus.AT_PICKUP,
        late_cancel_minutes=rules.booking.late_cancel_minutes,
    )
    return {
        "cancel_initiator": initiator,
        "cancel_timing": timing,
        "counts_for_quota": rules.cancellation.counts(initiator, timing),
    }


def _check_no_show(conn: psycopg.Connection, *, trip_id: int, now: datetime, rules: Rules) -> None:
    from datetime import timedelta

    from dispatch.cancellation import no_show_refusals

    trip = get_trip(conn, trip_id=trip_id, lock=True)
    if trip.status != TripStatus.AT_PICKUP or trip.vehicle_id is None:
        return  # the state machine refuses it with its own message
    ns = rules.no_show
    wait_end = trip.pickup_at + timedelta(minutes=ns.wait_minutes)
    lats, lons = tstore.vehicle_fixes(
        conn, vehicle_id=trip.vehicle_id, start=trip.pickup_at, end=min(now, wait_end)
    )
    refusals = no_show_refusals(
        pickup_at=trip.pickup_at, now=now, wait_minutes=ns.wait_minutes,
        pickup_lat=trip.pickup_lat, pickup_lon=trip.pickup_lon, fix_lats=lats, fix_lons=lons,
        radius_m=ns.pickup_radius_m, tz=rules.timezone,
    )  # fmt: skip
    if refusals:
        raise Conflict(
            "Неявку нельзя отметить: " + "; ".join(r.message for r in refusals),
            code=refusals[0].code,
        )


def apply_action(
    conn: psycopg.Connection,
    *,
    trip_id: int,
    action: TripAction,
    actor: User,
    now: datetime,
    rules: Rules,
    reason: str | None = None,
    extra: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
) -> Trip:
    """Move a trip by ``action`` (illegal moves raise ``IllegalTransition``, HTTP 409).

    Cancellation records who, why and when, and whether it is *late* (closer to the pickup than
    ``rules.booking.late_cancel_minutes``); a no-show records its reason. ``extra`` are further
    trip columns to set in the same update (the vehicle of an assignment).
    """
    trip = get_trip(conn, trip_id=trip_id, lock=True, actor=actor)
    change = plan_change(
        TripState(trip.id, trip.status, trip.vehicle_id, trip.pickup_at, trip.copay_kop),
        action,
        at=now,
        reason=reason,
        actor_id=actor.id,
        late_cancel_minutes=rules.booking.late_cancel_minutes,
        values=extra,
        payload=payload,
    )
    _, updated = tstore.record_event(
        conn,
        trip_id=trip_id,
        event_type=action.value,
        occurred_at=now,
        change=change,
        actor_user_id=actor.id,
        vehicle_id=change.values.get("vehicle_id", trip.vehicle_id),
        returning=True,
    )
    assert updated is not None
    return updated


def attach_document(
    conn: psycopg.Connection,
    *,
    trip_id: int,
    filename: str,
    content: bytes,
    kind: str,
    actor: User,
    max_bytes: int,
) -> Document:
    """Attach a PDF/JPEG/PNG to a trip; the type is read from the content, its SHA-256 stored."""
    trip = get_trip(conn, trip_id=trip_id, actor=actor)
    checked = check_document(content, max_bytes=max_bytes)
    name = (filename or "document").replace("\\", "/").rsplit("/", 1)[-1][:200] or "document"
    if not kind or len(kind) > 50:
        raise Invalid("Неверный вид документа", code="bad_kind")
    log_trip_read(conn, actor=actor, action="attach_document", trip=trip, purpose="registry")
    return tstore.insert_document(
        conn,
        values={
            "trip_id": trip.id,
            "passenger_id": trip.passenger_id,
            "kind": kind,
            "filename": name,
            "content_type": checked.content_type,
            "size_bytes": checked.size_bytes,
            "sha256": checked.sha256,
            "content": content,
            "uploaded_by": actor.id,
        },
    )


def list_documents(
    conn: psycopg.Connection, *, trip_id: int, actor: User, purpose: str
) -> list[Document]:
    """The trip's documents (kinds and file names), logged as read."""
    trip = get_trip(conn, trip_id=trip_id, actor=actor)
    docs = tstore.list_documents(conn, trip_id=trip_id)
    log_trip_read(conn, actor=actor, action="list_documents", trip=trip, purpose=purpose)
    return docs


def get_document(conn: psycopg.Connection, *, document_id: int) -> tuple[Document, bytes]:
    found = tstore.get_document_content(conn, document_id=document_id)
    if found is None:
        raise NotFound("Документ не найден", code="not_found")
    return found


def read_trip(conn: psycopg.Connection, *, trip_id: int, actor: User, purpose: str) -> Trip:
    """A trip for display; the passenger's data in it (pickup address) is logged as read."""
    trip = get_trip(conn, trip_id=trip_id, actor=actor)
    log_trip_read(conn, actor=actor, action="read_trip", trip=trip, purpose=purpose)
    return trip


def read_trips(
    conn: psycopg.Connection, *, actor: User, purpose: str, **filters: Any
) -> list[Trip]:
    trips = list_trips(conn, carrier_id=scope.carrier_of(actor), **filters)
    pids = sorted({t.passenger_id for t in trips})
    if pids:
        pstore.log_access(
            conn, user_id=actor.id, action="list_trips", passenger_ids=pids, purpose=purpose
        )
    return trips


def read_document(
    conn: psycopg.Connection, *, document_id: int, actor: User, purpose: str
) -> tuple[Document, bytes]:
    doc, content = get_document(conn, document_id=document_id)
    if scope.carrier_of(actor) is not None:
        try:
            if doc.trip_id is None:
                raise NotFound("not a trip's", code="not_found")
            get_trip(conn, trip_id=doc.trip_id, actor=actor)
        except NotFound:
            raise NotFound("Документ не найден", code="not_found") from None
    pstore.log_access(
        conn,
        user_id=actor.id,
        action="read_document",
        passenger_ids=[doc.passenger_id],
        purpose=purpose,
        detail={"document_id": doc.id},
    )
    return doc, content
