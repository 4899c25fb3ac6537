import tomllib
from datetime import time
from decimal import Decimal
from pathlib import Path

import pytest
import tomli_w

from config.rules import RulesError, load_rules
from config.settings import DEFAULT_RULES_FILE


def _raw() -> dict:
    return tomllib.loads(DEFAULT_RULES_FILE.read_text(encoding="utf-8"))


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "rules.toml"
    path.write_bytes(tomli_w.dumps(data).encode())
    return path


def test_leningrad_oblast_defaults(rules):
    assert rules.timezone == "Europe/Moscow"
    for code in ("disabled_1", "disabled_2", "disabled_child", "veteran_wwii", "age_80_plus"):
        assert rules.category(code).monthly_limit == 4
    assert rules.category("hemodialysis").monthly_limit == 14
    assert rules.category("hemodialysis").allowed_object_types == ("hemodialysis",)
    assert rules.booking.round_the_clock
    assert rules.copay_share_pct("disabled_1", 149.99) == 25
    assert rules.copay_share_pct("disabled_1", 150) == 10
    assert rules.copay_share_pct("veteran_wwii", 10) == 0  # fully exempt
    assert {t.vehicle_type for t in rules.tariffs} == {"car", "wheelchair_van"}
    assert rules.tariff("wheelchair_van").wheelchair_places >= 1
    assert rules.object_type("mfc").name == "МФЦ"


def test_rounding_is_half_up_to_the_step(rules):
    assert rules.rounding.apply(Decimal("100.5")) == 101
    assert rules.rounding.apply(Decimal("100.49")) == 100


def test_valid_copy_round_trips(tmp_path):
    assert load_rules(_write(tmp_path, _raw())).version == "2026.1"


@pytest.mark.parametrize(
    ("mutate", "field", "reason"),
    [
        (
            lambda d: d["benefit_categories"][1].update(monthly_limit=-1),
            "benefit_categories.1.monthly_limit",
            "greater than or equal to 0",
        ),
        (
            lambda d: d["co_payment"]["category_shares"].append(
                {"category": "martian", "share_pct": 5}
            ),
            "co_payment.category_shares.2.category",
            "unknown benefit category 'martian'",
        ),
        (
            lambda d: d["co_payment"]["bands"][0].update(share_pct=120),
            "co_payment.bands.0.share_pct",
            "less than or equal to 100",
        ),
        (
            lambda d: d["benefit_categories"][0]["allowed_object_types"].append("casino"),
            "benefit_categories.0.allowed_object_types",
            "unknown social object type 'casino'",
        ),
        (
            lambda d: d["tariffs"][0].update(per_km_kop=-5),
            "tariffs.0.per_km_kop",
            "greater than or equal to 0",
        ),
        (
            lambda d: d["benefit_categories"].append(dict(d["benefit_categories"][0])),
            "benefit_categories.6.code",
            "duplicate code 'disabled_1'",
        ),
        (
            lambda d: d["booking"].update(service_start="07:00:00"),
            "booking",
            "round_the_clock = true takes no service_start/service_end",
        ),
        (
            lambda d: d["booking"].update(round_the_clock=False),
            "booking",
            "set both service_start and service_end, or round_the_clock = true",
        ),
        (
            lambda d: d["booking"].update(
                round_the_clock=False, service_start="07:00:00", service_end="07:00:00"
            ),
            "booking",
            "service_start equals service_end",
        ),
        (
            lambda d: d["booking"].update(round_the_clock=False, service_start="07:00:00"),
            "booking",
            "set both service_start and service_end",
        ),
        (
            lambda d: d.update(timezone="Europe/Moskow"),
            "timezone",
            "unknown IANA time zone 'Europe/Moskow'",
        ),
        (
            lambda d: d.update(timezone="MSK+3"),
            "timezone",
            "unknown IANA time zone",
        ),
        (
            lambda d: d["benefit_categories"][5].update(monthly_limit=12, yearly_limit=156),
            "benefit_categories.5.yearly_limit",
            "156 can never be reached: 12 months × monthly_limit 12 = 144",
        ),
        (
            lambda d: d["audit"].pop("deviation_corridor_m"),
            "audit.deviation_corridor_m",
            "Field required",
        ),
        (
            lambda d: d["benefit_categories"][5].update(yearly_limit=3),
            "benefit_categories.5.yearly_limit",
            "must not be below monthly_limit",
        ),
        (lambda d: d.update(surprise=1), "surprise", "Extra inputs are not permitted"),
        (
            lambda d: d["assignment"].pop("boarding_s"),
            "assignment.boarding_s",
            "Field required",
        ),
        (
            lambda d: d["assignment"].update(max_late_s=-60),
            "assignment.max_late_s",
            "greater than or equal to 0",
        ),
        (lambda d: d.pop("assignment"), "assignment", "Field required"),
    ],
)
def test_bad_values_are_refused_naming_file_and_field(tmp_path, mutate, field, reason):
    data = _raw()
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(RulesError) as info:
        load_rules(path)
    err = info.value
    assert err.path == str(path)
    assert err.field == field
    assert reason in err.reason
    assert str(err).startswith(f"{path}: {field}: ")


def test_syntax_error_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("version = \n")
    with pytest.raises(RulesError, match=r"bad.toml: \(syntax\)"):
        load_rules(bad)
    with pytest.raises(RulesError, match="file not found"):
        load_rules(tmp_path / "nope.toml")


def test_fixed_and_overnight_hours_load(tmp_path):
    data = _raw()
    data["booking"].pop("round_the_clock")
    data["booking"].update(service_start="20:00:00", service_end="08:00:00")
    b = load_rules(_write(tmp_path, data)).booking
    assert b.hours_text == "20:00–08:00"
    assert b.in_service_hours(time(23, 0)) and b.in_service_hours(time(7, 59))
    assert not b.in_service_hours(time(8, 0)) and not b.in_service_hours(time(19, 59))


def test_the_planner_thresholds_come_from_the_file(tmp_path):
    data = _raw()
    assert (data["assignment"]["boarding_s"], data["assignment"]["max_late_s"]) == (300, 900)
    data["assignment"].update(boarding_s=240, max_late_s=600)
    rules = load_rules(_write(tmp_path, data))
    assert (rules.assignment.boarding_s, rules.assignment.max_late_s) == (240, 600)
