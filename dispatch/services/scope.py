"""Carrier scoping, enforced in the services (not only in the routes).

A user with ``users.carrier_id`` set is a carrier's own staff (roles dispatcher or controller,
:mod:`dispatch.services.accounts`). Whatever their roles say, such a user

- reads only their carrier, its vehicles and drivers, and the trips assigned to it
  (``trips.carrier_id``) with their events and documents — and the passengers of those trips;
- acts (lifecycle, documents, reassignment) only on those trips and only with their own vehicles
  and drivers;
- never books, never plans the region's day, never writes the registries (those are the
  region's operators' and administrators' jobs), never lists or searches the passenger register.

Someone else's row is answered as "not found" (404), not "forbidden", so that ids of other
carriers' trips or passengers cannot be probed; a forbidden kind of action is a 403.
Social objects (destinations) are reference data every user reads.
"""

from __future__ import annotations

from typing import Any

import psycopg

from dispatch.errors import NotFound
from dispatch.services import PermissionDenied
from dispatch.store import trips as tstore

CARRIER_SCOPED_TABLES = {"carriers": "id", "vehicles": "carrier_id", "drivers": "carrier_id"}


def carrier_of(actor: Any) -> int | None:
    """The carrier whose staff ``actor`` is, or ``None`` for the region's own staff."""
    return getattr(actor, "carrier_id", None)


def refuse_carrier_staff(actor: Any, what: str) -> None:
    """403 for a carrier's staff: ``what`` is the region's job."""
    if carrier_of(actor) is not None:
        raise PermissionDenied(f"Сотрудникам перевозчика недоступно: {what}", code="carrier_scope")


def check_trip(actor: Any, trip: Any) -> None:
    """404 unless ``actor`` may see ``trip``."""
    cid = carrier_of(actor)
    if cid is not None and trip.carrier_id != cid:
        raise NotFound("Поездка не найдена", code="not_found")


def check_row(actor: Any, table: str, row: Any, message: str) -> None:
    """404 unless ``actor`` may see ``row`` of a registry ``table``."""
    cid = carrier_of(actor)
    col = CARRIER_SCOPED_TABLES.get(table)
    if cid is not None and col is not None and getattr(row, col) != cid:
        raise NotFound(message, code="not_found")


def row_filters(actor: Any, table: str) -> dict[str, Any]:
    """Extra ``WHERE col = value`` filters of a registry listing for ``actor``."""
    cid = carrier_of(actor)
    col = CARRIER_SCOPED_TABLES.get(table)
    return {col: cid} if cid is not None and col is not None else {}


def check_passenger(conn: psycopg.Connection, actor: Any, passenger_id: int) -> None:
    """404 unless ``actor`` may see this passenger (a carrier: one of its trips' passengers)."""
    cid = carrier_of(actor)
    if cid is not None and not tstore.passenger_rides_with(
        conn, passenger_id=passenger_id, carrier_id=cid
    ):
        raise NotFound("Пассажир не найден", code="not_found")
