"""What one assignment does to a vehicle's day: refusals and lateness warnings (pure)."""

from __future__ import annotations

import math

import pytest

from dispatch.planner import BLOCKING_KINDS, assignment_conflicts, find_conflicts
from tests.unit.test_dispatch_planner import LIMITS, car, line_travel, trip


def test_a_pickup_reached_late_within_the_allowance_is_a_late_warning() -> None:
    # A: 0 -> 6 km at minute 0 (boarding 5 min + 10 min drive): free at km 6 at minute 15;
    # B at minute 20 from km 0 is reached at minute 25: 300 s late (allowed up to 900 s)
    a, b = trip(1, 0, 0, 6), trip(2, 20, 0, 3)
    [c] = assignment_conflicts(b, car(7, 0), [a], line_travel, **LIMITS)
    assert (c.kind, c.vehicle_id, c.trip_ids) == ("late", 7, (1, 2))
    assert c.lateness_s == pytest.approx(300.0) and "на 5 мин" in c.message
    assert "late" not in BLOCKING_KINDS
    # the day replayed without the warning switch keeps the old answer: no conflict at all
    assert find_conflicts({1: 7, 2: 7}, [a, b], [car(7, 0)], line_travel, **LIMITS) == []


def test_the_next_trip_made_late_is_named_and_earlier_lateness_is_not_repeated() -> None:
    later = trip(1, 20, 0, 3)  # on time from km 0
    first = trip(2, 0, 0, 6)  # on time itself; the car then comes back from km 6
    [c] = assignment_conflicts(first, car(7, 0), [later], line_travel, **LIMITS)
    assert (c.kind, c.trip_ids, c.lateness_s) == ("late", (2, 1), pytest.approx(300.0))
    # a trip far later in the day changes nothing for `later`, already 300 s late
    evening = trip(3, 600, 0, 1)
    assert assignment_conflicts(evening, car(7, 0), [first, later], line_travel, **LIMITS) == []


def test_a_vehicle_that_cannot_make_it_is_a_blocking_conflict_with_its_lateness() -> None:
    a, b = trip(1, 0, 0, 6), trip(2, 5, 12, 13)  # free at minute 15 at km 6, 6 km more
    [c] = assignment_conflicts(b, car(7, 0), [a], line_travel, **LIMITS)
    assert c.kind == "unreachable" and c.kind in BLOCKING_KINDS
    assert c.lateness_s == pytest.approx(20 * 60.0)  # at minute 25 for a minute-5 pickup


def test_no_route_is_infinite_lateness() -> None:
    def nowhere(o, d):  # type: ignore[no-untyped-def]
        dur, dist = line_travel(o, d)
        return dur * math.inf, dist * math.inf

    [c] = assignment_conflicts(trip(1, 0, 5, 6), car(7, 0), [], nowhere, **LIMITS)
    assert c.kind == "unreachable" and math.isinf(c.lateness_s) and "нет маршрута" in c.message


def test_on_time_assignment_has_no_conflicts() -> None:
    assert assignment_conflicts(trip(1, 30, 0, 6), car(7, 0), [], line_travel, **LIMITS) == []
