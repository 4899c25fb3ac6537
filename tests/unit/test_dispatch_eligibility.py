"""Booking checks: every refusal, with Russian messages, all reported at once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from config.rules import Booking, Rules
from dispatch.eligibility import (
    BenefitPeriod,
    BookingRequest,
    PassengerNeeds,
    Refusal,
    active_category,
    check_booking,
    choose_category,
    minor_on,
)
from dispatch.errors import Invalid

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=MSK)  # 07:00 UTC
OK_REQ = BookingRequest(
    pickup_at=datetime(2026, 11, 23, 10, 0, tzinfo=MSK),
    vehicle_type="car",
    companions=0,
    destination_type="medical",
    destination_active=True,
)
NO_NEEDS = PassengerNeeds(
    wheelchair=False, walker=False, visually_impaired=False, needs_companion=False
)


def with_hours(rules: Rules, start: str | None, end: str | None) -> Rules:
    """The rules with fixed service hours (``None, None``: 24/7), validated like the file."""
    data = rules.booking.model_dump(exclude={"round_the_clock", "service_start", "service_end"})
    if start is None:
        data["round_the_clock"] = True
    else:
        data.update(service_start=start, service_end=end)
    return rules.model_copy(update={"booking": Booking.model_validate(data)})


def check(rules: Rules, req: BookingRequest = OK_REQ, *, needs: PassengerNeeds = NO_NEEDS,
          category: str | None = "disabled_1", now: datetime = NOW) -> list[Refusal]:  # fmt: skip
    return check_booking(req, needs=needs, category=category, rules=rules, now=now)


def codes(refusals: list[Refusal]) -> list[str]:
    return [r.code for r in refusals]


def is_russian(text: str) -> bool:
    return any("а" <= ch <= "я" for ch in text.lower())


def test_a_good_request_passes(rules: Rules) -> None:
    assert check(rules) == []


@pytest.mark.parametrize(
    ("pickup", "code"),
    [
        (NOW - timedelta(hours=1), "pickup_in_past"),
        (NOW, "pickup_in_past"),
        (NOW + timedelta(minutes=60), "too_soon"),
        (NOW + timedelta(minutes=119), "too_soon"),
        (datetime(2026, 12, 21, 10, 0, tzinfo=MSK), "too_far_ahead"),
        (datetime(2027, 3, 1, 10, 0, tzinfo=MSK), "too_far_ahead"),
    ],
)
def test_time_refusals(rules: Rules, pickup: datetime, code: str) -> None:
    out = check(rules, replace(OK_REQ, pickup_at=pickup))
    assert codes(out) == [code]
    assert out[0].field == "pickup_at" and is_russian(out[0].message)


def test_time_boundaries_accepted(rules: Rules) -> None:
    # Exactly the minimum lead, and the last day of the horizon (today + 30 local days).
    assert check(rules, replace(OK_REQ, pickup_at=NOW + timedelta(minutes=120))) == []
    last = datetime(2026, 12, 20, 20, 59, tzinfo=MSK)
    assert check(rules, replace(OK_REQ, pickup_at=last)) == []


def test_too_soon_message_names_the_earliest_time(rules: Rules) -> None:
    out = check(rules, replace(OK_REQ, pickup_at=NOW + timedelta(minutes=30)))
    assert out[0].message == (
        "Заказ принимается не позднее чем за 2 часа до подачи; "
        "ближайшее время подачи — 20.11.2026 12:00"
    )


@pytest.mark.parametrize(
    ("local", "ok"),
    [
        ((6, 59), False),
        ((7, 0), True),
        ((12, 0), True),
        ((20, 59), True),
        ((21, 0), False),
        ((23, 30), False),
    ],
)
def test_service_hours_are_local(rules: Rules, local: tuple[int, int], ok: bool) -> None:
    pickup = datetime(2026, 11, 23, *local, tzinfo=MSK)
    out = check(with_hours(rules, "07:00", "21:00"), replace(OK_REQ, pickup_at=pickup))
    assert codes(out) == ([] if ok else ["outside_hours"])


def test_service_hours_read_utc_input_in_moscow_time(rules: Rules) -> None:
    # 05:00 UTC = 08:00 Moscow: open. 18:30 UTC = 21:30 Moscow: closed.
    rules = with_hours(rules, "07:00", "21:00")
    assert check(rules, replace(OK_REQ, pickup_at=datetime(2026, 11, 23, 5, 0, tzinfo=UTC))) == []
    out = check(rules, replace(OK_REQ, pickup_at=datetime(2026, 11, 23, 18, 30, tzinfo=UTC)))
    assert codes(out) == ["outside_hours"]
    assert out[0].message == "Время подачи 21:30 вне часов работы службы (07:00–21:00)"


@pytest.mark.parametrize("local", [(0, 0), (3, 30), (6, 59), (12, 0), (21, 0), (23, 59)])
def test_the_region_runs_round_the_clock(rules: Rules, local: tuple[int, int]) -> None:
    # The Leningrad Oblast file says 24/7: a night pickup is accepted.
    assert rules.booking.round_the_clock and rules.booking.hours_text == "круглосуточно"
    pickup = datetime(2026, 11, 23, *local, tzinfo=MSK)
    assert check(rules, replace(OK_REQ, pickup_at=pickup)) == []


@pytest.mark.parametrize(
    ("local", "ok"), [((19, 59), False), ((20, 0), True), ((2, 0), True), ((7, 59), True),
                      ((8, 0), False), ((12, 0), False)],
)  # fmt: skip
def test_overnight_service_hours(rules: Rules, local: tuple[int, int], ok: bool) -> None:
    night = with_hours(rules, "20:00", "08:00")
    pickup = datetime(2026, 11, 23, *local, tzinfo=MSK)
    out = check(night, replace(OK_REQ, pickup_at=pickup))
    assert codes(out) == ([] if ok else ["outside_hours"])


def test_no_benefit_category(rules: Rules) -> None:
    out = check(rules, category=None)
    assert codes(out) == ["no_benefit"]
    assert out[0].field == "category"
    assert out[0].message == "У пассажира нет действующей льготной категории на 23.11.2026"


def test_unknown_category(rules: Rules) -> None:
    assert codes(check(rules, category="martian")) == ["unknown_category"]


def test_unknown_vehicle_type(rules: Rules) -> None:
    out = check(rules, replace(OK_REQ, vehicle_type="bus"))
    assert codes(out) == ["unknown_vehicle_type"]
    assert out[0].field == "vehicle_type"


def test_wheelchair_needs_a_wheelchair_vehicle(rules: Rules) -> None:
    needs = replace(NO_NEEDS, wheelchair=True)
    out = check(rules, needs=needs)
    assert codes(out) == ["vehicle_not_fit"]
    assert "не перевозит инвалидов-колясочников" in out[0].message
    assert "оборудованный для перевозки инвалидов-колясочников" in out[0].message  # the hint
    assert check(rules, replace(OK_REQ, vehicle_type="wheelchair_van"), needs=needs) == []


def test_wheelchair_user_rides_in_the_wheelchair_place(rules: Rules) -> None:
    # Van: 3 seats + 1 wheelchair place. Companion takes a seat, the passenger the place.
    van = replace(OK_REQ, vehicle_type="wheelchair_van", companions=1)
    assert check(rules, van, needs=replace(NO_NEEDS, wheelchair=True)) == []


def test_walker_and_visual_impairment_need_no_special_vehicle(rules: Rules) -> None:
    needs = replace(NO_NEEDS, walker=True, visually_impaired=True)
    assert check(rules, needs=needs) == []


def test_companions(rules: Rules) -> None:
    assert check(rules, replace(OK_REQ, companions=1)) == []
    out = check(rules, replace(OK_REQ, companions=2))
    assert codes(out) == ["too_many_companions"]
    assert out[0].message == "Допускается не более 1 сопровождающего"
    assert codes(check(rules, replace(OK_REQ, companions=-1))) == ["bad_companions"]


def test_not_enough_seats(rules: Rules) -> None:
    tiny = rules.model_copy(
        update={
            "tariffs": (
                rules.tariff("car").model_copy(update={"seats": 1}),
                rules.tariff("wheelchair_van"),
            )
        }
    )
    out = check(tiny, replace(OK_REQ, companions=1))
    assert codes(out) == ["not_enough_seats"]
    assert out[0].field == "companions"
    assert check(tiny, replace(OK_REQ, companions=0)) == []


def test_companion_required_is_a_refusal(rules: Rules) -> None:
    needs = replace(NO_NEEDS, needs_companion=True, visually_impaired=True)
    out = check(rules, needs=needs)
    assert codes(out) == ["companion_required"]
    assert out[0].message == "Пассажиру требуется сопровождающий: укажите сопровождающего"
    assert check(rules, replace(OK_REQ, companions=1), needs=needs) == []


def test_destination_inactive(rules: Rules) -> None:
    out = check(rules, replace(OK_REQ, destination_active=False))
    assert codes(out) == ["destination_inactive"]
    assert out[0].field == "destination"


def test_destination_type_unknown(rules: Rules) -> None:
    assert codes(check(rules, replace(OK_REQ, destination_type="casino"))) == [
        "unknown_destination_type"
    ]


def test_destination_type_not_allowed_for_category(rules: Rules) -> None:
    # Citizens over 80 are not entitled to culture/sport trips; disabled group I are.
    req = replace(OK_REQ, destination_type="culture_sport")
    out = check(rules, req, category="age_80_plus")
    assert codes(out) == ["destination_not_allowed"]
    assert out[0].message == (
        "Категория «Гражданин старше 80 лет» не даёт права на поездки к объектам типа "
        "«Учреждение культуры и спорта»"
    )
    assert check(rules, req, category="disabled_1") == []
    # Hemodialysis patients: only hemodialysis and medical.
    assert codes(
        check(rules, replace(OK_REQ, destination_type="mfc"), category="hemodialysis")
    ) == ["destination_not_allowed"]


def test_all_refusals_at_once(rules: Rules) -> None:
    req = BookingRequest(
        pickup_at=datetime(2026, 11, 20, 10, 30, tzinfo=MSK),  # too soon
        vehicle_type="car",
        companions=3,
        destination_type="culture_sport",
        destination_active=False,
    )
    needs = PassengerNeeds(
        wheelchair=True, walker=False, visually_impaired=False, needs_companion=True
    )
    out = check(rules, req, needs=needs, category="age_80_plus")
    assert codes(out) == [
        "too_soon",
        "vehicle_not_fit",
        "too_many_companions",
        "destination_inactive",
        "destination_not_allowed",
    ]
    assert all(is_russian(r.message) for r in out)


def test_past_and_outside_hours_both_reported(rules: Rules) -> None:
    late = replace(OK_REQ, pickup_at=datetime(2026, 11, 19, 23, 0, tzinfo=MSK))
    out = check(with_hours(rules, "07:00", "21:00"), late)
    assert codes(out) == ["pickup_in_past", "outside_hours"]


def test_naive_times_are_a_programming_error(rules: Rules) -> None:
    with pytest.raises(Invalid):
        check(rules, replace(OK_REQ, pickup_at=datetime(2026, 11, 23, 10, 0)))
    with pytest.raises(Invalid):
        check(rules, now=datetime(2026, 11, 20, 10, 0))


# --- active category ------------------------------------------------------------------------


def test_active_category_by_date() -> None:
    b = [
        BenefitPeriod("disabled_2", date(2025, 1, 1), date(2026, 6, 30)),
        BenefitPeriod("disabled_1", date(2026, 7, 1), None),
    ]
    assert active_category(b, date(2024, 12, 31)) is None
    assert active_category(b, date(2025, 1, 1)) == "disabled_2"
    assert active_category(b, date(2026, 6, 30)) == "disabled_2"  # valid_to inclusive
    assert active_category(b, date(2026, 7, 1)) == "disabled_1"
    assert active_category(b, date(2099, 1, 1)) == "disabled_1"  # open-ended
    assert active_category([], date(2026, 7, 1)) is None


def choose(rules: Rules, periods: list[BenefitPeriod], dest: str, km: float = 10.0):
    return choose_category(periods, date(2026, 5, 1), destination_type=dest, distance_km=km,
                           rules=rules)  # fmt: skip


def test_exempt_veteran_who_is_also_disabled_pays_nothing(rules: Rules) -> None:
    # Was: the highest monthly limit won, a tie went to the later period → disabled_1 at 25 %.
    b = [BenefitPeriod("veteran_wwii", date(2020, 1, 1), None),
         BenefitPeriod("disabled_1", date(2021, 1, 1), None)]  # fmt: skip
    c = choose(rules, b, "mfc")
    assert c is not None and c.category == "veteran_wwii"
    assert "доля оплаты 0 %" in c.reason and "«Инвалид I группы»" in c.reason


def test_dialysis_patient_with_group_one_goes_to_the_mfc_under_group_one(rules: Rules) -> None:
    b = [BenefitPeriod("hemodialysis", date(2026, 1, 1), None),
         BenefitPeriod("disabled_1", date(2026, 3, 1), None)]  # fmt: skip
    mfc = choose(rules, b, "mfc")
    assert mfc is not None and mfc.category == "disabled_1"
    assert "не дают права на этот тип объекта: «Пациент, получающий гемодиализ»" in mfc.reason
    dialysis = choose(rules, b, "hemodialysis")
    assert dialysis is not None and dialysis.category == "hemodialysis"
    # Before group I starts, only dialysis is valid: an МФЦ trip has no category.
    assert choose_category(b, date(2026, 2, 1), destination_type="mfc", distance_km=10,
                           rules=rules) is None  # fmt: skip


def test_equal_share_goes_to_the_higher_limit_then_the_later_period(rules: Rules) -> None:
    same = [BenefitPeriod("disabled_2", date(2026, 1, 1), None),
            BenefitPeriod("age_80_plus", date(2026, 2, 1), None)]  # fmt: skip
    assert choose(rules, same, "medical").category == "age_80_plus"  # type: ignore[union-attr]
    assert choose(rules, list(reversed(same)), "medical").category == "age_80_plus"  # type: ignore[union-attr]
    # An expired period is not chosen.
    old = [BenefitPeriod("veteran_wwii", date(2020, 1, 1), date(2025, 12, 31)),
           BenefitPeriod("disabled_1", date(2021, 1, 1), None)]  # fmt: skip
    assert choose(rules, old, "mfc").category == "disabled_1"  # type: ignore[union-attr]


def test_a_minor_needs_a_companion(rules: Rules) -> None:
    assert minor_on(date(2010, 5, 2), date(2026, 5, 1), adult_age_years=18)
    assert not minor_on(date(2008, 5, 1), date(2026, 5, 1), adult_age_years=18)  # 18 today
    out = check(rules, needs=replace(NO_NEEDS, minor=True))
    assert codes(out) == ["companion_required_minor"]
    assert "младше 18 лет" in out[0].message
    assert check(rules, replace(OK_REQ, companions=1), needs=replace(NO_NEEDS, minor=True)) == []
