"""Telemetry domain values: GPS fixes, vehicle events, dead letters and their reason codes.

Pure: no I/O. Timestamps are timezone-aware UTC; money is integer kopecks; units are in the names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_epoch_us(ts: datetime) -> int:
    """Microseconds since the Unix epoch of an aware ``ts`` (exact, no float rounding)."""
    return (ts - EPOCH) // _US


def from_epoch_us(us: int) -> datetime:
    """The UTC datetime ``us`` microseconds after the Unix epoch."""
    return EPOCH + timedelta(microseconds=us)


class Reason(StrEnum):
    """Why a message (or one fix of it) went to ``telemetry_dead_letters``."""

    OVERSIZED = "oversized"  # payload larger than rules.telemetry.max_payload_bytes
    MALFORMED = "malformed_json"  # not UTF-8 JSON
    INVALID = "invalid_fields"  # JSON, but a required field is missing or of the wrong type
    UNKNOWN_TOPIC = "unknown_topic"
    UNSUPPORTED = "unsupported_type"  # e.g. an OwnTracks "lwt" or "transition" message
    UNKNOWN_VEHICLE = "unknown_vehicle"  # no vehicles.mqtt_id matches the topic
    OUT_OF_RANGE = "out_of_range"  # lat/lon/speed/heading/... outside their domain
    NO_FIX = "no_fix"  # lat = lon = 0: the receiver had no fix
    FUTURE = "future_timestamp"  # more than max_future_s ahead of the receive time
    TOO_OLD = "too_old"  # older than the positions retention: it would be dropped anyway
    STORE_ERROR = "store_error"  # the database refused the message's rows


class Source(StrEnum):
    """The payload format a fix came in (``vehicle_positions.source``)."""

    NATIVE = "native"
    OWNTRACKS = "owntracks"


class Fix(NamedTuple):
    """One GPS fix as the device reported it.

    ``ts_us`` is the fix time in microseconds since the Unix epoch (UTC; :attr:`ts` gives the
    aware datetime). ``lat``/``lon`` are WGS 84 degrees; optional fields are ``None`` when not
    reported. An immutable named tuple rather than a frozen dataclass: ingest builds tens of
    thousands per second and the tuple is three times cheaper to make.
    """

    ts_us: int
    lat: float
    lon: float
    speed_kmh: float | None = None
    heading_deg: float | None = None  # course over ground, degrees clockwise from north
    accuracy_m: float | None = None  # horizontal accuracy radius
    hdop: float | None = None
    odometer_m: float | None = None
    satellites: int | None = None
    source: Source = Source.NATIVE

    @property
    def ts(self) -> datetime:
        return from_epoch_us(self.ts_us)


class EventType(StrEnum):
    """What a vehicle reports on its ``event`` topic."""

    SHIFT_START = "shift_start"
    SHIFT_END = "shift_end"
    EN_ROUTE = "en_route"  # set off to the pickup
    ARRIVED_AT_PICKUP = "arrived_at_pickup"
    PASSENGER_ON_BOARD = "passenger_on_board"
    ARRIVED_AT_DESTINATION = "arrived_at_destination"
    TRIP_COMPLETED = "trip_completed"
    PAYMENT_COLLECTED = "payment_collected"
    NO_SHOW = "no_show"


SHIFT_EVENTS = frozenset({EventType.SHIFT_START, EventType.SHIFT_END})


class PaymentMethod(StrEnum):
    CASH = "cash"
    CARD = "card"


@dataclass(frozen=True, slots=True)
class VehicleEvent:
    """One event reported by a vehicle. ``trip_id`` is ``None`` only for shift events."""

    type: EventType
    ts: datetime  # UTC, aware: when it happened on the vehicle
    trip_id: int | None = None
    event_id: str | None = None  # the device's own id of the event, if it sends one
    lat: float | None = None
    lon: float | None = None
    amount_kop: int | None = None  # payment_collected only
    method: PaymentMethod | None = None  # payment_collected only
    reason: str | None = None  # no_show only (free text from the driver)
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def dedup_key(self, mqtt_id: str) -> str:
        """Key that makes a redelivered event a no-op (``trip_events.dedup_key``)."""
        if self.event_id:
            return f"vehicle:{mqtt_id}:{self.event_id}"
        trip = self.trip_id if self.trip_id is not None else "-"
        return f"vehicle:{mqtt_id}:{self.type.value}:{trip}:{to_epoch_us(self.ts)}"


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a message, or its ``index``-th item (for an array payload), was not accepted."""

    reason: Reason
    detail: str
    index: int | None = None

    def describe(self) -> str:
        where = f"item {self.index}: " if self.index is not None else ""
        return f"{where}{self.detail}"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message (raw) that could not be stored, whole or in part, with the first reason."""

    topic: str
    payload: bytes
    reason: Reason
    detail: str
    device: str | None = None  # the device id the topic names, if it names one
