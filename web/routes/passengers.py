"""Passenger registry and search. Every read of personal data is logged with a purpose."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Path, Query, UploadFile, status

from dispatch.models import (
    Passenger,
    PassengerHit,
    PassengerIn,
    PassengerPatch,
    PassengerQuota,
    SaneDateTime,
)
from dispatch.services import booking as booking_svc
from dispatch.services import registry as svc
from web.auth import Anyone, Registrar
from web.deps import Conn, NowDep, RulesDep
from web.routes._common import Limit, Offset, Purpose, read_upload
from web.schemas import ImportOut, RowErrorOut, SearchIn
from web.validation_ru import row_error_ru

router = APIRouter(prefix="/passengers", tags=["Пассажиры"])
PassengerId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.post("", response_model=Passenger, status_code=status.HTTP_201_CREATED)
def create_passenger(body: PassengerIn, conn: Conn, rules: RulesDep, user: Registrar) -> Passenger:
    return svc.create_passenger(conn, data=body, rules=rules, actor=user)


@router.get("", response_model=list[PassengerHit])
def list_passengers(
    conn: Conn,
    user: Anyone,
    limit: Limit = 50,
    offset: Offset = 0,
    active: bool | None = None,
    purpose: Purpose = "registry",
) -> list[PassengerHit]:
    return svc.list_passengers(
        conn, active=active, limit=limit, offset=offset, actor=user, purpose=purpose
    )


@router.post("/search", response_model=list[PassengerHit])
def search_passengers(body: SearchIn, conn: Conn, user: Anyone) -> list[PassengerHit]:
    """Search by phone (any format, partial) or ФИО (+ birth date); tolerant to case, ё/е, typos."""
    return svc.search_passengers(
        conn,
        text=body.query,
        phone=body.phone,
        name=body.name,
        birth_date=body.birth_date,
        limit=body.limit,
        actor=user,
        purpose=body.purpose,
    )


@router.post("/import", response_model=ImportOut)
def import_passengers(
    conn: Conn,
    rules: RulesDep,
    user: Registrar,
    file: Annotated[UploadFile, File(description="CSV")],
) -> ImportOut:
    """CSV import: good rows are created, bad rows reported with their line number and reason."""
    ids, errors = svc.import_csv(
        conn, kind="passengers", content=read_upload(file), rules=rules, actor=user
    )
    return ImportOut(
        created=len(ids),
        ids=ids,
        errors=[RowErrorOut(line=e.line, message=row_error_ru(e)) for e in errors],
    )


@router.get("/{passenger_id}", response_model=Passenger)
def get_passenger(
    passenger_id: PassengerId, conn: Conn, user: Anyone, purpose: Purpose = "view"
) -> Passenger:
    return svc.get_passenger(conn, passenger_id=passenger_id, actor=user, purpose=purpose)


@router.get("/{passenger_id}/quota", response_model=PassengerQuota)
def passenger_quota(
    passenger_id: PassengerId,
    conn: Conn,
    rules: RulesDep,
    now: NowDep,
    user: Anyone,
    at: Annotated[SaneDateTime | None, Query(description="На дату (по умолчанию — сейчас)")] = None,
    object_type: Annotated[str | None, Query(max_length=50)] = None,
    purpose: Purpose = "view",
) -> PassengerQuota:
    """Trips used and left this month and year (the region's time zone)."""
    return booking_svc.passenger_quota(
        conn, passenger_id=passenger_id, at=at or now, object_type=object_type, rules=rules,
        actor=user, purpose=purpose,
    )  # fmt: skip


@router.patch("/{passenger_id}", response_model=Passenger)
def update_passenger(
    passenger_id: PassengerId, body: PassengerPatch, conn: Conn, rules: RulesDep, user: Registrar
) -> Passenger:
    return svc.update_passenger(
        conn, passenger_id=passenger_id, patch=body, rules=rules, actor=user
    )


@router.post("/{passenger_id}/deactivate", response_model=Passenger)
def deactivate_passenger(passenger_id: PassengerId, conn: Conn, user: Registrar) -> Passenger:
    return svc.set_passenger_active(conn, passenger_id=passenger_id, active=False, actor=user)


@router.post("/{passenger_id}/activate", response_model=Passenger)
def activate_passenger(passenger_id: PassengerId, conn: Conn, user: Registrar) -> Passenger:
    return svc.set_passenger_active(conn, passenger_id=passenger_id, active=True, actor=user)
