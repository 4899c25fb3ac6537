"""Trip quotas: monthly, yearly and per-object-type limits in the region's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from config.rules import Rules
from dispatch.errors import Invalid
from dispatch.quota import COUNTED_STATUSES, CountedTrip, quota_status

TZ = "Europe/Moscow"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def trips(*times: datetime, status: str = "completed", object_type: str = "medical") -> list:
    return [CountedTrip(pickup_at=t, status=status, object_type=object_type) for t in times]


def status(rules: Rules, cat: str, otype: str, others: list, at: datetime):
    return quota_status(
        category=rules.category(cat),
        object_type=rules.object_type(otype),
        trips=others,
        pickup_at=at,
        tz=TZ,
    )


def test_fourth_trip_ok_fifth_over(rules: Rules) -> None:
    nov = [utc(2026, 11, d, 9) for d in (2, 5, 9)]
    st = status(rules, "disabled_1", "medical", trips(*nov), utc(2026, 11, 20, 9))
    assert (st.month_used, st.month_limit, st.month_left, st.over) == (3, 4, 1, False)
    assert st.left == 1 and st.reasons == ()
    st = status(
        rules, "disabled_1", "medical", trips(*nov, utc(2026, 11, 12, 9)), utc(2026, 11, 20, 9)
    )
    assert (st.month_used, st.month_left, st.over, st.left) == (4, 0, True, 0)
    assert st.reasons == ("Исчерпан лимит поездок на ноябрь 2026: 4 из 4",)


def test_month_boundary_is_local_moscow_time(rules: Rules) -> None:
    # 2026-11-30 21:30 UTC is 2026-12-01 00:30 in Moscow: a December trip.
    four_in_nov = trips(*(utc(2026, 11, d, 9) for d in (2, 5, 9, 12)))
    st = status(rules, "disabled_1", "medical", four_in_nov, utc(2026, 11, 30, 21, 30))
    assert (st.month_used, st.over) == (0, False)
    # 20:59 UTC on 30 Nov is 23:59 in Moscow: still November, over.
    st = status(rules, "disabled_1", "medical", four_in_nov, utc(2026, 11, 30, 20, 59))
    assert (st.month_used, st.over) == (4, True)
    # And the other way: existing trips near the boundary are counted in their local month.
    edge = trips(utc(2026, 11, 30, 21, 30), utc(2026, 11, 30, 20, 59))
    dec = status(rules, "disabled_1", "medical", edge, utc(2026, 12, 10, 9))
    nov = status(rules, "disabled_1", "medical", edge, utc(2026, 11, 10, 9))
    assert (dec.month_used, nov.month_used) == (1, 1)


def test_year_boundary_is_local(rules: Rules) -> None:
    # 2026-12-31 21:00 UTC is 2027-01-01 00:00 Moscow.
    st = status(
        rules,
        "hemodialysis",
        "hemodialysis",
        trips(utc(2026, 12, 31, 20, 0)),
        utc(2026, 12, 31, 21, 0),
    )
    assert (st.month_used, st.year_used) == (0, 0)


def test_cancelled_never_counts_no_show_does(rules: Rules) -> None:
    at = utc(2026, 11, 20, 9)
    cancelled = trips(*(utc(2026, 11, d, 9) for d in range(1, 10)), status="cancelled")
    st = status(rules, "disabled_1", "medical", cancelled, at)
    assert (st.month_used, st.over) == (0, False)
    no_shows = trips(*(utc(2026, 11, d, 9) for d in (1, 2, 3, 4)), status="no_show")
    assert status(rules, "disabled_1", "medical", no_shows, at).over


@pytest.mark.parametrize("st", sorted(COUNTED_STATUSES))
def test_every_active_status_counts(rules: Rules, st: str) -> None:
    q = status(
        rules, "disabled_1", "medical", trips(utc(2026, 11, 2, 9), status=st), utc(2026, 11, 20, 9)
    )
    assert q.month_used == 1


def test_hemodialysis_has_12_a_month_and_156_a_year(rules: Rules) -> None:
    at = utc(2026, 11, 28, 6)
    eleven = trips(
        *(utc(2026, 11, 1, 6) + timedelta(days=2 * k) for k in range(11)),
        object_type="hemodialysis",
    )
    st = status(rules, "hemodialysis", "hemodialysis", eleven, at)
    assert (st.month_used, st.month_limit, st.over) == (11, 12, False)
    twelve = eleven + trips(utc(2026, 11, 27, 6), object_type="hemodialysis")
    st = status(rules, "hemodialysis", "hemodialysis", twelve, at)
    assert st.over and st.reasons == ("Исчерпан лимит поездок на ноябрь 2026: 12 из 12",)
    assert (st.year_limit, st.year_used, st.year_left) == (156, 12, 144)


def test_yearly_limit(rules: Rules) -> None:
    # 12 trips in each month of 2026 (144); the trip asked for is in December.
    earlier = [utc(2026, m, 1 + k, 6) for m in range(1, 12) for k in range(12)]  # 132
    earlier += [utc(2026, 12, 1 + k, 6) for k in range(12)]  # December: 12, total 144
    st = status(rules, "hemodialysis", "medical", trips(*earlier), utc(2026, 12, 20, 6))
    assert (st.year_used, st.year_left) == (144, 12)
    assert st.over  # December already has 12
    assert len(st.reasons) == 1 and "декабрь 2026" in st.reasons[0]
    more = earlier + [utc(2026, 5, 20 + k, 6) for k in range(12)]  # 156 in the year
    st = status(rules, "hemodialysis", "medical", trips(*more), utc(2026, 12, 20, 6))
    assert st.year_left == 0
    assert "Исчерпан годовой лимит поездок на 2026 год: 156 из 156" in st.reasons
    assert st.left == 0


def test_no_yearly_limit_for_most_categories(rules: Rules) -> None:
    st = status(rules, "disabled_1", "medical", [], utc(2026, 11, 20, 9))
    assert (st.year_limit, st.year_left, st.type_year_limit, st.type_year_left) == (
        None,
        None,
        None,
        None,
    )
    assert st.left == 4


def test_per_type_yearly_limit_culture_sport(rules: Rules) -> None:
    # Four culture/sport trips earlier in the year (different months) exhaust the yearly cap
    # even though the month has room.
    culture = trips(*(utc(2026, m, 10, 9) for m in (2, 4, 6, 8)), object_type="culture_sport")
    st = status(rules, "disabled_1", "culture_sport", culture, utc(2026, 11, 20, 9))
    assert (st.month_used, st.month_left) == (0, 4)
    assert (st.type_year_used, st.type_year_limit, st.type_year_left) == (4, 4, 0)
    assert st.over and st.left == 0
    assert st.reasons == (
        "Исчерпан годовой лимит поездок к объектам типа «Учреждение культуры и спорта» "
        "на 2026 год: 4 из 4",
    )
    # The same history does not stop a medical trip.
    st = status(rules, "disabled_1", "medical", culture, utc(2026, 11, 20, 9))
    assert not st.over and st.type_year_limit is None
    # Three culture trips: the fourth is fine; last year's do not count.
    three = culture[:3] + trips(utc(2025, 12, 10, 9), object_type="culture_sport")
    st = status(rules, "disabled_1", "culture_sport", three, utc(2026, 11, 20, 9))
    assert (st.type_year_used, st.type_year_left, st.over) == (3, 1, False)


def test_several_reasons_at_once(rules: Rules) -> None:
    at = utc(2026, 11, 20, 9)
    hist = trips(*(utc(2026, m, 10, 9) for m in (2, 4, 6)), object_type="culture_sport")
    hist += trips(*(utc(2026, 11, d, 9) for d in (3, 4)), object_type="culture_sport")
    hist += trips(*(utc(2026, 11, d, 9) for d in (5, 6)))
    st = status(rules, "disabled_1", "culture_sport", hist, at)
    assert st.over and len(st.reasons) == 2
    assert st.month_used == 4 and st.type_year_used == 5


def test_naive_time_refused(rules: Rules) -> None:
    with pytest.raises(Invalid):
        status(rules, "disabled_1", "medical", [], datetime(2026, 11, 20, 9))
