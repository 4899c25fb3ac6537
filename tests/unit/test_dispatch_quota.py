"""Trip quotas: monthly, yearly and per-object-type limits in the region's time zone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

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


def test_undecided_cancelled_does_not_count_no_show_does(rules: Rules) -> None:
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


def test_hemodialysis_has_14_a_month_and_157_a_year(rules: Rules) -> None:
    at = utc(2026, 11, 28, 6)
    thirteen = trips(
        *(utc(2026, 11, 1, 6) + timedelta(days=2 * k) for k in range(13)),
        object_type="hemodialysis",
    )
    st = status(rules, "hemodialysis", "hemodialysis", thirteen, at)
    assert (st.month_used, st.month_limit, st.over) == (13, 14, False)
    fourteen = thirteen + trips(utc(2026, 11, 27, 6), object_type="hemodialysis")
    st = status(rules, "hemodialysis", "hemodialysis", fourteen, at)
    assert st.over and st.reasons == ("Исчерпан лимит поездок на ноябрь 2026: 14 из 14",)
    assert (st.year_limit, st.year_used, st.year_left) == (157, 14, 143)


def test_mon_wed_fri_dialysis_with_return_books_in_full_every_month_of_2027(rules: Rules) -> None:
    """A real schedule: every Mon/Wed/Fri of 2027 at 07:00 to the centre, back at 12:00 (a linked
    pair). Each session is checked against the sessions booked before it; none is refused."""
    from dispatch.recurrence import expand

    outs = expand(weekdays=[0, 2, 4], local_time=time(7), start=date(2027, 1, 1),
                  until=date(2027, 12, 31), tz=TZ)  # fmt: skip
    assert len(outs) == 157
    booked: list[CountedTrip] = []
    per_month: dict[int, int] = {}
    for key, out in enumerate(outs):
        back = out + timedelta(hours=5)
        for leg_at in (out, back):
            st = quota_status(category=rules.category("hemodialysis"),
                              object_type=rules.object_type("hemodialysis"), trips=booked,
                              pickup_at=leg_at, tz=TZ, new_pair_key=key)  # fmt: skip
            assert not st.over, (leg_at, st.reasons)
            booked.append(CountedTrip(leg_at, "booked", "hemodialysis", "hemodialysis", key))
        m = out.astimezone(ZoneInfo(TZ)).month
        per_month[m] = per_month.get(m, 0) + 1
    assert max(per_month.values()) == 14 and sum(per_month.values()) == 157


def test_dialysis_allowance_is_bound_to_dialysis_centres(rules: Rules) -> None:
    cat = rules.category("hemodialysis")
    assert cat.allowed_object_types == ("hemodialysis",)
    assert "medical" not in cat.allowed_object_types


def test_yearly_limit(rules: Rules) -> None:
    # 13 trips in each month Jan–Nov and 14 in December: 157, the yearly limit.
    earlier = [utc(2026, m, 1 + k, 6) for m in range(1, 12) for k in range(13)]  # 143
    dec = [utc(2026, 12, 1 + k, 6) for k in range(13)]
    st = status(rules, "hemodialysis", "hemodialysis", trips(*earlier, *dec), utc(2026, 12, 20, 6))
    assert (st.year_used, st.year_left, st.over) == (156, 1, False)
    more = trips(*earlier, *dec, utc(2026, 5, 28, 6))  # 157 in the year, December has room
    st = status(rules, "hemodialysis", "hemodialysis", more, utc(2026, 12, 20, 6))
    assert st.year_left == 0 and st.month_left == 1
    assert st.reasons == ("Исчерпан годовой лимит поездок на 2026 год: 157 из 157",)
    assert st.left == 0


def test_each_category_is_its_own_pool(rules: Rules) -> None:
    at = utc(2026, 11, 20, 9)
    dialysis = [CountedTrip(utc(2026, 11, d, 6), "completed", "hemodialysis", "hemodialysis")
                for d in range(1, 13)]  # fmt: skip
    st = status(rules, "disabled_1", "medical", dialysis, at)
    assert (st.month_used, st.over) == (0, False)
    clinic = [CountedTrip(utc(2026, 11, d, 6), "completed", "medical", "disabled_1")
              for d in (13, 14, 15, 16)]  # fmt: skip
    assert status(rules, "disabled_1", "medical", dialysis + clinic, at).over
    assert not status(rules, "hemodialysis", "hemodialysis", dialysis + clinic, at).over


def test_linked_pair_counts_once_or_twice_as_the_rules_say(rules: Rules) -> None:
    at = utc(2026, 11, 20, 9)
    legs = []
    for key, d in enumerate((2, 5)):
        for hour in (6, 11):
            leg = CountedTrip(utc(2026, 11, d, hour), "completed", "medical", "disabled_1", key)
            legs.append(leg)
    one = quota_status(category=rules.category("disabled_1"), object_type=rules.object_type(
        "medical"), trips=legs, pickup_at=at, tz=TZ)  # fmt: skip
    two = quota_status(category=rules.category("disabled_1"), object_type=rules.object_type(
        "medical"), trips=legs, pickup_at=at, tz=TZ, pair_counts_as="two")  # fmt: skip
    assert (one.month_used, two.month_used) == (2, 4)
    assert not one.over and two.over
    # The outward leg cancelled: the return leg counts alone.
    legs[0] = replace(legs[0], status="cancelled", counts=False)
    one = quota_status(category=rules.category("disabled_1"), object_type=rules.object_type(
        "medical"), trips=legs, pickup_at=at, tz=TZ)  # fmt: skip
    assert one.month_used == 2


def test_cancellations_and_no_shows_count_as_decided(rules: Rules) -> None:
    at = utc(2026, 11, 20, 9)
    days = (1, 2, 3, 4)

    def mk(st: str, counts: bool | None) -> list[CountedTrip]:
        return [CountedTrip(utc(2026, 11, d, 9), st, "medical", "disabled_1", counts=counts)
                for d in days]  # fmt: skip

    assert status(rules, "disabled_1", "medical", mk("cancelled", True), at).over
    assert not status(rules, "disabled_1", "medical", mk("cancelled", False), at).over
    assert not status(rules, "disabled_1", "medical", mk("no_show", False), at).over
    assert status(rules, "disabled_1", "medical", mk("no_show", True), at).over


def test_stored_object_type_is_what_counts(rules: Rules) -> None:
    # Four culture trips stored as culture_sport: the object being reclassified since changes
    # nothing, because the quota reads the type stored on each trip.
    hist = trips(*(utc(2026, m, 10, 9) for m in (2, 4, 6, 8)), object_type="culture_sport")
    assert status(rules, "disabled_1", "culture_sport", hist, utc(2026, 11, 20, 9)).over
    assert not status(rules, "disabled_1", "medical", hist, utc(2026, 11, 20, 9)).over


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
