"""Social objects, carriers, vehicles and drivers: simple tables with an ``active`` flag."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from dispatch.store._sql import fetch_all, fetch_one, insert_row, update_row
from dispatch.store.models import Carrier, Driver, SocialObject, Vehicle, VehiclePosition

MODELS: dict[str, type[SocialObject] | type[Carrier] | type[Vehicle] | type[Driver]] = {
    "social_objects": SocialObject,
    "carriers": Carrier,
    "vehicles": Vehicle,
    "drivers": Driver,
}
_TOUCHES = {"social_objects"}  # tables with an updated_at column


def insert(conn: psycopg.Connection, *, table: str, values: dict[str, Any]) -> Any:
    return MODELS[table].model_validate(insert_row(conn, table, values))


def update(conn: psycopg.Connection, *, table: str, row_id: int, values: dict[str, Any]) -> Any:
    row = update_row(conn, table, row_id, values, touch=table in _TOUCHES)
    return None if row is None else MODELS[table].model_validate(row)


def get(conn: psycopg.Connection, *, table: str, row_id: int, lock: bool = False) -> Any:
    """One row as its model, or ``None``; ``lock`` holds it (``FOR UPDATE``) until commit."""
    q = sql.SQL("SELECT * FROM {} WHERE id = %s" + (" FOR UPDATE" if lock else "")).format(
        sql.Identifier(table)
    )
    row = fetch_one(conn, q, (row_id,))
    return None if row is None else MODELS[table].model_validate(row)


def list_rows(
    conn: psycopg.Connection,
    *,
    table: str,
    active: bool | None,
    limit: int,
    offset: int,
    filters: dict[str, Any] | None = None,
) -> list[Any]:
    conds: list[sql.Composable] = [sql.SQL("(%s::boolean IS NULL OR active = %s)")]
    params: list[Any] = [active, active]
    for col, val in (filters or {}).items():
        if val is not None:
            conds.append(sql.SQL("{} = %s").format(sql.Identifier(col)))
            params.append(val)
    q = sql.SQL("SELECT * FROM {} WHERE {} ORDER BY id LIMIT %s OFFSET %s").format(
        sql.Identifier(table), sql.SQL(" AND ").join(conds)
    )
    return [MODELS[table].model_validate(r) for r in fetch_all(conn, q, [*params, limit, offset])]


def last_positions(
    conn: psycopg.Connection, *, carrier_id: int | None = None
) -> list[VehiclePosition]:
    """The last known position of every active vehicle that has one."""
    rows = fetch_all(
        conn,
        "SELECT v.id AS vehicle_id, v.plate, v.vehicle_type, v.mqtt_id, p.ts, p.lat, p.lon,"
        " p.speed_kmh, p.heading_deg FROM vehicle_last_position p"
        " JOIN vehicles v ON v.id = p.vehicle_id"
        " WHERE v.active AND (%(c)s::bigint IS NULL OR v.carrier_id = %(c)s) ORDER BY v.id",
        {"c": carrier_id},
    )
    return [VehiclePosition.model_validate(r) for r in rows]
