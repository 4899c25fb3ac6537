"""SQL helpers shared by the store modules (psycopg 3), and the one mapping of constraint
violations the user can act on (duplicates, missing references) to :mod:`dispatch.errors` with
Russian messages (:func:`db_errors`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.rows import dict_row

from dispatch.errors import Conflict, Invalid

_UNIQUE_RU = {
    "passengers_snils_key": "Пассажир с таким СНИЛС уже есть в реестре",
    "carriers_inn_key": "Перевозчик с таким ИНН уже есть в реестре",
    "vehicles_plate_key": "Автомобиль с таким госномером уже есть в реестре",
    "vehicles_mqtt_id_key": "Автомобиль с таким идентификатором MQTT уже есть в реестре",
    "drivers_license_no_key": "Водитель с таким номером удостоверения уже есть в реестре",
    "users_login_key": "Пользователь с таким логином уже существует",
}
_FK_RU = {
    "vehicles_carrier_id_fkey": "Перевозчик не найден",
    "drivers_carrier_id_fkey": "Перевозчик не найден",
    "passenger_benefits_category_fkey": "Неизвестная категория льготы",
    "trips_vehicle_id_fkey": "Автомобиль не найден",
    "trips_driver_id_fkey": "Водитель не найден",
    "user_roles_role_fkey": "Неизвестная роль",
    "users_carrier_fk": "Перевозчик не найден",
}


def unique_message(constraint: str) -> str:
    """The Russian message for a duplicate refused by unique ``constraint``."""
    return _UNIQUE_RU.get(constraint, "Такая запись уже существует")


@contextmanager
def db_errors() -> Iterator[None]:
    """Turn constraint violations into :class:`Conflict` / :class:`Invalid` with Russian text."""
    try:
        yield
    except pg_errors.UniqueViolation as exc:
        name = exc.diag.constraint_name or ""
        raise Conflict(unique_message(name), code="duplicate") from None
    except pg_errors.ForeignKeyViolation as exc:
        name = exc.diag.constraint_name or ""
        raise Invalid(
            _FK_RU.get(name, "Ссылка на несуществующую запись"), code="bad_reference"
        ) from None
    except pg_errors.CheckViolation:
        raise Invalid("Значение вне допустимого диапазона", code="check_violation") from None
    except (pg_errors.NumericValueOutOfRange, pg_errors.StringDataRightTruncation):
        raise Invalid("Значение вне допустимого диапазона", code="out_of_range") from None


def fetch_one(conn: psycopg.Connection, query: Any, params: Any = None) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchone()


def fetch_all(conn: psycopg.Connection, query: Any, params: Any = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchall()


def insert_row(
    conn: psycopg.Connection, table: str, values: Mapping[str, Any], *, returning: str = "*"
) -> dict[str, Any]:
    """``INSERT INTO table (keys) VALUES (...) RETURNING *`` with identifiers quoted."""
    cols = list(values)
    q = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING {}").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, cols)),
        sql.SQL(", ").join(sql.Placeholder() * len(cols)),
        sql.SQL(returning),
    )
    with db_errors():
        row = fetch_one(conn, q, [_adapt(values[c]) for c in cols])
    assert row is not None
    return row


def update_row(
    conn: psycopg.Connection,
    table: str,
    row_id: int,
    values: Mapping[str, Any],
    *,
    touch: bool = False,
) -> dict[str, Any] | None:
    """Update the given columns of one row; ``None`` when no such row. ``touch`` sets updated_at."""
    parts: list[sql.Composable] = [
        sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder()) for c in values
    ]
    if touch:
        parts.append(sql.SQL("updated_at = now()"))
    if not parts:
        return fetch_one(
            conn, sql.SQL("SELECT * FROM {} WHERE id = %s").format(sql.Identifier(table)), [row_id]
        )
    q = sql.SQL("UPDATE {} SET {} WHERE id = {} RETURNING *").format(
        sql.Identifier(table), sql.SQL(", ").join(parts), sql.Placeholder()
    )
    with db_errors():
        return fetch_one(conn, q, [*(_adapt(v) for v in values.values()), row_id])


def _adapt(value: Any) -> Any:
    if isinstance(value, dict):
        from psycopg.types.json import Jsonb

        return Jsonb(value)
    return value
