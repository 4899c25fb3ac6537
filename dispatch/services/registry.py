"""Registries: passengers, social objects, carriers, vehicles, drivers — create, update,
deactivate, read, list, CSV import. Every read of a passenger's personal data is written to the
access log with the reader, the passenger and the purpose.
"""

from __future__ import annotations

from typing import Any

import psycopg
from pydantic import BaseModel

from config.rules import Rules
from dispatch.errors import Conflict, DispatchError, Invalid, NotFound
from dispatch.geofence import geofence_problem
from dispatch.identity import normalize_name
from dispatch.imports import RowError, parse_csv
from dispatch.models import (
    BenefitIn,
    Passenger,
    PassengerHit,
    PassengerIn,
    PassengerPatch,
    User,
)
from dispatch.search import NameQuery, parse_query
from dispatch.services import scope
from dispatch.store import passengers as pstore
from dispatch.store import registry as rstore

SEARCH_MIN_SCORE = 0.5

_NOT_FOUND_RU = {
    "passengers": "Пассажир не найден",
    "social_objects": "Социальный объект не найден",
    "carriers": "Перевозчик не найден",
    "vehicles": "Автомобиль не найден",
    "drivers": "Водитель не найден",
}


# --- rule checks ------------------------------------------------------------------------------
def _check_benefits(benefits: list[BenefitIn] | None, rules: Rules) -> None:
    for b in benefits or ():
        try:
            rules.category(b.category)
        except KeyError:
            raise Invalid(
                f"Неизвестная льготная категория «{b.category}»", code="bad_category"
            ) from None


def _check_registry_values(table: str, values: dict[str, Any], rules: Rules) -> None:
    if "object_type" in values:
        try:
            rules.object_type(values["object_type"])
        except KeyError:
            raise Invalid(
                f"Неизвестный тип социального объекта «{values['object_type']}»", code="bad_type"
            ) from None
    if "vehicle_type" in values:
        try:
            rules.tariff(values["vehicle_type"])
        except KeyError:
            raise Invalid(
                f"Неизвестный тип транспортного средства «{values['vehicle_type']}»",
                code="bad_type",
            ) from None


# --- passengers -------------------------------------------------------------------------------
def _passenger_fields(data: BaseModel, *, current: Passenger | None = None) -> dict[str, Any]:
    fields = data.model_dump(exclude_unset=True, exclude={"phones", "benefits", "allow_namesake"})
    if current is None or {"last_name", "first_name", "middle_name"} & fields.keys():
        base = current.model_dump() if current else {}
        merged = {**base, **fields}
        fields["name_norm"] = normalize_name(
            merged.get("last_name"), merged.get("first_name"), merged.get("middle_name")
        )
    return fields


def create_passenger(
    conn: psycopg.Connection, *, data: PassengerIn, rules: Rules, actor: User
) -> Passenger:
    """Register a passenger; the read-back is logged as ``create``.

    A passenger who matches an existing one on ФИО + birth date, or on a phone + birth date, is
    refused (a second record would be a second quota for one person) with a message naming the
    match; a supervisor may still create a namesake (same ФИО and birth date, no shared phone)
    with ``allow_namesake``. A shared СНИЛС is always refused (store check)."""
    scope.refuse_carrier_staff(actor, "ведение реестра пассажиров")
    _check_benefits(data.benefits, rules)
    _check_not_duplicate(conn, data=data, actor=actor)
    pid = pstore.insert_passenger(
        conn, fields=_passenger_fields(data), phones=data.phones, benefits=data.benefits
    )
    pstore.log_access(
        conn, user_id=actor.id, action="create", passenger_ids=[pid], purpose="registry"
    )
    return _must_get_passenger(conn, pid)


NAMESAKE_ROLES = ("supervisor", "admin")


def _check_not_duplicate(conn: psycopg.Connection, *, data: PassengerIn, actor: User) -> None:
    from dispatch.services import require_any_role

    pstore.check_snils_free(conn, data.snils)  # a shared СНИЛС says so first
    name_norm = normalize_name(data.last_name, data.first_name, data.middle_name)
    matches = pstore.find_duplicates(
        conn, name_norm=name_norm, birth_date=data.birth_date, phones=data.phones
    )
    if data.allow_namesake:
        require_any_role(
            actor,
            NAMESAKE_ROLES,
            "Создать однофамильца может только старший смены или администратор",
        )
        matches = [m for m in matches if m["by_phone"]]
    if not matches:
        return
    pstore.log_access(conn, user_id=actor.id, action="duplicate_check",
                      passenger_ids=[m["id"] for m in matches], purpose="registry")  # fmt: skip
    m = matches[0]
    who = " ".join(x for x in (m["last_name"], m["first_name"], m["middle_name"]) if x)
    why = "ФИО и дата рождения" if m["by_name"] else "телефон и дата рождения"
    if m["by_name"] and m["by_phone"]:
        why = "ФИО, телефон и дата рождения"
    hint = (
        ""
        if m["by_phone"]
        else "; если это другой человек, старший смены может создать однофамильца"
    )
    raise Conflict(
        f"Пассажир уже есть в реестре: №{m['id']} {who}, {m['birth_date']:%d.%m.%Y} — "
        f"совпадают {why}{hint}",
        code="duplicate_passenger",
    )


def _must_get_passenger(
    conn: psycopg.Connection, passenger_id: int, *, lock: bool = False
) -> Passenger:
    p = pstore.get_passenger(conn, passenger_id=passenger_id, lock=lock)
    if p is None:
        raise NotFound("Пассажир не найден", code="not_found")
    return p


def get_passenger(
    conn: psycopg.Connection, *, passenger_id: int, actor: User, purpose: str
) -> Passenger:
    p = _must_get_passenger(conn, passenger_id)
    scope.check_passenger(conn, actor, p.id)
    pstore.log_access(conn, user_id=actor.id, action="read", passenger_ids=[p.id], purpose=purpose)
    return p


def update_passenger(
    conn: psycopg.Connection, *, passenger_id: int, patch: PassengerPatch, rules: Rules, actor: User
) -> Passenger:
    scope.refuse_carrier_staff(actor, "ведение реестра пассажиров")
    current = _must_get_passenger(conn, passenger_id, lock=True)
    _check_benefits(patch.benefits, rules)
    merged_lat = patch.home_lat if "home_lat" in patch.model_fields_set else current.home_lat
    merged_lon = patch.home_lon if "home_lon" in patch.model_fields_set else current.home_lon
    if (merged_lat is None) != (merged_lon is None):
        raise Invalid("Координаты адреса указываются парой: широта и долгота", code="bad_coords")
    for required in ("last_name", "first_name", "birth_date"):
        if required in patch.model_fields_set and getattr(patch, required) is None:
            raise Invalid("Фамилия, имя и дата рождения обязательны", code="required")
    pstore.update_passenger(
        conn, passenger_id=passenger_id, fields=_passenger_fields(patch, current=current)
    )
    if patch.phones is not None:
        pstore.replace_phones(conn, passenger_id=passenger_id, phones=patch.phones)
    if patch.benefits is not None:
        pstore.replace_benefits(conn, passenger_id=passenger_id, benefits=patch.benefits)
    pstore.log_access(
        conn, user_id=actor.id, action="update", passenger_ids=[passenger_id], purpose="registry"
    )
    return _must_get_passenger(conn, passenger_id)


def set_passenger_active(
    conn: psycopg.Connection, *, passenger_id: int, active: bool, actor: User
) -> Passenger:
    scope.refuse_carrier_staff(actor, "ведение реестра пассажиров")
    if not pstore.set_active(conn, table="passengers", row_id=passenger_id, active=active):
        raise NotFound("Пассажир не найден", code="not_found")
    pstore.log_access(
        conn,
        user_id=actor.id,
        action="deactivate" if not active else "activate",
        passenger_ids=[passenger_id],
        purpose="registry",
    )
    return _must_get_passenger(conn, passenger_id)


def list_passengers(
    conn: psycopg.Connection,
    *,
    active: bool | None,
    limit: int,
    offset: int,
    actor: User,
    purpose: str,
) -> list[PassengerHit]:
    scope.refuse_carrier_staff(actor, "реестр пассажиров")
    hits = pstore.list_passengers(conn, active=active, limit=limit, offset=offset)
    if hits:
        pstore.log_access(
            conn,
            user_id=actor.id,
            action="list",
            passenger_ids=[h.id for h in hits],
            purpose=purpose,
        )
    return hits


def search_passengers(
    conn: psycopg.Connection,
    *,
    text: str | None = None,
    phone: str | None = None,
    name: str | None = None,
    birth_date: Any = None,
    limit: int = 20,
    actor: User,
    purpose: str,
) -> list[PassengerHit]:
    """Find passengers by phone (any format, partial) or ФИО (+ birth date), typo-tolerant.

    Each passenger shown is logged (``search``); a search that finds nobody is logged once with
    no passenger, so the attempt is on record too. The query itself is not logged (it is PII).
    """
    scope.refuse_carrier_staff(actor, "поиск по реестру пассажиров")
    q = parse_query(text, phone=phone, name=name, birth_date=birth_date)
    if isinstance(q, NameQuery):
        hits = pstore.search_by_name(
            conn,
            name_norm=q.name_norm,
            birth_date=q.birth_date,
            min_score=SEARCH_MIN_SCORE,
            limit=limit,
        )
        if q.alt_name_norm:
            # Typed with the English layout on: the Russian reading is searched too, best first.
            alt = pstore.search_by_name(
                conn,
                name_norm=q.alt_name_norm,
                birth_date=q.birth_date,
                min_score=SEARCH_MIN_SCORE,
                limit=limit,
            )
            best = {h.id: h for h in alt}
            for h in hits:
                if h.id not in best or h.score > best[h.id].score:
                    best[h.id] = h
            hits = sorted(best.values(), key=lambda h: -h.score)[:limit]
        detail = {"by": "name", "with_birth_date": q.birth_date is not None}
    else:
        hits = pstore.search_by_phone(conn, digits=q.digits, alt_digits=q.alt_digits, limit=limit)
        detail = {"by": "phone", "full": q.full}
    pstore.log_access(
        conn,
        user_id=actor.id,
        action="search",
        passenger_ids=[h.id for h in hits] or [None],
        purpose=purpose,
        detail=detail,
    )
    return hits


# --- other registries -------------------------------------------------------------------------
def create_entry(
    conn: psycopg.Connection, *, table: str, data: BaseModel, rules: Rules, actor: User
) -> Any:
    scope.refuse_carrier_staff(actor, "ведение реестров")
    values = data.model_dump()
    _check_registry_values(table, values, rules)
    return rstore.insert(conn, table=table, values=values)


def update_entry(
    conn: psycopg.Connection,
    *,
    table: str,
    row_id: int,
    patch: BaseModel,
    rules: Rules,
    actor: User,
) -> Any:
    scope.refuse_carrier_staff(actor, "ведение реестров")
    values = patch.model_dump(exclude_unset=True)
    nullable = {
        "geofence", "middle_name", "model", "phone", "contract_no", "inn",
        "depot_address", "depot_lat", "depot_lon",
    }  # fmt: skip
    for k, v in values.items():
        if v is None and k not in nullable:
            raise Invalid("Обязательное поле не может быть пустым", code="required")
    _check_registry_values(table, values, rules)
    if table == "social_objects" and values.keys() & {"geofence", "lat", "lon"}:
        _check_geofence_fits(conn, row_id=row_id, values=values)
    row = rstore.update(conn, table=table, row_id=row_id, values=values)
    if row is None:
        raise NotFound(_NOT_FOUND_RU[table], code="not_found")
    return row


def _check_geofence_fits(conn: psycopg.Connection, *, row_id: int, values: dict[str, Any]) -> None:
    """A changed point or polygon: the polygon (new or kept) must still fit the point."""
    current = rstore.get(conn, table="social_objects", row_id=row_id, lock=True)
    if current is None:
        return  # update answers "not found"
    merged = {**current.model_dump(), **values}
    if merged["geofence"] is not None:
        problem = geofence_problem(merged["geofence"], lat=merged["lat"], lon=merged["lon"])
        if problem:
            raise Invalid(problem, code="bad_geofence")


def set_entry_active(
    conn: psycopg.Connection, *, table: str, row_id: int, active: bool, actor: User
) -> Any:
    scope.refuse_carrier_staff(actor, "ведение реестров")
    if not pstore.set_active(conn, table=table, row_id=row_id, active=active):
        raise NotFound(_NOT_FOUND_RU[table], code="not_found")
    return rstore.get(conn, table=table, row_id=row_id)


def get_entry(conn: psycopg.Connection, *, table: str, row_id: int, actor: Any = None) -> Any:
    row = rstore.get(conn, table=table, row_id=row_id)
    if row is None:
        raise NotFound(_NOT_FOUND_RU[table], code="not_found")
    scope.check_row(actor, table, row, _NOT_FOUND_RU[table])
    return row


def list_entries(
    conn: psycopg.Connection,
    *,
    table: str,
    active: bool | None,
    limit: int,
    offset: int,
    filters: dict[str, Any] | None = None,
    actor: Any = None,
) -> list[Any]:
    """Rows of a registry (for a carrier's staff: only its own carrier, vehicles, drivers)."""
    merged = dict(filters or {})
    for col, own in scope.row_filters(actor, table).items():
        if merged.get(col) not in (None, own):
            return []  # asked for another carrier's rows
        merged[col] = own
    return rstore.list_rows(
        conn, table=table, active=active, limit=limit, offset=offset, filters=merged
    )


# --- CSV import -------------------------------------------------------------------------------
def import_csv(
    conn: psycopg.Connection, *, kind: str, content: bytes, rules: Rules, actor: User
) -> tuple[list[int], list[RowError]]:
    """Import a registry CSV: good rows are created, bad ones reported as (line, reason).

    Each row is written in its own savepoint, so a row the database refuses (a duplicate СНИЛС,
    an unknown carrier) is reported with its line and does not undo the others.
    """
    scope.refuse_carrier_staff(actor, "загрузка реестров")
    parsed = parse_csv(content, kind=kind)
    errors = list(parsed.errors)
    created: list[int] = []
    for line, data in parsed.rows:
        try:
            with conn.transaction():
                if kind == "passengers":
                    created.append(create_passenger(conn, data=data, rules=rules, actor=actor).id)
                else:
                    created.append(
                        create_entry(conn, table=kind, data=data, rules=rules, actor=actor).id
                    )
        except DispatchError as exc:  # invalid, duplicate, unknown reference
            errors.append(RowError(line, exc.message))
        except psycopg.DataError:
            errors.append(RowError(line, "Значение вне допустимого диапазона"))
    errors.sort(key=lambda e: e.line)
    return created, errors
