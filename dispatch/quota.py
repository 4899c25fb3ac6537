"""Trip quotas: how many trips a passenger has used and may still book.

Pure: the caller passes the passenger's other trips (from the database) and the rules objects.

What counts
-----------
A trip counts against the quota when its status is one of :data:`COUNTED_STATUSES` (every
booked-but-not-finished status and ``completed``), or when it ended as ``no_show`` or
``cancelled`` and the decision stored on it at that time (``counts``, taken from the rules file's
cancellation table: initiator × timing) says it counts. A cancelled or no-show trip with no stored
decision (rows from before the decision was recorded) counts as it did then: a no-show counts, a
cancellation does not.

Each category is its own pool: a trip counts for the monthly and yearly limits of the category
it was *booked under* (stored on the trip), so a dialysis patient's 14 dialysis trips do not use
up the 4 trips of their disability category. The per-type yearly cap counts trips by the object
type stored on the trip at booking — reclassifying an object later rewrites nothing.

A linked there-and-back pair (same ``pair_key``) counts as one trip when ``pair_counts_as`` is
``"one"`` (the Leningrad Oblast default, see the rules file), in the period of its first counted
leg. Months and years are calendar periods *in the region's time zone*: a trip at
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

__all__ = [
    "COUNTED_STATUSES",
    "DECIDED_STATUSES",
    "CountedTrip",
    "QuotaStatus",
    "quota_status",
    "MONTHS_RU",
]

#: Statuses that always count: booked and not finished, or completed.
COUNTED_STATUSES = frozenset(TripStatus) - {TripStatus.CANCELLED, TripStatus.NO_SHOW}
#: Statuses whose counting is the decision stored on the trip when it ended that way.
DECIDED_STATUSES = frozenset({TripStatus.CANCELLED, TripStatus.NO_SHOW})

MONTHS_RU = (
    "январь", "февраль", "март", "апрель", "май", "июнь",
    "июль", "август", "сентябрь", "октябрь", "ноябрь", "декабрь",
)  # fmt: skip


@dataclass(frozen=True)
class CountedTrip:
    """One of the passenger's other trips.

    ``pickup_at`` (aware), ``status``, ``object_type`` and ``category`` as stored on the trip at
    booking (``category=None``: a trip from before categories were stored; it counts in every
    pool), ``pair_key`` shared by the two legs of a linked there-and-back pair, and ``counts``:
    the stored decision for a cancelled or no-show trip (``None``: not recorded).
    """

    pickup_at: datetime
    status: str
    object_type: str
    category: str | None = None
    pair_key: int | None = None
    counts: bool | None = None

    @property
    def is_counted(self) -> bool:
        if self.status in COUNTED_STATUSES:
            return True
        if self.status in DECIDED_STATUSES:
            return self.counts if self.counts is not None else self.status == "no_show"
        return False


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
    pair_counts_as: str = "one",
    new_pair_key: int | None = None,
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
    pair_counts_as
        ``"one"``: the legs of a linked pair count once; ``"two"``: each leg counts.
    new_pair_key
        The pair the new trip belongs to, when it is the second leg of a pair already in
        ``trips``: with ``pair_counts_as="one"`` and a counted first leg it uses no quota.

    Raises
    ------
    Invalid
        A naive ``pickup_at`` (``code="naive_time"``).
    """
    if pair_counts_as not in ("one", "two"):
        raise ValueError(f"pair_counts_as must be 'one' or 'two', not {pair_counts_as!r}")
    zone = ZoneInfo(tz)
    local = _local(pickup_at, zone)
    counted = [t for t in trips if t.is_counted]
    seen_pairs: set[int] = set()
    month_used = year_used = type_used = 0
    for trip in sorted(counted, key=lambda t: t.pickup_at):
        if pair_counts_as == "one" and trip.pair_key is not None:
            if trip.pair_key in seen_pairs:
                continue
            seen_pairs.add(trip.pair_key)
        t = _local(trip.pickup_at, zone)
        if t.year != local.year:
            continue
        if trip.category is None or trip.category == category.code:
            year_used += 1
            if t.month == local.month:
                month_used += 1
        if trip.object_type == object_type.code:
            type_used += 1
    # The second leg of a pair whose first leg already counts adds nothing.
    adds = 0 if (pair_counts_as == "one" and new_pair_key in seen_pairs) else 1

    reasons: list[str] = []
    month_limit = category.monthly_limit
    month_left = max(0, month_limit - month_used)
    if month_used + adds > month_limit:
        reasons.append(
            f"Исчерпан лимит поездок на {MONTHS_RU[local.month - 1]} {local.year}: "
            f"{month_used} из {month_limit}"
        )
    year_limit = category.yearly_limit
    year_left = None if year_limit is None else max(0, year_limit - year_used)
    if year_limit is not None and year_used + adds > year_limit:
        reasons.append(
            f"Исчерпан годовой лимит поездок на {local.year} год: {year_used} из {year_limit}"
        )
    type_limit = object_type.yearly_limit
    type_left = None if type_limit is None else max(0, type_limit - type_used)
    if type_limit is not None and type_used + adds > type_limit:
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
