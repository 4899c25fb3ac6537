"""Recurring trips expanded to UTC pickups."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from dispatch.errors import Invalid
from dispatch.recurrence import MAX_OCCURRENCES, expand


def test_weekdays_and_local_time_in_moscow() -> None:
    # Mon/Wed/Fri 08:30 Moscow (UTC+3) from Sun 1 Nov to Tue 10 Nov 2026.
    out = expand(weekdays=[0, 2, 4], local_time=time(8, 30), start=date(2026, 11, 1),
                 until=date(2026, 11, 10), tz="Europe/Moscow")  # fmt: skip
    assert out == [
        datetime(2026, 11, 2, 5, 30, tzinfo=UTC),
        datetime(2026, 11, 4, 5, 30, tzinfo=UTC),
        datetime(2026, 11, 6, 5, 30, tzinfo=UTC),
        datetime(2026, 11, 9, 5, 30, tzinfo=UTC),
    ]
    assert all(t.tzinfo is UTC for t in out)
    assert [t.weekday() for t in out] == [0, 2, 4, 0]


def test_start_and_until_inclusive_and_duplicates_ignored() -> None:
    out = expand(weekdays=[6, 6, 0], local_time=time(10), start=date(2026, 11, 1),
                 until=date(2026, 11, 9), tz="Europe/Moscow")  # fmt: skip
    assert [t.date() for t in out] == [
        date(2026, 11, 1),
        date(2026, 11, 2),
        date(2026, 11, 8),
        date(2026, 11, 9),
    ]


def test_moscow_has_no_dst_offset_stays_3_hours() -> None:
    out = expand(weekdays=list(range(7)), local_time=time(9), start=date(2026, 3, 25),
                 until=date(2026, 11, 5), tz="Europe/Moscow")  # fmt: skip
    assert {t.hour for t in out} == {6}


def test_dst_zone_keeps_wall_clock_time() -> None:
    # Berlin switches to summer time on 29 March 2026: 09:00 local is 08:00 UTC before, 07:00 after.
    out = expand(weekdays=[4, 0], local_time=time(9), start=date(2026, 3, 27),
                 until=date(2026, 3, 30), tz="Europe/Berlin")  # fmt: skip
    assert out == [datetime(2026, 3, 27, 8, tzinfo=UTC), datetime(2026, 3, 30, 7, tzinfo=UTC)]


def test_a_single_day() -> None:
    d = date(2026, 11, 23)  # Monday
    assert len(expand(weekdays=[0], local_time=time(7), start=d, until=d, tz="Europe/Moscow")) == 1
    assert expand(weekdays=[1], local_time=time(7), start=d, until=d, tz="Europe/Moscow") == []


def test_the_occurrence_limit() -> None:
    start = date(2026, 1, 5)
    # Every day for exactly MAX_OCCURRENCES days is fine, one more day is not.
    ok = expand(weekdays=list(range(7)), local_time=time(7), start=start,
                until=start + timedelta(days=MAX_OCCURRENCES - 1), tz="Europe/Moscow")  # fmt: skip
    assert len(ok) == MAX_OCCURRENCES
    with pytest.raises(Invalid) as exc:
        expand(weekdays=list(range(7)), local_time=time(7), start=start,
               until=start + timedelta(days=MAX_OCCURRENCES), tz="Europe/Moscow")  # fmt: skip
    assert exc.value.code == "too_many_occurrences"
    # A long period with few weekdays is counted, not refused: Mon 2026-01-05 .. Fri 2027-12-31
    # is 103 full weeks (309) plus Mon..Fri of the last week (3).
    out = expand(weekdays=[0, 2, 4], local_time=time(7), start=start,
                 until=date(2027, 12, 31), tz="Europe/Moscow")  # fmt: skip
    assert len(out) == 312


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"weekdays": []}, "empty_rule"),
        ({"weekdays": [7]}, "bad_weekday"),
        ({"weekdays": [-1]}, "bad_weekday"),
        ({"until": date(2026, 10, 31)}, "bad_period"),
        ({"local_time": time(8, tzinfo=UTC)}, "bad_time"),
    ],
)
def test_refusals(kwargs: dict, code: str) -> None:
    args = {"weekdays": [0], "local_time": time(8), "start": date(2026, 11, 1),
            "until": date(2026, 11, 30), "tz": "Europe/Moscow"} | kwargs  # fmt: skip
    with pytest.raises(Invalid) as exc:
        expand(**args)
    assert exc.value.code == code
