"""Dispatch's values: what comes in (``*In``, ``*Patch``, ``*Request``), what the store returns
(records: :class:`Passenger`, :class:`Trip`, :class:`TripEvent`, ...) and what the services answer
(:class:`TripQuote`, :class:`DayPlan`, ...).

Pure: pydantic models, frozen; no I/O. The services take and return these, the CSV import
validates rows with them, and the API uses them as its bodies as they are (``web.schemas`` holds
only what HTTP alone needs: login, tokens, the error body). Input models normalise what can be
normalised without the database or the rules (phones, СНИЛС checksum, names, plates, GeoJSON
shape); checks that need the rules (object types, vehicle types, benefit categories) are done by
the services. Our validators raise Russian messages; ``web.validation_ru`` words pydantic's own.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from dispatch import identity
from dispatch.errors import Invalid
from dispatch.geofence import geofence_problem
from dispatch.lifecycle import TripStatus
from dispatch.quota import QuotaStatus

Lat = Annotated[float, Field(ge=-90, le=90, description="Широта, WGS 84, градусы")]
Lon = Annotated[float, Field(ge=-180, le=180, description="Долгота, WGS 84, градусы")]
Name = Annotated[str, Field(min_length=1, max_length=100)]
Text = Annotated[str, Field(max_length=500)]

_MIN_BIRTH = date(1900, 1, 1)


def _sane_date(v: date) -> date:
    if not 1900 <= v.year <= 2100:
        raise ValueError("Дата вне допустимого диапазона (1900–2100)")
    return v


def _sane_datetime(v: datetime) -> datetime:
    if not 2000 <= v.year <= 2100:
        raise ValueError("Время вне допустимого диапазона (2000–2100)")
    return v


SaneDate = Annotated[date, AfterValidator(_sane_date)]
"""A calendar date in 1900–2100 (dates far outside overflow time-zone arithmetic)."""
SaneDateTime = Annotated[AwareDatetime, AfterValidator(_sane_datetime)]
"""A timezone-aware instant in 2000–2100."""
RegionDateTime = Annotated[datetime, AfterValidator(_sane_datetime)]
"""A time in 2000–2100, with a zone or without one — then it is the region's local time (the
service localises it with the rules' time zone: :func:`dispatch.services.booking.in_region`)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)


def _invalid_to_value_error(fn, value):  # type: ignore[no-untyped-def]
    try:
        return fn(value)
    except Invalid as exc:
        raise ValueError(exc.message) from None


# --- Passengers -----------------------------------------------------------------------------------
class BenefitIn(_Frozen):
    """A benefit category held over a period (``valid_to`` inclusive; open-ended when empty)."""

    category: Annotated[str, Field(min_length=1, max_length=50)]
    valid_from: SaneDate
    valid_to: SaneDate | None = None
    document_ref: Annotated[str, Field(max_length=200)] | None = None

    @model_validator(mode="after")
    def _period_in_order(self) -> BenefitIn:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError("Дата окончания льготы раньше даты начала")
        return self


def _check_birth(v: date | None) -> date | None:
    if v is None:
        return v
    if v < _MIN_BIRTH or v > date.today():
        raise ValueError("Дата рождения вне допустимого диапазона")
    return v


def _check_phones(v: list[str] | None) -> list[str] | None:
    if v is None:
        return v
    out: list[str] = []
    for raw in v:
        norm = _invalid_to_value_error(identity.normalize_phone, raw)
        if norm not in out:
            out.append(norm)
    return out


def _check_snils(v: str | None) -> str | None:
    if v is None or not v.strip():
        return None
    return _invalid_to_value_error(identity.validate_snils, v)


class _PassengerFields(_Frozen):
    @field_validator("birth_date", check_fields=False)
    @classmethod
    def _birth(cls, v: date | None) -> date | None:
        return _check_birth(v)

    @field_validator("phones", check_fields=False)
    @classmethod
    def _phones(cls, v: list[str] | None) -> list[str] | None:
        return _check_phones(v)

    @field_validator("snils", check_fields=False)
    @classmethod
    def _snils(cls, v: str | None) -> str | None:
        return _check_snils(v)

    @model_validator(mode="after")
    def _coords_together(self) -> Any:
        lat, lon = getattr(self, "home_lat", None), getattr(self, "home_lon", None)
        if (lat is None) != (lon is None):
            raise ValueError("Координаты адреса указываются парой: широта и долгота")
        return self


class PassengerIn(_PassengerFields):
    """A new passenger. Phones in any common Russian format; СНИЛС with or without separators."""

    last_name: Name
    first_name: Name
    middle_name: Annotated[str, Field(max_length=100)] | None = None
    birth_date: date
    phones: Annotated[list[Annotated[str, Field(max_length=40)]], Field(max_length=5)] = []
    snils: Annotated[str, Field(max_length=20)] | None = None
    home_address: Text | None = None
    home_lat: Lat | None = None
    home_lon: Lon | None = None
    wheelchair: bool = False
    walker: bool = False
    visually_impaired: bool = False
    needs_companion: bool = False
    notes: Annotated[str, Field(max_length=2000)] | None = None
    benefits: Annotated[list[BenefitIn], Field(max_length=20)] = []
    allow_namesake: bool = Field(
        False,
        description="Создать однофамильца: тот же ФИО и дата рождения, другой человек "
        "(только старший смены или администратор)",
    )


class PassengerPatch(_PassengerFields):
    """Fields to change; the ones left out stay as they are. ``phones``/``benefits`` replace all."""

    last_name: Name | None = None
    first_name: Name | None = None
    middle_name: Annotated[str, Field(max_length=100)] | None = None
    birth_date: date | None = None
    phones: Annotated[list[Annotated[str, Field(max_length=40)]], Field(max_length=5)] | None = None
    snils: Annotated[str, Field(max_length=20)] | None = None
    home_address: Text | None = None
    home_lat: Lat | None = None
    home_lon: Lon | None = None
    wheelchair: bool | None = None
    walker: bool | None = None
    visually_impaired: bool | None = None
    needs_companion: bool | None = None
    notes: Annotated[str, Field(max_length=2000)] | None = None
    benefits: Annotated[list[BenefitIn], Field(max_length=20)] | None = None

    # Left out means "unchanged"; an explicit null for a column that cannot be empty is refused
    # here, naming the field, instead of reaching the database as a NOT NULL violation (whose
    # error text quotes the passenger's whole row).
    @field_validator(
        "last_name", "first_name", "birth_date", "wheelchair", "walker", "visually_impaired",
        "needs_companion", mode="after",
    )  # fmt: skip
    @classmethod
    def _not_null(cls, v: Any) -> Any:
        if v is None:
            raise ValueError("не может быть пустым")
        return v


class Benefit(_Record):
    id: int
    category: str
    valid_from: SaneDate
    valid_to: date | None
    document_ref: str | None


class Passenger(_Record):
    id: int
    last_name: str
    first_name: str
    middle_name: str | None
    birth_date: date
    snils: str | None
    home_address: str | None
    home_lat: float | None
    home_lon: float | None
    wheelchair: bool
    walker: bool
    visually_impaired: bool
    needs_companion: bool
    notes: str | None
    active: bool
    phones: list[str]
    benefits: list[Benefit]
    created_at: datetime
    updated_at: datetime


class PassengerHit(_Record):
    """One search result: enough to tell passengers apart, with a match score in [0, 1]."""

    id: int
    last_name: str
    first_name: str
    middle_name: str | None
    birth_date: date
    phones: list[str]
    active: bool
    score: float


# --- Social objects -------------------------------------------------------------------------------
def _check_polygon(v: dict[str, Any] | None) -> dict[str, Any] | None:
    if v is None:
        return v
    from shapely.geometry import shape

    if v.get("type") == "Feature":
        v = v.get("geometry") or {}
    if v.get("type") != "Polygon":
        raise ValueError("Геозона должна быть GeoJSON Polygon")
    try:
        poly = shape(v)
    except Exception:  # shapely raises several types on malformed coordinates
        raise ValueError("Геозона: неверные координаты многоугольника") from None
    if poly.is_empty or not poly.is_valid:
        raise ValueError("Геозона: многоугольник пустой или самопересекающийся")
    minx, miny, maxx, maxy = poly.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise ValueError("Геозона: координаты вне диапазона WGS 84 (долгота, широта)")
    return {"type": "Polygon", "coordinates": v["coordinates"]}


class SocialObjectIn(_Frozen):
    """A socially significant object. ``geofence`` is a GeoJSON Polygon (lon, lat); without it the
    object's zone is a circle of ``radius_m`` metres around (lat, lon)."""

    name: Annotated[str, Field(min_length=1, max_length=300)]
    object_type: Annotated[str, Field(min_length=1, max_length=50)]
    address: Annotated[str, Field(min_length=1, max_length=500)]
    lat: Lat
    lon: Lon
    geofence: dict[str, Any] | None = None
    radius_m: Annotated[float, Field(gt=0, le=5000)] = 150.0

    @field_validator("geofence")
    @classmethod
    def _geofence(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        return _check_polygon(v)

    @model_validator(mode="after")
    def _geofence_fits_point(self) -> SocialObjectIn:
        if self.geofence is not None:
            problem = geofence_problem(self.geofence, lat=self.lat, lon=self.lon)
            if problem:
                raise ValueError(problem)
        return self


class SocialObjectPatch(_Frozen):
    name: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    object_type: Annotated[str, Field(min_length=1, max_length=50)] | None = None
    address: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    lat: Lat | None = None
    lon: Lon | None = None
    geofence: dict[str, Any] | None = None
    radius_m: Annotated[float, Field(gt=0, le=5000)] | None = None

    @field_validator("geofence")
    @classmethod
    def _geofence(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        return _check_polygon(v)


class SocialObject(_Record):
    id: int
    name: str
    object_type: str
    address: str
    lat: float
    lon: float
    geofence: dict[str, Any] | None
    radius_m: float
    active: bool


# --- Carriers, vehicles, drivers ------------------------------------------------------------------
class _Depot(_Frozen):
    """A carrier's depot, optional; its coordinates are given (or cleared) together."""

    depot_address: Annotated[str, Field(max_length=500)] | None = None
    depot_lat: Lat | None = None
    depot_lon: Lon | None = None

    @model_validator(mode="after")
    def _depot_together(self) -> Any:
        if (self.depot_lat is None) != (self.depot_lon is None):
            raise ValueError("Координаты базы указываются парой: широта и долгота")
        return self


class CarrierIn(_Depot):
    """A carrier. ``depot_*``: where its vehicles stand overnight — day planning starts a vehicle
    that has not reported a position yet from here."""

    name: Annotated[str, Field(min_length=1, max_length=300)]
    inn: Annotated[str, Field(pattern=r"^[0-9]{10}([0-9]{2})?$")] | None = None
    contract_no: Annotated[str, Field(max_length=100)] | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None


class CarrierPatch(_Depot):
    """Change a carrier. The depot's coordinates are set (or cleared) together."""

    name: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    inn: Annotated[str, Field(pattern=r"^[0-9]{10}([0-9]{2})?$")] | None = None
    contract_no: Annotated[str, Field(max_length=100)] | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None


class Carrier(_Record):
    id: int
    name: str
    inn: str | None
    contract_no: str | None
    phone: str | None
    depot_address: str | None = None
    depot_lat: float | None = None
    depot_lon: float | None = None
    active: bool


_PLATE_RE = re.compile(r"^[0-9A-ZАВЕКМНОРСТУХ]{4,12}$")
MqttId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


def _check_plate(v: str | None) -> str | None:
    if v is None:
        return v
    plate = re.sub(r"[\s-]", "", v).upper()
    if not _PLATE_RE.fullmatch(plate):
        raise ValueError("Неверный госномер")
    return plate


class VehicleIn(_Frozen):
    carrier_id: Annotated[int, Field(ge=1)]
    plate: Annotated[str, Field(min_length=1, max_length=20)]
    vehicle_type: Annotated[str, Field(min_length=1, max_length=50)]
    seats: Annotated[int, Field(ge=1, le=50)]
    wheelchair_places: Annotated[int, Field(ge=0, le=10)] = 0
    model: Annotated[str, Field(max_length=100)] | None = None
    mqtt_id: MqttId

    @field_validator("plate")
    @classmethod
    def _plate(cls, v: str | None) -> str | None:
        return _check_plate(v)


class VehiclePatch(_Frozen):
    carrier_id: Annotated[int, Field(ge=1)] | None = None
    plate: Annotated[str, Field(min_length=1, max_length=20)] | None = None
    vehicle_type: Annotated[str, Field(min_length=1, max_length=50)] | None = None
    seats: Annotated[int, Field(ge=1, le=50)] | None = None
    wheelchair_places: Annotated[int, Field(ge=0, le=10)] | None = None
    model: Annotated[str, Field(max_length=100)] | None = None
    mqtt_id: MqttId | None = None

    @field_validator("plate")
    @classmethod
    def _plate(cls, v: str | None) -> str | None:
        return _check_plate(v)


class Vehicle(_Record):
    id: int
    carrier_id: int
    plate: str
    vehicle_type: str
    seats: int
    wheelchair_places: int
    model: str | None
    mqtt_id: str
    active: bool


class DriverIn(_Frozen):
    carrier_id: Annotated[int, Field(ge=1)]
    full_name: Annotated[str, Field(min_length=1, max_length=300)]
    license_no: Annotated[str, Field(min_length=1, max_length=40)]
    phone: Annotated[str, Field(max_length=40)] | None = None


class DriverPatch(_Frozen):
    carrier_id: Annotated[int, Field(ge=1)] | None = None
    full_name: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    license_no: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None


class Driver(_Record):
    id: int
    carrier_id: int
    full_name: str
    license_no: str
    phone: str | None
    active: bool


class VehiclePosition(_Record):
    vehicle_id: int
    plate: str
    vehicle_type: str
    mqtt_id: str
    ts: datetime
    lat: float
    lon: float
    speed_kmh: float | None
    heading_deg: float | None


# --- Trips ----------------------------------------------------------------------------------------
class Trip(_Record):
    id: int
    passenger_id: int
    category: str
    status: TripStatus
    vehicle_type: str
    companions: int
    wheelchair: bool
    pickup_at: datetime
    pickup_address: str
    pickup_lat: float
    pickup_lon: float
    dest_object_id: int
    dest_lat: float
    dest_lon: float
    comment: str | None
    planned_route: dict[str, Any] | None
    planned_dist_m: float | None
    planned_duration_s: float | None
    planned_dropoff_at: datetime | None
    fare_kop: int | None
    copay_share_pct: float | None
    copay_kop: int | None
    rules_version: str | None
    over_quota: bool
    override_by: int | None
    override_reason: str | None
    vehicle_id: int | None
    driver_id: int | None
    carrier_id: int | None
    recurrence_id: int | None
    started_at: datetime | None
    picked_up_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    cancelled_by: int | None
    cancel_reason: str | None
    late_cancel: bool | None
    no_show_reason: str | None
    created_by: int | None
    created_at: datetime
    # Issue 12: kept as booked (migration 0221); None on rows from before it.
    object_type: str | None = None
    category_reason: str | None = None
    companion_name: str | None = None
    cancel_initiator: str | None = None
    cancel_timing: str | None = None
    counts_for_quota: bool | None = None
    direction: str = "to_object"
    pickup_object_id: int | None = None
    dest_address: str | None = None
    pair_id: int | None = None
    return_trip_id: int | None = None


class TripEvent(_Record):
    id: int
    trip_id: int | None
    event_type: str
    from_status: str | None
    to_status: str | None
    occurred_at: datetime
    actor_user_id: int | None
    source: str
    lat: float | None = None  # where the vehicle reported it (WGS 84), when it did
    lon: float | None = None
    payload: dict[str, Any]


class Document(_Record):
    id: int
    trip_id: int | None
    passenger_id: int | None
    kind: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_by: int | None
    uploaded_at: datetime


class User(_Record):
    id: int
    login: str
    full_name: str
    roles: frozenset[str]
    carrier_id: int | None
    active: bool


# --- Booking: requests and what the service answers ----------------------------------------------
class TripRequest(BaseModel):
    """A booking request. Pickup defaults to the passenger's home address and coordinates."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    passenger_id: Annotated[int, Field(ge=1)]
    destination_id: Annotated[int, Field(ge=1, description="Социальный объект")]
    pickup_at: RegionDateTime = Field(
        description="Время подачи; без часового пояса — местное время региона"
    )
    pickup_address: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    pickup_lat: Lat | None = None
    pickup_lon: Lon | None = None
    vehicle_type: Annotated[str, Field(min_length=1, max_length=50)] | None = None
    companions: Annotated[int, Field(ge=0, le=10)] = 0
    direction: Literal["to_object", "from_object"] = Field(
        "to_object",
        description="to_object: от пассажира к социальному объекту (destination_id); "
        "from_object: от объекта обратно — pickup_address/координаты (или дом) становятся "
        "местом высадки",
    )
    return_pickup_at: RegionDateTime | None = Field(
        None,
        description="Обратная поездка: время подачи от социального объекта обратно к месту подачи",
    )
    companion_name: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        None, description="ФИО сопровождающего (обязательно для несовершеннолетнего)"
    )
    comment: Annotated[str, Field(max_length=1000)] | None = None
    override_reason: Annotated[str, Field(min_length=1, max_length=1000)] | None = Field(
        None, description="Причина превышения лимита (только старший смены или администратор)"
    )


class RecurringRequest(TripRequest):
    """A series: ``weekdays`` (0 = пн … 6 = вс) at local ``local_time``, ``start``–``until``."""

    pickup_at: RegionDateTime | None = None  # type: ignore[assignment]
    weekdays: Annotated[list[Annotated[int, Field(ge=0, le=6)]], Field(min_length=1, max_length=7)]
    local_time: time
    start: SaneDate
    until: SaneDate


class ReturnQuote(BaseModel):
    """The return leg of a there-and-back quote: from the social object back to the pickup."""

    model_config = ConfigDict(frozen=True)

    category: str
    pickup_at: datetime
    pickup_address: str
    pickup_lat: float
    pickup_lon: float
    dropoff_address: str
    dropoff_lat: float
    dropoff_lon: float
    quota: QuotaStatus
    fare_kop: int
    copay_share_pct: float
    copay_kop: int
    distance_km: float
    planned_route: dict[str, Any]
    planned_dist_m: float
    planned_duration_s: float
    planned_dropoff_at: datetime


class TripQuote(BaseModel):
    """What the booking form's confirm step shows, without booking anything."""

    model_config = ConfigDict(frozen=True)

    passenger_id: int
    destination_id: int
    category: str
    category_reason: str
    vehicle_type: str
    pickup_at: datetime
    pickup_address: str
    pickup_lat: float
    pickup_lon: float
    quota: QuotaStatus
    override_required: bool
    fare_kop: int
    copay_share_pct: float
    copay_kop: int
    distance_km: float
    rules_version: str
    planned_route: dict[str, Any]
    planned_dist_m: float
    planned_duration_s: float
    planned_dropoff_at: datetime
    # A there-and-back booking (``return_pickup_at``): the outward fields above are priced as the
    # booking charges them (the co-payment band from the pair's total distance), the return here.
    return_trip: ReturnQuote | None = None
    band_km: float = Field(description="Расстояние, по которому выбрана доля доплаты, км")
    total_fare_kop: int = Field(description="Стоимость всех бронируемых поездок (туда и обратно)")
    total_copay_kop: int = Field(description="Доплата пассажира за все бронируемые поездки")
    quota_after: QuotaStatus = Field(
        description="Лимиты после этого бронирования (остаток — для следующей поездки)"
    )


class RefusedDate(BaseModel):
    model_config = ConfigDict(frozen=True)

    pickup_at: datetime
    reasons: list[str]
    codes: list[str]


class RecurringResult(BaseModel):
    """Booked now, refused now, and pending: dates beyond the booking horizon that the daily job
    (``socialtaxi series expand``) books as they come within it."""

    model_config = ConfigDict(frozen=True)

    recurrence_id: int
    booked: list[Trip]
    refused: list[RefusedDate]
    pending: list[datetime] = []


class SeriesRefusal(BaseModel):
    """A date of a series that could not be booked, with the reasons (operator's list)."""

    model_config = ConfigDict(frozen=True)

    recurrence_id: int
    passenger_id: int
    pickup_at: datetime
    codes: list[str]
    reasons: list[str]
    checked_at: datetime


class PassengerQuota(BaseModel):
    """The passenger card's quota line: category on the date and the trips left."""

    model_config = ConfigDict(frozen=True)

    passenger_id: int
    category: str
    category_name: str
    object_type: str
    at: datetime
    quota: QuotaStatus


# --- Assignment: what the service answers --------------------------------------------------------
class CandidateView(BaseModel):
    model_config = ConfigDict(frozen=True)

    vehicle_id: int
    plate: str
    empty_s: float
    empty_m: float
    arrival_at: datetime
    lateness_s: float
    start: str = Field(
        description="Откуда считается порожний пробег: position — последняя отметка, depot — "
        "база перевозчика, current_trip — место высадки текущей поездки (машина везёт пассажира), "
        "first_pickup — место неизвестно (такие машины в конце списка)"
    )


class ConflictView(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: str
    vehicle_id: int
    trip_ids: list[int]
    message: str
    lateness_s: float | None = Field(
        default=0.0,
        description="Опоздание к подаче, с (late, unreachable); null — маршрута нет",
    )
    blocking: bool = Field(
        default=True,
        description="Конфликт запрещает назначение без force; late — только предупреждение",
    )


class AssignResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    trip: Trip
    conflicts: list[ConflictView]
    forced: bool
    lateness_s: float = Field(
        default=0.0, description="На сколько секунд машина опоздает к подаче этой поездки"
    )


class DayPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    day: date
    assignments: dict[int, int]
    unassigned: list[int]
    empty_m: float
    lateness_s: float
    conflicts: list[ConflictView]
    routes: dict[int, list[int]]
    applied: bool
    vehicles_without_position: list[int] = Field(
        description="Машины без отметки о местоположении (планируются от базы перевозчика "
        "или от первой подачи)"
    )
    vehicle_starts: dict[int, str] = Field(
        description="Откуда планируется машина: position — последняя отметка, depot — база "
        "перевозчика, first_pickup — от первой подачи (порожний пробег до неё не учтён)"
    )
