"""Trip quotas: how many trips a passenger has used and may still book.

Pure: the caller passes the passenger's other trips (from the database) and the rules objects.

What counts
-----------
A trip counts against the quota when its status is one of :data:`COUNTED_STATUSES`: every
booked-but-not-finished status, ``completed`` and ``no_show``. A no-show counts as a used trip,
as the region does: the vehicle was sent and the carrier is paid for the call. ``cancelled``
never counts. Months and years are calendar periods *in the region's time zone*: a trip at
2026-11-30 21:30 UTC is on 1 December in Moscow and counts for December.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from config.rules import BenefitCategory, SocialObjectType
from dispatch.errors import Invalid
from dispatch.lifecycle import TripStatus

__all__ = ["COUNTED_STATUSES", "CountedTrip", "QuotaStatus", "quota_status", "MONTHS_RU"]

#: Every status but a cancellation.
COUNTED_STATUSES = frozenset(TripStatus) - {TripStatus.CANCELLED}

MONTHS_RU = (
    "январь", "февраль", "март", "апрель", "май", "июнь",
    "июль", "август", "сентябрь", "октябрь", "ноябрь", "декабрь",
)  # fmt: skip


@dataclass(frozen=True)
class CountedTrip:
    """One of the passenger's other trips: its pickup time (aware), status and object type."""

    pickup_at: datetime
    status: str
    object_type: str


@dataclass(frozen=True)
class QuotaStatus:
    """Usage and limits for booking one more trip.

    ``*_used`` count the passenger's existing trips in the period; ``*_left`` are the trips still
    available before the new one (never negative); limits that do not apply are ``None``.
    ``over`` is true when the new trip would exceed any limit, with one Russian reason per
    exceeded limit. ``left`` is the smallest applicable ``*_left``.
    """

    month_used: int
    month_limit: int
    month_left: int
    year_used: int
    year_limit: int | None
    year_left: int | None
    type_year_used: int
    type_year_limit: int | None
    type_year_left: int | None
    over: bool
    reasons: tuple[str, ...]
    left: int | None


def quota_status(
    *,
    category: BenefitCategory,
    object_type: SocialObjectType,
    trips: Sequence[CountedTrip],
    pickup_at: datetime,
    tz: str,
) -> QuotaStatus:
    """The quota position for booking one more trip at ``pickup_at``.

    Parameters
    ----------
    category
        The passenger's benefit category on the trip's date (monthly and optional yearly limit).
    object_type
        The destination's social-object type (optional yearly cap per type).
    trips
        The passenger's *other* trips (leave out the trip being booked or re-checked).
    pickup_at
        Pickup of the new trip, timezone-aware.
    tz
        The region's IANA time zone (``"Europe/Moscow"``), which defines months and years.

    Raises
    ------
    Invalid
        A naive ``pickup_at`` (``code="naive_time"``).
    """
    zone = ZoneInfo(tz)
    local = _local(pickup_at, zone)
    month_used = year_used = type_used = 0
    for trip in trips:
        if trip.status not in COUNTED_STATUSES:
            continue
        t = _local(trip.pickup_at, zone)
        if t.year != local.year:
            continue
        year_used += 1
        if t.month == local.month:
            month_used += 1
        if trip.object_type == object_type.code:
            type_used += 1

    reasons: list[str] = []
    month_limit = category.monthly_limit
    month_left = max(0, month_limit - month_used)
    if month_used + 1 > month_limit:
        reasons.append(
            f"Исчерпан лимит поездок на {MONTHS_RU[local.month - 1]} {local.year}: "
            f"{month_used} из {month_limit}"
        )
    year_limit = category.yearly_limit
    year_left = None if year_limit is None else max(0, year_limit - year_used)
    if year_limit is not None and year_used + 1 > year_limit:
        reasons.append(
            f"Исчерпан годовой лимит поездок на {local.year} год: {year_used} из {year_limit}"
        )
    type_limit = object_type.yearly_limit
    type_left = None if type_limit is None else max(0, type_limit - type_used)
    if type_limit is not None and type_used + 1 > type_limit:
        reasons.append(
            f"Исчерпан годовой лимит поездок к объектам типа «{object_type.name}» "
            f"на {local.year} год: {type_used} из {type_limit}"
        )
    lefts = [x for x in (month_left, year_left, type_left) if x is not None]
    return QuotaStatus(
        month_used=month_used,
        month_limit=month_limit,
        month_left=month_left,
        year_used=year_used,
        year_limit=year_limit,
        year_left=year_left,
        type_year_used=type_used,
        type_year_limit=type_limit,
        type_year_left=type_left,
        over=bool(reasons),
        reasons=tuple(reasons),
        left=min(lefts) if lefts else None,
    )


def _local(ts: datetime, zone: ZoneInfo) -> datetime:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise Invalid("Время должно быть указано с часовым поясом", code="naive_time")
    return ts.astimezone(zone)
