"""What the audit knows about one trip, as plain immutable values.

Pure: no I/O. The shell (``audit/service.py`` from the database, ``audit/scenario.py`` from a file)
gathers a :class:`TripFacts`; :func:`audit.rules.audit_trip` decides. Times are timezone-aware
UTC; fix times are float seconds since the Unix epoch (``t_s``) in numpy arrays; coordinates are
WGS 84 degrees; distances metres; money integer kopecks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

import numpy as np

from dispatch.quota import CountedTrip


class RuleId(StrEnum):
    """The audit rules (``docs/scenarios.md`` uses the same ids in ``truth``)."""

    ROUTE_DEVIATION = "route_deviation"
    LATE_PICKUP = "late_pickup"
    FALSE_NO_SHOW = "false_no_show"
    OVER_QUOTA = "over_quota"
    NON_SOCIAL_DESTINATION = "non_social_destination"
    IMPROPER_COPAYMENT = "improper_copayment"
    PHANTOM_TRIP = "phantom_trip"
    POOR_GPS_COVERAGE = "poor_gps_coverage"
    UNSUITABLE_VEHICLE = "unsuitable_vehicle"


#: Russian names of the rules (reports, API).
RULE_RU: dict[str, str] = {
    "route_deviation": "Отклонение от маршрута",
    "late_pickup": "Опоздание к подаче",
    "false_no_show": "Ложная неявка",
    "over_quota": "Поездка сверх лимита",
    "non_social_destination": "Несоциальное место назначения",
    "improper_copayment": "Неправильная доплата",
    "phantom_trip": "Поездка без движения",
    "poor_gps_coverage": "Недостаточное покрытие GPS",
    "unsuitable_vehicle": "Неподходящий автомобиль",
}


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Finding:
    """One violation found on one trip.

    ``key`` tells several findings of one rule on one trip apart (``""`` when there is one);
    (trip, rule, key) is unique in the store, so a re-run updates instead of duplicating.
    ``evidence`` is JSON-able: numbers, ISO times, ids a controller can check; ``geometry`` a
    GeoJSON geometry (WGS 84, ``[lon, lat]``) or ``None``. ``at_stake_km``/``at_stake_kop`` say
    what the region may be paying for wrongly.
    """

    trip_id: int
    rule: RuleId
    severity: Severity
    message: str  # Russian, for the controller
    evidence: dict[str, Any]
    key: str = ""
    geometry: dict[str, Any] | None = None
    at_stake_km: float = 0.0
    at_stake_kop: int = 0


@dataclass(frozen=True)
class Note:
    """A run-log entry: input the audit could not use as it was (never a silent skip)."""

    trip_id: int
    code: str
    message: str  # Russian
    rule: RuleId | None = None


@dataclass(frozen=True)
class Track:
    """GPS fixes as arrays of equal length, in the order received (may be unsorted or duplicated
    until :func:`audit.rules.clean_track` has run)."""

    t_s: np.ndarray
    lat: np.ndarray
    lon: np.ndarray

    @classmethod
    def empty(cls) -> Track:
        z = np.zeros(0, np.float64)
        return cls(z, z, z)

    @classmethod
    def of(cls, t_s: Any, lat: Any, lon: Any) -> Track:
        t = np.asarray(t_s, np.float64).reshape(-1)
        la = np.asarray(lat, np.float64).reshape(-1)
        lo = np.asarray(lon, np.float64).reshape(-1)
        if not (t.shape == la.shape == lo.shape):
            raise ValueError("t_s, lat and lon must have equal length")
        return cls(t, la, lo)

    def __len__(self) -> int:
        return int(self.t_s.shape[0])

    def select(self, mask: np.ndarray) -> Track:
        return Track(self.t_s[mask], self.lat[mask], self.lon[mask])

    def between(self, start_s: float, end_s: float) -> Track:
        return self.select((self.t_s >= start_s) & (self.t_s <= end_s))


@dataclass(frozen=True)
class Point:
    lat: float
    lon: float


@dataclass(frozen=True)
class Plan:
    """The route planned at booking: metres, seconds and the line as ``lat``/``lon`` tuples."""

    distance_m: float
    duration_s: float | None
    lat: tuple[float, ...]
    lon: tuple[float, ...]


@dataclass(frozen=True)
class TripEvent:
    """A trip event as the vehicle reported it (``type`` a ``telemetry.model.EventType`` value)."""

    type: str
    at: datetime
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True)
class Payment:
    amount_kop: int
    at: datetime
    method: str = "cash"


@dataclass(frozen=True)
class SocialObjectFacts:
    """A registered social object: its type code and circular geofence (radius, metres)."""

    id: int
    object_type: str
    lat: float
    lon: float
    radius_m: float | None = None
    name: str = ""


class MatchedTrackLike(Protocol):
    """What the rules read of a map-matched track (``routing.matching.MatchedTrack``).

    ``lat``/``lon`` is the matched geometry (NaN between continuous pieces), ``length_m`` its
    length along the roads, ``fix_lat``/``fix_lon`` every fix moved onto its matched road and
    ``fix_offset_m`` how far it was moved; ``breaks`` are gaps the matcher split the track at.
    """

    @property
    def lat(self) -> np.ndarray: ...
    @property
    def lon(self) -> np.ndarray: ...
    @property
    def length_m(self) -> float: ...
    @property
    def fix_lat(self) -> np.ndarray: ...
    @property
    def fix_lon(self) -> np.ndarray: ...
    @property
    def fix_offset_m(self) -> np.ndarray: ...
    @property
    def breaks(self) -> Sequence[Any]: ...


@dataclass(frozen=True)
class TripFacts:
    """Everything the rules may look at for one trip.

    ``fixes`` are the vehicle's fixes from setting off to completion (plus margins the shell
    chose); ``matched`` is the passenger leg (boarding to completion) matched onto the road graph,
    ``None`` when no matcher or map was available; ``fastest_m`` the length of the fastest route
    between the actual pickup and drop-off (``None``: not computed). ``prior_trips`` are the
    passenger's earlier trips this year (for quotas); ``objects`` the registry in force.
    """

    trip_id: int
    status: str
    category: str
    pickup: Point
    destination: Point
    pickup_at: datetime
    fixes: Track
    events: tuple[TripEvent, ...] = ()
    payments: tuple[Payment, ...] = ()
    objects: tuple[SocialObjectFacts, ...] = ()
    dest_object_id: int | None = None
    plan: Plan | None = None
    fare_kop: int | None = None
    copay_due_kop: int | None = None
    quota_override: bool = False
    prior_trips: tuple[CountedTrip, ...] = ()
    passenger_categories: tuple[str, ...] = ()
    needs_wheelchair: bool = False
    companions: int = 0
    vehicle_type: str | None = None  # the type of the vehicle that actually drove
    booked_vehicle_type: str | None = None
    carrier_id: int | None = None
    vehicle_id: int | None = None
    started_at: datetime | None = None
    picked_up_at: datetime | None = None
    completed_at: datetime | None = None
    pair_key: int | None = None  # the there-and-back pair the trip is a leg of
    matched: MatchedTrackLike | None = None
    fastest_m: float | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
