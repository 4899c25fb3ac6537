"""Recurring trips (e.g. hemodialysis three times a week) expanded to pickup times.

Pure. The rule is weekdays + a local wall-clock time between two local dates; each occurrence is
converted to UTC with the region's time zone, so a wall-clock time stays the same across a DST
change in zones that have one (Moscow has none since 2014, but the code does not assume it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dispatch.errors import Invalid

__all__ = ["MAX_OCCURRENCES", "expand"]

MAX_OCCURRENCES = 400
_WEEKDAYS_RU = ("пн", "вт", "ср", "чт", "пт", "сб", "вс")


def expand(
    *, weekdays: Sequence[int], local_time: time, start: date, until: date, tz: str
) -> list[datetime]:
    """Pickup times of a recurring trip, in order, as UTC-aware datetimes.

    Parameters
    ----------
    weekdays
        Days of the week, Monday = 0 … Sunday = 6 (duplicates ignored).
    local_time
        Wall-clock pickup time in ``tz`` (naive).
    start, until
        First and last local date, both inclusive.
    tz
        IANA time zone, e.g. ``"Europe/Moscow"``.

    A wall-clock time that does not exist on a DST-forward day is taken as the instant it would
    be with the pre-change offset (``fold=0``), i.e. an hour later on the clock.

    Raises
    ------
    Invalid
        No weekdays (``empty_rule``), a weekday outside 0–6 (``bad_weekday``), ``until`` before
        ``start`` (``bad_period``), an aware ``local_time`` (``bad_time``) or more than
        :data:`MAX_OCCURRENCES` occurrences (``too_many_occurrences``).
    """
    days = sorted(set(weekdays))
    if not days:
        raise Invalid("Укажите хотя бы один день недели", code="empty_rule")
    if any(not isinstance(d, int) or not 0 <= d <= 6 for d in days):
        raise Invalid("День недели должен быть от 0 (пн) до 6 (вс)", code="bad_weekday")
    if until < start:
        raise Invalid(
            f"Дата окончания {until:%d.%m.%Y} раньше даты начала {start:%d.%m.%Y}",
            code="bad_period",
        )
    if local_time.tzinfo is not None:
        raise Invalid("Время подачи задаётся по местному времени без пояса", code="bad_time")
    zone = ZoneInfo(tz)
    wanted = set(days)
    n_days = (until - start).days + 1
    # Count first, so an absurd period is refused without building it.
    full_weeks, rest = divmod(n_days, 7)
    count = full_weeks * len(days) + sum(
        1 for i in range(rest) if (start + timedelta(days=i)).weekday() in wanted
    )
    if count > MAX_OCCURRENCES:
        raise Invalid(
            f"Слишком много поездок в расписании: {count} (не более {MAX_OCCURRENCES}); "
            "сократите период",
            code="too_many_occurrences",
        )
    out = []
    for i in range(n_days):
        d = start + timedelta(days=i)
        if d.weekday() in wanted:
            out.append(datetime.combine(d, local_time, tzinfo=zone).astimezone(UTC))
    return out
