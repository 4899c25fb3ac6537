"""The service rules as data: benefit categories, quotas, tariffs, co-payment, social-object types,
booking rules, assignment thresholds and audit thresholds.

The rules live in versioned TOML files a ministry can change without code
(``config/rules/leningrad_oblast.toml`` is the default). :func:`load_rules` validates a file and
refuses it with a :class:`RulesError` naming the file, the field and the reason.

This module does no I/O apart from reading the one file it is given.
"""

from __future__ import annotations

import tomllib
from datetime import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

NonNegInt = Annotated[int, Field(ge=0)]
Percent = Annotated[float, Field(ge=0, le=100)]


class RulesError(ValueError):
    """A rules file that cannot be used. ``str()`` reads ``file: field: reason``."""

    def __init__(self, path: Path | str, field: str, reason: str) -> None:
        self.path = str(path)
        self.field = field
        self.reason = reason
        super().__init__(f"{self.path}: {field}: {reason}")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SocialObjectType(_Frozen):
    """A kind of socially significant object (clinic, МФЦ, ...)."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(min_length=1)
    yearly_limit: NonNegInt | None = Field(
        None, description="Trips per citizen per year to objects of this type, if capped."
    )


class BenefitCategory(_Frozen):
    """A category of citizens entitled to the service."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(min_length=1)
    monthly_limit: NonNegInt
    yearly_limit: NonNegInt | None = None
    allowed_object_types: tuple[str, ...] = Field(min_length=1)


class CopayBand(_Frozen):
    """From ``min_km`` (inclusive) on, the passenger pays ``share_pct`` of the fare."""

    min_km: Annotated[float, Field(ge=0)]
    share_pct: Percent


class CategoryShare(_Frozen):
    category: str
    share_pct: Percent


class CoPayment(_Frozen):
    bands: tuple[CopayBand, ...] = Field(min_length=1)
    category_shares: tuple[CategoryShare, ...] = ()

    @model_validator(mode="after")
    def _bands_start_at_zero_and_ascend(self) -> CoPayment:
        kms = [b.min_km for b in self.bands]
        if kms[0] != 0:
            raise ValueError("the first band must start at min_km = 0")
        if any(b <= a for a, b in zip(kms, kms[1:], strict=False)):
            raise ValueError("bands must be in strictly ascending min_km order")
        return self


class Tariff(_Frozen):
    """Fare for one vehicle type: ``base_kop + per_km_kop * km``, rounded as ``rounding`` says."""

    vehicle_type: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(min_length=1)
    base_kop: NonNegInt
    per_km_kop: NonNegInt
    wheelchair_places: NonNegInt = 0
    seats: Annotated[int, Field(ge=1)] = 4


class Rounding(_Frozen):
    """How money is rounded: to a multiple of ``step_kop`` kopecks, half up (ГОСТ rounding)."""

    step_kop: Annotated[int, Field(ge=1)] = 1
    mode: Literal["half_up"] = "half_up"

    def apply(self, amount_kop: Decimal) -> int:
        steps = (amount_kop / self.step_kop).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        return int(steps) * self.step_kop


class Booking(_Frozen):
    """Booking rules. Service hours: ``round_the_clock = true`` (24/7, no start or end given), or
    local ``service_start``–``service_end`` (end exclusive); an end before the start is an
    overnight window (``20:00``–``08:00`` runs through midnight)."""

    round_the_clock: bool = False
    service_start: time | None = None
    service_end: time | None = None
    min_lead_minutes: NonNegInt
    max_advance_days: Annotated[int, Field(ge=1)]
    max_companions: NonNegInt
    late_cancel_minutes: NonNegInt = 120
    service_area_snap_m: Annotated[float, Field(gt=0)] = 500.0
    adult_age_years: Annotated[int, Field(ge=1, le=25)] = 18
    minor_needs_companion: bool = True

    @model_validator(mode="after")
    def _hours_consistent(self) -> Booking:
        given = (self.service_start is not None, self.service_end is not None)
        if self.round_the_clock:
            if any(given):
                raise ValueError(
                    "round_the_clock = true takes no service_start/service_end; remove them"
                )
            return self
        if not all(given):
            raise ValueError(
                "set both service_start and service_end, or round_the_clock = true for 24/7"
            )
        if self.service_start == self.service_end:
            raise ValueError(
                "service_start equals service_end: an empty day; "
                "for 24/7 set round_the_clock = true"
            )
        for t in (self.service_start, self.service_end):
            if t is not None and t.tzinfo is not None:
                raise ValueError("service hours are local wall-clock times without a zone")
        return self

    def in_service_hours(self, local: time) -> bool:
        """Whether a local wall-clock time (naive) is within the service hours."""
        if self.round_the_clock:
            return True
        start, end = self.service_start, self.service_end
        assert start is not None and end is not None
        if start < end:
            return start <= local < end
        return local >= start or local < end  # overnight window

    @property
    def hours_text(self) -> str:
        """The service hours as shown to operators: ``07:00–21:00`` or ``круглосуточно``."""
        if self.round_the_clock:
            return "круглосуточно"
        assert self.service_start is not None and self.service_end is not None
        return f"{self.service_start:%H:%M}–{self.service_end:%H:%M}"


class CancelCounting(_Frozen):
    """Whether one initiator's cancellation counts against the passenger's quota, by timing."""

    early: bool
    late: bool
    at_pickup: bool


class Cancellation(_Frozen):
    """Cancellations by initiator (see the rules file): timing ``early`` (more than
    ``booking.late_cancel_minutes`` before the pickup), ``late`` (closer), ``at_pickup`` (the
    vehicle is at the pickup, or the pickup time has passed)."""

    passenger: CancelCounting
    carrier: CancelCounting
    operator: CancelCounting

    @model_validator(mode="after")
    def _carrier_never_counts(self) -> Cancellation:
        c = self.carrier
        if c.early or c.late or c.at_pickup:
            raise ValueError("a carrier's cancellation never counts against the passenger")
        return self

    def counts(self, initiator: str, timing: str) -> bool:
        return bool(getattr(getattr(self, initiator), timing))


class NoShow(_Frozen):
    """A no-show: accepted only ``wait_minutes`` after the booked pickup, and only if the
    vehicle's GPS was within ``pickup_radius_m`` of the pickup during the wait."""

    counts: bool = True
    wait_minutes: Annotated[int, Field(ge=0, le=120)] = 15
    pickup_radius_m: Annotated[float, Field(gt=0, le=2000)] = 150.0


class ReturnTrips(_Frozen):
    """How a linked there-and-back pair is counted and priced (see the rules file)."""

    pair_counts_as: Literal["one", "two"] = "one"
    copay_band: Literal["pair_total", "each_leg"] = "pair_total"


class Assignment(_Frozen):
    """Vehicle assignment and day planning (``dispatch.planner``)."""

    boarding_s: Annotated[float, Field(ge=0, le=3600)] = Field(
        description="Seconds a vehicle stays at the pickup for the passenger to board."
    )
    max_late_s: Annotated[float, Field(ge=0, le=7200)] = Field(
        description="Seconds a pickup may be late and still be planned (not a conflict)."
    )


class AuditThresholds(_Frozen):
    deviation_corridor_m: Annotated[float, Field(gt=0)]
    extra_distance_ratio: Annotated[float, Field(ge=1)]
    late_pickup_tolerance_min: NonNegInt
    gps_coverage_min: Annotated[float, Field(ge=0, le=1)]
    max_gps_gap_s: Annotated[int, Field(ge=1)] = 120
    destination_geofence_m: Annotated[float, Field(gt=0)] = 150.0


class TelemetryLimits(_Frozen):
    """Ingest's checks of GPS fixes and events (``telemetry.pipeline.Limits.from_rules``)."""

    max_speed_kmh: Annotated[float, Field(gt=0)] = 200.0
    max_future_s: Annotated[int, Field(ge=0)] = 300
    max_payload_bytes: Annotated[int, Field(ge=256)] = 262_144
    max_reported_speed_kmh: Annotated[float, Field(gt=0)] = 1000.0
    max_satellites: Annotated[int, Field(ge=1, le=32767)] = 255  # a smallint column
    # A payment_collected above this (kopecks) is not plausible for one trip: dead-lettered.
    max_payment_kop: Annotated[int, Field(ge=1)] = 5_000_000

    @model_validator(mode="after")
    def _reported_speed_covers_plausible(self) -> TelemetryLimits:
        if self.max_reported_speed_kmh < self.max_speed_kmh:
            raise ValueError("max_reported_speed_kmh must not be below max_speed_kmh")
        return self


class Rules(_Frozen):
    """One validated rules file."""

    version: str = Field(min_length=1)
    region: str = Field(min_length=1)
    timezone: str = "Europe/Moscow"
    social_object_types: tuple[SocialObjectType, ...] = Field(min_length=1)
    benefit_categories: tuple[BenefitCategory, ...] = Field(min_length=1)
    co_payment: CoPayment
    rounding: Rounding = Rounding()
    tariffs: tuple[Tariff, ...] = Field(min_length=1)
    booking: Booking
    cancellation: Cancellation = Cancellation(
        passenger=CancelCounting(early=False, late=False, at_pickup=True),
        carrier=CancelCounting(early=False, late=False, at_pickup=False),
        operator=CancelCounting(early=False, late=False, at_pickup=False),
    )
    no_show: NoShow = NoShow()
    return_trips: ReturnTrips = ReturnTrips()
    assignment: Assignment
    audit: AuditThresholds
    telemetry: TelemetryLimits = TelemetryLimits()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {v!r} (e.g. 'Europe/Moscow')") from None
        return v

    @model_validator(mode="after")
    def _references_resolve(self) -> Rules:
        _unique("social_object_types", [t.code for t in self.social_object_types])
        _unique("benefit_categories", [c.code for c in self.benefit_categories])
        _unique("tariffs", [t.vehicle_type for t in self.tariffs])
        types = {t.code for t in self.social_object_types}
        cats = {c.code for c in self.benefit_categories}
        for i, cat in enumerate(self.benefit_categories):
            for t in cat.allowed_object_types:
                if t not in types:
                    raise _RefError(
                        f"benefit_categories.{i}.allowed_object_types",
                        f"unknown social object type {t!r}",
                    )
            if cat.yearly_limit is not None and cat.yearly_limit < cat.monthly_limit:
                raise _RefError(
                    f"benefit_categories.{i}.yearly_limit", "must not be below monthly_limit"
                )
            if cat.yearly_limit is not None and cat.yearly_limit > 12 * cat.monthly_limit:
                raise _RefError(
                    f"benefit_categories.{i}.yearly_limit",
                    f"{cat.yearly_limit} can never be reached: 12 months × monthly_limit "
                    f"{cat.monthly_limit} = {12 * cat.monthly_limit}",
                )
        for i, share in enumerate(self.co_payment.category_shares):
            if share.category not in cats:
                raise _RefError(
                    f"co_payment.category_shares.{i}.category",
                    f"unknown benefit category {share.category!r}",
                )
        return self

    # Lookups used by the domain code.
    def category(self, code: str) -> BenefitCategory:
        for c in self.benefit_categories:
            if c.code == code:
                return c
        raise KeyError(code)

    def object_type(self, code: str) -> SocialObjectType:
        for t in self.social_object_types:
            if t.code == code:
                return t
        raise KeyError(code)

    def tariff(self, vehicle_type: str) -> Tariff:
        for t in self.tariffs:
            if t.vehicle_type == vehicle_type:
                return t
        raise KeyError(vehicle_type)

    def copay_share_pct(self, category: str, distance_km: float) -> float:
        """Share of the fare the passenger pays, in percent, for a trip of ``distance_km``."""
        for s in self.co_payment.category_shares:
            if s.category == category:
                return s.share_pct
        share = self.co_payment.bands[0].share_pct
        for band in self.co_payment.bands:
            if distance_km >= band.min_km:
                share = band.share_pct
        return share


class _RefError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def _unique(field: str, codes: list[str]) -> None:
    seen: set[str] = set()
    for i, code in enumerate(codes):
        if code in seen:
            raise _RefError(f"{field}.{i}.code", f"duplicate code {code!r}")
        seen.add(code)


def parse_rules(data: dict, *, source: Path | str = "<rules>") -> Rules:
    """Validate already-parsed rules data; raise :class:`RulesError` naming the first problem."""
    try:
        return Rules.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        ctx_err = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_err, _RefError):
            raise RulesError(source, ctx_err.field, ctx_err.reason) from None
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        raise RulesError(source, field, msg) from None


def load_rules(path: Path | str) -> Rules:
    """Read and validate a TOML rules file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RulesError(path, "(file)", "file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(path, "(syntax)", str(exc)) from None
    return parse_rules(data, source=path)
