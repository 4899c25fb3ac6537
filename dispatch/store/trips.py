"""Trips, their events, recurrences and documents."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from dispatch.lifecycle import OPEN, TripChange, TripStatus
from dispatch.models import Document, Trip, TripEvent
from dispatch.payments import Payment
from dispatch.store._sql import db_errors, fetch_all, fetch_one, insert_row

#: ``lifecycle.OPEN`` as the SQL parameter (a list, in a stable order): trips that hold a place in
#: the schedule (a vehicle may still have to drive them).
_OPEN = sorted(s.value for s in OPEN)


def insert_trip(conn: psycopg.Connection, *, values: dict[str, Any]) -> Trip:
    return Trip.model_validate(insert_row(conn, "trips", values))


def get_trip(conn: psycopg.Connection, *, trip_id: int, lock: bool = False) -> Trip | None:
    row = fetch_one(
        conn, "SELECT * FROM trips WHERE id = %s" + (" FOR UPDATE" if lock else ""), (trip_id,)
    )
    return None if row is None else Trip.model_validate(row)


def list_trips(
    conn: psycopg.Connection,
    *,
    start: datetime | None,
    end: datetime | None,
    status: TripStatus | None,
    passenger_id: int | None,
    vehicle_id: int | None,
    limit: int,
    offset: int,
    carrier_id: int | None = None,
) -> list[Trip]:
    rows = fetch_all(
        conn,
        "SELECT * FROM trips WHERE (%(s)s::timestamptz IS NULL OR pickup_at >= %(s)s)"
        " AND (%(c)s::bigint IS NULL OR carrier_id = %(c)s)"
        " AND (%(e)s::timestamptz IS NULL OR pickup_at < %(e)s)"
        " AND (%(st)s::text IS NULL OR status = %(st)s)"
        " AND (%(p)s::bigint IS NULL OR passenger_id = %(p)s)"
        " AND (%(v)s::bigint IS NULL OR vehicle_id = %(v)s)"
        " ORDER BY pickup_at, id LIMIT %(l)s OFFSET %(o)s",
        {
            "s": start,
            "e": end,
            "st": None if status is None else status.value,
            "p": passenger_id,
            "v": vehicle_id,
            "c": carrier_id,
            "l": limit,
            "o": offset,
        },
    )
    return [Trip.model_validate(r) for r in rows]


def open_trips_between(
    conn: psycopg.Connection, *, start: datetime, end: datetime, vehicle_id: int | None = None
) -> list[Trip]:
    """Trips not yet finished with a pickup in [start, end), optionally of one vehicle."""
    rows = fetch_all(
        conn,
        "SELECT * FROM trips WHERE pickup_at >= %(s)s AND pickup_at < %(e)s"
        " AND status = ANY(%(open)s) AND (%(v)s::bigint IS NULL OR vehicle_id = %(v)s)"
        " ORDER BY pickup_at, id",
        {"s": start, "e": end, "open": _OPEN, "v": vehicle_id},
    )
    return [Trip.model_validate(r) for r in rows]


def counted_trips(
    conn: psycopg.Connection, *, passenger_id: int, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """The passenger's trips with a pickup in [start, end): pickup_at, status, the object type
    and category *stored on the trip at booking* (the object's current type only for rows from
    before 0221)."""
    return fetch_all(
        conn,
        "SELECT t.pickup_at, t.status, COALESCE(t.object_type, o.object_type) AS object_type,"
        " t.category, t.counts_for_quota, t.pair_id FROM trips t"
        " JOIN social_objects o ON o.id = t.dest_object_id"
        " WHERE t.passenger_id = %s AND t.pickup_at >= %s AND t.pickup_at < %s",
        (passenger_id, start, end),
    )


def overlapping_trips(
    conn: psycopg.Connection, *, passenger_id: int, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """The passenger's trips not cancelled or missed whose [pickup, planned drop-off] overlaps
    [start, end] (a trip with no planned drop-off is taken as its pickup instant)."""
    return fetch_all(
        conn,
        "SELECT id, pickup_at, planned_dropoff_at FROM trips"
        " WHERE passenger_id = %s AND status NOT IN ('cancelled', 'no_show')"
        " AND pickup_at <= %s AND COALESCE(planned_dropoff_at, pickup_at) >= %s"
        " ORDER BY pickup_at",
        (passenger_id, end, start),
    )


_INSERT_EVENT = """
INSERT INTO trip_events (trip_id, vehicle_id, event_type, from_status, to_status, occurred_at,
                         actor_user_id, source, lat, lon, payload, dedup_key)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (dedup_key) DO NOTHING
RETURNING id
"""

_INSERT_PAYMENT = """
INSERT INTO payments (trip_id, amount_kop, method, collected_at, source, dedup_key, expected_kop,
                      amount_mismatch)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (dedup_key) DO NOTHING
"""


def record_event(
    conn: psycopg.Connection,
    *,
    trip_id: int | None,
    event_type: str,
    occurred_at: datetime,
    change: TripChange | None = None,
    from_status: TripStatus | None = None,
    to_status: TripStatus | None = None,
    source: str = "api",
    actor_user_id: int | None = None,
    vehicle_id: int | None = None,
    lat: float | None = None,
    lon: float | None = None,
    payload: Mapping[str, Any] | None = None,
    dedup_key: str | None = None,
    payment: Payment | None = None,
    returning: bool = False,
) -> tuple[bool, Trip | None]:
    """The one writer of trip state: store one trip event and, when it is new, apply ``change``
    to its trip and write ``payment`` — in the caller's transaction.

    API actions (``dispatch.services.trips``), bookings and vehicle events
    (``telemetry.store``) all come through here; what to write was decided by
    :func:`dispatch.lifecycle.plan_change` (and :func:`dispatch.payments.check_payment`).
    ``from_status``/``to_status`` are recorded for an event without a change (a booking, a
    refused vehicle event); with one, they are the change's. An event whose ``dedup_key`` is
    stored already (redelivered over MQTT) writes nothing: ``(False, None)``. Otherwise
    ``(True, trip)``, the trip as updated when ``returning`` (else ``None``). The trip row should
    be locked by the caller (``SELECT ... FOR UPDATE``) before the change was decided.
    """
    if change is not None:
        from_status, to_status = change.from_status, change.to_status
        payload = {**(payload or {}), **change.payload}
    inserted = conn.execute(
        _INSERT_EVENT,
        (
            trip_id,
            vehicle_id,
            event_type,
            None if from_status is None else from_status.value,
            None if to_status is None else to_status.value,
            occurred_at,
            actor_user_id,
            source,
            lat,
            lon,
            Jsonb(dict(payload or {})),
            dedup_key,
        ),
    ).fetchone()
    if inserted is None:
        return False, None
    trip: Trip | None = None
    if change is not None:
        trip = _apply_change(conn, change, returning=returning)
    if payment is not None:
        conn.execute(
            _INSERT_PAYMENT,
            (
                payment.trip_id,
                payment.amount_kop,
                payment.method,
                payment.collected_at,
                source,
                dedup_key,
                payment.expected_kop,
                payment.amount_mismatch,
            ),
        )
    return True, trip


def _apply_change(conn: psycopg.Connection, change: TripChange, *, returning: bool) -> Trip | None:
    parts: list[sql.Composable] = [sql.SQL("status = %s"), sql.SQL("updated_at = now()")]
    params: list[Any] = [change.to_status.value]
    for col, value in change.values.items():
        parts.append(sql.SQL("{} = %s").format(sql.Identifier(col)))
        params.append(value)
    for col, ts in change.stamps.items():
        parts.append(sql.SQL("{0} = COALESCE({0}, %s)").format(sql.Identifier(col)))
        params.append(ts)
    q = sql.SQL("UPDATE trips SET {} WHERE id = %s").format(sql.SQL(", ").join(parts))
    if not returning:
        with db_errors():
            conn.execute(q, (*params, change.trip_id))
        return None
    with db_errors():
        row = fetch_one(conn, q + sql.SQL(" RETURNING *"), (*params, change.trip_id))
    assert row is not None
    return Trip.model_validate(row)


def has_payment(conn: psycopg.Connection, *, trip_id: int) -> bool:
    """Whether a payment is recorded for the trip (read after the trip row is locked, so that
    it sees a payment another transaction committed while this one waited for the lock)."""
    row = fetch_one(
        conn, "SELECT EXISTS (SELECT 1 FROM payments WHERE trip_id = %s) AS paid", (trip_id,)
    )
    return bool(row and row["paid"])


def list_events(conn: psycopg.Connection, *, trip_id: int) -> list[TripEvent]:
    rows = fetch_all(
        conn,
        "SELECT id, trip_id, event_type, from_status, to_status, occurred_at, actor_user_id,"
        " source,"
        " payload FROM trip_events WHERE trip_id = %s ORDER BY occurred_at, id",
        (trip_id,),
    )
    return [TripEvent.model_validate(r) for r in rows]


def insert_recurrence(
    conn: psycopg.Connection,
    *,
    passenger_id: int,
    rule: dict[str, Any],
    created_by: int | None,
    request: dict[str, Any] | None = None,
    until_date: Any = None,
) -> int:
    row = insert_row(
        conn,
        "recurrences",
        {"passenger_id": passenger_id, "rule": rule, "created_by": created_by,
         "request": request, "until_date": until_date},
        returning="id",
    )  # fmt: skip
    return int(row["id"])


def set_expanded_through(conn: psycopg.Connection, *, recurrence_id: int, through: Any) -> None:
    conn.execute(
        "UPDATE recurrences SET expanded_through = %s WHERE id = %s", (through, recurrence_id)
    )


def recurrences_to_expand(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Active series with dates not yet expanded, locked (another job run skips them)."""
    return fetch_all(
        conn,
        "SELECT id, passenger_id, request, created_by, expanded_through, until_date"
        " FROM recurrences WHERE active AND request IS NOT NULL"
        " AND (expanded_through IS NULL OR expanded_through < until_date)"
        " ORDER BY id FOR UPDATE SKIP LOCKED",
        (),
    )


def record_refusal(
    conn: psycopg.Connection,
    *,
    recurrence_id: int,
    pickup_at: datetime,
    codes: list[str],
    reasons: list[str],
    checked_at: datetime,
) -> None:
    conn.execute(
        "INSERT INTO recurrence_refusals (recurrence_id, pickup_at, codes, reasons, checked_at)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (recurrence_id, pickup_at) DO UPDATE"
        " SET codes = EXCLUDED.codes, reasons = EXCLUDED.reasons, checked_at = EXCLUDED.checked_at",
        (recurrence_id, pickup_at, codes, reasons, checked_at),
    )


def list_refusals(
    conn: psycopg.Connection, *, recurrence_id: int | None, limit: int = 500
) -> list[dict[str, Any]]:
    """Refused dates of one series (or of all), latest first."""
    return fetch_all(
        conn,
        "SELECT f.recurrence_id, r.passenger_id, f.pickup_at, f.codes, f.reasons, f.checked_at"
        " FROM recurrence_refusals f JOIN recurrences r ON r.id = f.recurrence_id"
        " WHERE %(rid)s::bigint IS NULL OR f.recurrence_id = %(rid)s"
        " ORDER BY f.checked_at DESC, f.pickup_at LIMIT %(limit)s",
        {"rid": recurrence_id, "limit": limit},
    )


_DOC_COLUMNS = (
    "id, trip_id, passenger_id, kind, filename, content_type, size_bytes, sha256, uploaded_by,"
    " uploaded_at"
)


def insert_document(conn: psycopg.Connection, *, values: dict[str, Any]) -> Document:
    with db_errors():
        return Document.model_validate(
            insert_row(conn, "documents", values, returning=_DOC_COLUMNS)
        )


def list_documents(conn: psycopg.Connection, *, trip_id: int) -> list[Document]:
    rows = fetch_all(
        conn, f"SELECT {_DOC_COLUMNS} FROM documents WHERE trip_id = %s ORDER BY id", (trip_id,)
    )
    return [Document.model_validate(r) for r in rows]


def get_document_content(
    conn: psycopg.Connection, *, document_id: int
) -> tuple[Document, bytes] | None:
    row = fetch_one(
        conn, f"SELECT {_DOC_COLUMNS}, content FROM documents WHERE id = %s", (document_id,)
    )
    if row is None:
        return None
    content = bytes(row.pop("content"))
    return Document.model_validate(row), content


def vehicle_fixes(
    conn: psycopg.Connection, *, vehicle_id: int, start: datetime, end: datetime
) -> tuple[list[float], list[float]]:
    """Latitudes and longitudes of a vehicle's plausible GPS fixes with ``start <= ts <= end``."""
    rows = conn.execute(
        "SELECT lat, lon FROM vehicle_positions WHERE vehicle_id = %s AND ts >= %s AND ts <= %s"
        " AND NOT implausible ORDER BY ts",
        (vehicle_id, start, end),
    ).fetchall()
    return [r[0] for r in rows], [r[1] for r in rows]


def set_pair(conn: psycopg.Connection, *, trip_id: int, pair_id: int) -> None:
    """Mark a trip as a leg of the pair ``pair_id`` (booking, before the trip is dispatched)."""
    conn.execute("UPDATE trips SET pair_id = %s WHERE id = %s", (pair_id, trip_id))


def set_return(conn: psycopg.Connection, *, trip_id: int, return_trip_id: int) -> None:
    """Name the outward trip's return leg."""
    conn.execute("UPDATE trips SET return_trip_id = %s WHERE id = %s", (return_trip_id, trip_id))


def set_fare(
    conn: psycopg.Connection, *, trip_id: int, fare_kop: int, copay_share_pct: float, copay_kop: int
) -> None:
    """Re-price a just-booked trip (its pair's co-payment band is known once both legs are)."""
    conn.execute(
        "UPDATE trips SET fare_kop = %s, copay_share_pct = %s, copay_kop = %s WHERE id = %s",
        (fare_kop, copay_share_pct, copay_kop, trip_id),
    )


def passenger_rides_with(conn: psycopg.Connection, *, passenger_id: int, carrier_id: int) -> bool:
    """Whether the passenger has a trip assigned to the carrier (carrier scoping)."""
    row = fetch_one(
        conn,
        "SELECT EXISTS (SELECT 1 FROM trips WHERE passenger_id = %s AND carrier_id = %s) AS yes",
        (passenger_id, carrier_id),
    )
    return bool(row and row["yes"])
