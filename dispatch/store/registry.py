"""Social objects, carriers, vehicles and drivers: simple tables with an ``active`` flag."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from dispatch.errors import Conflict
from dispatch.models import Carrier, Driver, SocialObject, Vehicle, VehiclePosition
from dispatch.store._sql import fetch_all, fetch_one, insert_row, unique_message, update_row

MODELS: dict[str, type[SocialObject] | type[Carrier] | type[Vehicle] | type[Driver]] = {
    "social_objects": SocialObject,
    "carriers": Carrier,
    "vehicles": Vehicle,
    "drivers": Driver,
}
_TOUCHES = {"social_objects"}  # tables with an updated_at column


# Unique columns, checked by a query before writing: a unique violation's DETAIL would put the
# value (a driver's licence number) in clear into the PostgreSQL server log.
_UNIQUE: dict[str, tuple[tuple[str, str], ...]] = {
    "drivers": (("license_no", "drivers_license_no_key"),),
    "carriers": (("inn", "carriers_inn_key"),),
    "vehicles": (("plate", "vehicles_plate_key"), ("mqtt_id", "vehicles_mqtt_id_key")),
}


def _check_unique(
    conn: psycopg.Connection, table: str, values: dict[str, Any], row_id: int | None = None
) -> None:
    for col, constraint in _UNIQUE.get(table, ()):
        if values.get(col) is None:
            continue
        q = sql.SQL("SELECT 1 FROM {} WHERE {} = %s AND id IS DISTINCT FROM %s").format(
            sql.Identifier(table), sql.Identifier(col)
        )
        if fetch_one(conn, q, (values[col], row_id)) is not None:
            raise Conflict(unique_message(constraint), code="duplicate")


def insert(conn: psycopg.Connection, *, table: str, values: dict[str, Any]) -> Any:
    _check_unique(conn, table, values)
    return MODELS[table].model_validate(insert_row(conn, table, values))


def update(conn: psycopg.Connection, *, table: str, row_id: int, values: dict[str, Any]) -> Any:
    _check_unique(conn, table, values, row_id)
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
