"""Cancellation timing and counting, and the no-show checks (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from config.rules import Rules, RulesError, parse_rules
from dispatch.cancellation import cancel_timing, no_show_refusals

PICKUP = datetime(2026, 3, 17, 7, 0, tzinfo=UTC)  # 10:00 Moscow


@pytest.mark.parametrize(
    ("before_min", "at_pickup", "timing"),
    [(600, False, "early"), (121, False, "early"), (120, False, "late"), (5, False, "late"),
     (0, False, "at_pickup"), (-10, False, "at_pickup"), (60, True, "at_pickup")],
)  # fmt: skip
def test_timing(before_min: int, at_pickup: bool, timing: str) -> None:
    at = PICKUP - timedelta(minutes=before_min)
    assert cancel_timing(pickup_at=PICKUP, at=at, vehicle_at_pickup=at_pickup,
                         late_cancel_minutes=120) == timing  # fmt: skip


def test_counting_table(rules: Rules) -> None:
    c = rules.cancellation
    assert c.counts("passenger", "at_pickup") and not c.counts("passenger", "late")
    assert not any(c.counts("carrier", t) for t in ("early", "late", "at_pickup"))
    assert not c.counts("operator", "at_pickup")


def test_a_carrier_cancellation_that_counts_is_refused_by_the_validator(rules: Rules) -> None:
    data = rules.model_dump(mode="json")
    data["cancellation"]["carrier"]["at_pickup"] = True
    with pytest.raises(RulesError, match="carrier's cancellation never counts"):
        parse_rules(data)


def _check(now_min: float, lats: list[float], lons: list[float]) -> list[str]:
    out = no_show_refusals(pickup_at=PICKUP, now=PICKUP + timedelta(minutes=now_min),
                           wait_minutes=15, pickup_lat=60.05, pickup_lon=30.44, fix_lats=lats,
                           fix_lons=lons, radius_m=150, tz="Europe/Moscow")  # fmt: skip
    return [r.code for r in out]


def test_no_show_checks_each_named() -> None:
    near = ([60.0505], [30.44])  # ~56 m
    far = ([60.052], [30.44])  # ~220 m
    assert _check(15, *near) == []
    assert _check(14, *near) == ["no_show_too_early"]
    assert _check(20, *far) == ["vehicle_not_at_pickup"]
    assert _check(0, [], []) == ["no_show_too_early", "vehicle_not_at_pickup"]
    msg = no_show_refusals(pickup_at=PICKUP, now=PICKUP, wait_minutes=15, pickup_lat=60.05,
                           pickup_lon=30.44, fix_lats=[], fix_lons=[], radius_m=150,
                           tz="Europe/Moscow")[0].message  # fmt: skip
    assert "не раньше 10:15" in msg
