"""Trips, their events, recurrences and documents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from dispatch.models import Document, Trip, TripEvent
from dispatch.store._sql import db_errors, fetch_all, fetch_one, insert_row, update_row

# Statuses of trips that hold a place in the schedule (a vehicle may still have to drive them).
OPEN_STATUSES = ("booked", "assigned", "en_route", "at_pickup", "on_board")


def insert_trip(conn: psycopg.Connection, *, values: dict[str, Any]) -> Trip:
    return Trip.model_validate(insert_row(conn, "trips", values))


def get_trip(conn: psycopg.Connection, *, trip_id: int, lock: bool = False) -> Trip | None:
    row = fetch_one(
        conn, "SELECT * FROM trips WHERE id = %s" + (" FOR UPDATE" if lock else ""), (trip_id,)
    )
    return None if row is None else Trip.model_validate(row)


def update_trip(conn: psycopg.Connection, *, trip_id: int, values: dict[str, Any]) -> Trip:
    row = update_row(conn, "trips", trip_id, values, touch=True)
    assert row is not None
    return Trip.model_validate(row)


def list_trips(
    conn: psycopg.Connection,
    *,
    start: datetime | None,
    end: datetime | None,
    status: str | None,
    passenger_id: int | None,
    vehicle_id: int | None,
    limit: int,
    offset: int,
) -> list[Trip]:
    rows = fetch_all(
        conn,
        "SELECT * FROM trips WHERE (%(s)s::timestamptz IS NULL OR pickup_at >= %(s)s)"
        " AND (%(e)s::timestamptz IS NULL OR pickup_at < %(e)s)"
        " AND (%(st)s::text IS NULL OR status = %(st)s)"
        " AND (%(p)s::bigint IS NULL OR passenger_id = %(p)s)"
        " AND (%(v)s::bigint IS NULL OR vehicle_id = %(v)s)"
        " ORDER BY pickup_at, id LIMIT %(l)s OFFSET %(o)s",
        {
            "s": start,
            "e": end,
            "st": status,
            "p": passenger_id,
            "v": vehicle_id,
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
        {"s": start, "e": end, "open": list(OPEN_STATUSES), "v": vehicle_id},
    )
    return [Trip.model_validate(r) for r in rows]


def counted_trips(
    conn: psycopg.Connection, *, passenger_id: int, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """The passenger's trips with a pickup in [start, end): pickup_at, status, object type."""
    return fetch_all(
        conn,
        "SELECT t.pickup_at, t.status, o.object_type FROM trips t"
        " JOIN social_objects o ON o.id = t.dest_object_id"
        " WHERE t.passenger_id = %s AND t.pickup_at >= %s AND t.pickup_at < %s",
        (passenger_id, start, end),
    )


def insert_event(
    conn: psycopg.Connection,
    *,
    trip_id: int | None,
    event_type: str,
    from_status: str | None,
    to_status: str | None,
    occurred_at: datetime,
    actor_user_id: int | None,
    source: str = "api",
    vehicle_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        "INSERT INTO trip_events (trip_id, vehicle_id, event_type, from_status, to_status,"
        " occurred_at, actor_user_id, source, payload) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            trip_id,
            vehicle_id,
            event_type,
            from_status,
            to_status,
            occurred_at,
            actor_user_id,
            source,
            Jsonb(payload or {}),
        ),
    )


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
    conn: psycopg.Connection, *, passenger_id: int, rule: dict[str, Any], created_by: int | None
) -> int:
    row = insert_row(
        conn,
        "recurrences",
        {"passenger_id": passenger_id, "rule": rule, "created_by": created_by},
        returning="id",
    )
    return int(row["id"])


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
