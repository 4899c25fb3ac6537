"""The API's own request and response bodies: what only HTTP needs (login, tokens, the error
body, request bodies whose fields become a service's keyword arguments).

A body a dispatch service takes or returns as a whole (``PassengerIn``, ``TripRequest``, ``Trip``,
``TripQuote``, ``DayPlan``, ...) is a domain value and lives in :mod:`dispatch.models`, since
``dispatch`` may not import ``web``; the routes use those as they are, never a field-for-field
copy. Every other API body is defined here, and nowhere else under ``web/``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dispatch.models import SaneDate, User

Reason = Annotated[str, Field(min_length=1, max_length=1000)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LoginIn(_In):
    login: Annotated[str, Field(min_length=1, max_length=100)]
    password: Annotated[str, Field(min_length=1, max_length=200)]


class UserOut(BaseModel):
    id: int
    login: str
    full_name: str
    roles: list[str]
    carrier_id: int | None

    @classmethod
    def of(cls, u: User) -> UserOut:
        return cls(
            id=u.id,
            login=u.login,
            full_name=u.full_name,
            roles=sorted(u.roles),
            carrier_id=u.carrier_id,
        )


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    user: UserOut


class SearchIn(_In):
    """Passenger search. Either one free-text ``query`` (a phone or ФИО, optionally with a birth
    date ДД.ММ.ГГГГ), or explicit ``phone`` / ``name`` + ``birth_date``. Sent as a POST body so
    that personal data never appears in URLs or access logs."""

    query: Annotated[str, Field(max_length=200)] | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None
    name: Annotated[str, Field(max_length=300)] | None = None
    birth_date: date | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    purpose: Annotated[str, Field(min_length=1, max_length=200)] = "booking"


class RowErrorOut(BaseModel):
    line: int
    message: str


class ImportOut(BaseModel):
    created: int
    ids: list[int]
    errors: list[RowErrorOut]


class ReasonIn(_In):
    reason: Reason


class CancelIn(_In):
    reason: Reason
    initiator: Literal["passenger", "carrier", "operator"] = Field(
        description="Кто отменяет: пассажир, перевозчик или оператор"
    )


class OptionalReasonIn(_In):
    reason: Reason | None = None


class AssignIn(_In):
    vehicle_id: Annotated[int, Field(ge=1, le=2**63 - 1)]
    driver_id: Annotated[int, Field(ge=1, le=2**63 - 1)] | None = None
    force: bool = Field(
        False, description="Назначить вопреки конфликтам (ручное решение диспетчера)"
    )


class PlanDayIn(_In):
    day: SaneDate
    apply: bool = Field(False, description="Сразу назначить машины по плану")


class FieldErrorOut(BaseModel):
    field: str
    message: str


class RefusalOut(BaseModel):
    code: str
    field: str
    message: str


class ErrorOut(BaseModel):
    """Every 4xx/5xx body: a Russian ``detail`` for the user and a stable ``code``."""

    detail: str
    code: str
    errors: list[FieldErrorOut] | None = None
    refusals: list[RefusalOut] | None = None
    quota: dict[str, Any] | None = None
    conflicts: list[dict[str, Any]] | None = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Требуется вход в систему"},
    403: {"model": ErrorOut, "description": "Недостаточно прав"},
    404: {"model": ErrorOut, "description": "Не найдено"},
    409: {"model": ErrorOut, "description": "Конфликт с текущим состоянием"},
    422: {"model": ErrorOut, "description": "Неверные данные или отказ (причины по-русски)"},
    503: {"model": ErrorOut, "description": "Сервис временно недоступен (нет дорожного графа)"},
}


class AddressOut(BaseModel):
    """One address-search result (issue 12): the map's spelling, a WGS 84 point, a score."""

    id: int
    kind: Annotated[str, Field(description="house | street | place")]
    label: str
    lat: float
    lon: float
    score: float


# --- accounts and sessions (issue 9) ----------------------------------------------------------
class UserAdminOut(UserOut):
    active: bool

    @classmethod
    def of(cls, u: User) -> UserAdminOut:
        return cls(**UserOut.of(u).model_dump(), active=u.active)


class SessionOut(BaseModel):
    id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    client_addr: str | None
    user_agent: str | None


class PasswordChangeIn(_In):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    current_password: Annotated[str, Field(min_length=1, max_length=200)]
    new_password: Annotated[str, Field(min_length=8, max_length=200)]


class RolesIn(_In):
    roles: Annotated[
        list[Literal["operator", "dispatcher", "controller", "supervisor", "admin"]],
        Field(min_length=1, max_length=5),
    ]


class EndedOut(BaseModel):
    ended: int
