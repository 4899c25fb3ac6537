"""Fare and co-payment arithmetic (integer kopecks, Decimal, half-up)."""

from __future__ import annotations

import pytest

from config.rules import Rules, Tariff
from dispatch.errors import Invalid
from dispatch.tariff import FareQuote, quote


def test_car_short_trip_pays_25_percent(rules: Rules) -> None:
    q = quote(rules, category="disabled_1", vehicle_type="car", distance_m=10_000)
    assert q == FareQuote(
        fare_kop=55_000,
        copay_share_pct=25.0,
        copay_kop=13_750,
        distance_km=10.0,
        vehicle_type="car",
    )


def test_wheelchair_van_has_its_own_tariff(rules: Rules) -> None:
    q = quote(rules, category="disabled_1", vehicle_type="wheelchair_van", distance_m=10_000)
    assert (q.fare_kop, q.copay_kop) == (90_000, 22_500)
    q = quote(rules, category="disabled_1", vehicle_type="wheelchair_van", distance_m=150_000)
    assert (q.fare_kop, q.copay_share_pct, q.copay_kop) == (720_000, 10.0, 72_000)


def test_band_boundary_is_exactly_150_km(rules: Rules) -> None:
    at = quote(rules, category="disabled_2", vehicle_type="car", distance_m=150_000)
    assert (at.fare_kop, at.copay_share_pct, at.copay_kop) == (475_000, 10.0, 47_500)
    below = quote(rules, category="disabled_2", vehicle_type="car", distance_m=149_999)
    assert (below.fare_kop, below.copay_share_pct, below.copay_kop) == (474_997, 25.0, 118_749)
    # 149,999.9 m is still under 150 km although the fare rounds to the 150 km fare.
    just = quote(rules, category="disabled_2", vehicle_type="car", distance_m=149_999.9)
    assert (just.fare_kop, just.copay_share_pct, just.copay_kop) == (475_000, 25.0, 118_750)
    above = quote(rules, category="disabled_2", vehicle_type="car", distance_m=150_001)
    assert above.copay_share_pct == 10.0


@pytest.mark.parametrize("category", ["veteran_wwii", "disabled_child"])
def test_exempt_categories_pay_nothing(rules: Rules, category: str) -> None:
    for dist in (5_000, 150_000, 300_000):
        q = quote(rules, category=category, vehicle_type="car", distance_m=dist)
        assert q.copay_share_pct == 0.0
        assert q.copay_kop == 0
        assert q.fare_kop == 25_000 + 3 * dist  # the region still pays the full fare


def test_fare_rounds_half_up(rules: Rules) -> None:
    # 0.5 m at 30 ₽/km = 1.5 kop -> 2 (half up).
    assert (
        quote(rules, category="disabled_1", vehicle_type="car", distance_m=0.5).fare_kop == 25_002
    )
    # 0.4 m = 1.2 kop -> 1; 0.6 m = 1.8 kop -> 2.
    assert (
        quote(rules, category="disabled_1", vehicle_type="car", distance_m=0.4).fare_kop == 25_001
    )
    assert (
        quote(rules, category="disabled_1", vehicle_type="car", distance_m=0.6).fare_kop == 25_002
    )


def test_half_kopeck_rounds_up_not_to_even(rules: Rules) -> None:
    # A tariff of 10 ₽/km and no base: 2.5 m = 2.5 kop -> 3 (banker's rounding would give 2).
    cheap = Tariff(vehicle_type="car", name="Тест", base_kop=0, per_km_kop=1000)
    r = rules.model_copy(update={"tariffs": (cheap,)})
    assert quote(r, category="disabled_1", vehicle_type="car", distance_m=2.5).fare_kop == 3
    assert quote(r, category="disabled_1", vehicle_type="car", distance_m=4.5).fare_kop == 5


def test_copay_is_computed_on_the_rounded_fare_and_rounds_half_up(rules: Rules) -> None:
    # fare 25,000 + 30,002.0001 -> 55,002 kop; 25 % = 13,750.5 -> 13,751.
    q = quote(rules, category="disabled_1", vehicle_type="car", distance_m=10_000.6667)
    assert (q.fare_kop, q.copay_kop) == (55_002, 13_751)
    # 10 % band: fare 475,005 -> 47,500.5 -> 47,501.
    q = quote(rules, category="disabled_1", vehicle_type="car", distance_m=150_001.6667)
    assert (q.fare_kop, q.copay_kop) == (475_005, 47_501)
    # 25 % of 55,001 = 13,750.25 -> 13,750.
    q = quote(rules, category="disabled_1", vehicle_type="car", distance_m=10_000.3334)
    assert (q.fare_kop, q.copay_kop) == (55_001, 13_750)


def test_money_is_integer_and_float_artefacts_do_not_leak(rules: Rules) -> None:
    # 0.1 + 0.2 style distances must not produce 62037.02499999 artefacts.
    q = quote(rules, category="disabled_1", vehicle_type="car", distance_m=12_345.675)
    assert isinstance(q.fare_kop, int) and isinstance(q.copay_kop, int)
    assert q.fare_kop == 62_037  # 62,037.025
    assert q.distance_km == pytest.approx(12.345675)


def test_zero_distance_costs_the_base_fare(rules: Rules) -> None:
    q = quote(rules, category="age_80_plus", vehicle_type="car", distance_m=0)
    assert (q.fare_kop, q.copay_kop) == (25_000, 6_250)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        (
            {"category": "disabled_1", "vehicle_type": "bus", "distance_m": 1000},
            "unknown_vehicle_type",
        ),
        ({"category": "nobody", "vehicle_type": "car", "distance_m": 1000}, "unknown_category"),
        ({"category": "disabled_1", "vehicle_type": "car", "distance_m": -1}, "bad_distance"),
        (
            {"category": "disabled_1", "vehicle_type": "car", "distance_m": float("nan")},
            "bad_distance",
        ),
        (
            {"category": "disabled_1", "vehicle_type": "car", "distance_m": float("inf")},
            "bad_distance",
        ),
    ],
)
def test_refusals(rules: Rules, kwargs: dict, code: str) -> None:
    with pytest.raises(Invalid) as exc:
        quote(rules, **kwargs)
    assert exc.value.code == code
    assert any("а" <= ch <= "я" for ch in exc.value.message.lower())  # Russian text


def test_pair_priced_by_its_total_distance(rules) -> None:
    # Two 80 km legs of a pair: each is under 150 km (25 %), the pair is 160 km (10 %).
    from dispatch.tariff import quote

    leg = quote(rules, category="disabled_1", vehicle_type="car", distance_m=80_000)
    pair = quote(rules, category="disabled_1", vehicle_type="car", distance_m=80_000, band_km=160)
    assert (leg.copay_share_pct, pair.copay_share_pct) == (25, 10)
    assert leg.fare_kop == pair.fare_kop and pair.copay_kop < leg.copay_kop
    assert rules.return_trips.pair_counts_as == "one"
    assert rules.return_trips.copay_band == "pair_total"
