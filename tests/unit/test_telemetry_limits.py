"""Telemetry thresholds come from the rules file ``[telemetry]``; one vectorised set of value rules
judges every fix and every event."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import tomli_w

from config.rules import RulesError, TelemetryLimits, load_rules
from config.settings import DEFAULT_RULES_FILE
from telemetry import pipeline
from telemetry.model import Reason
from telemetry.pipeline import AMOUNT_RULE, EVENT_RULES, FIX_RULES, Inbound, Limits, process

P = "socialtaxi/v1"
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _rules_file(tmp_path: Path, **telemetry: object) -> Path:
    data = tomllib.loads(DEFAULT_RULES_FILE.read_text(encoding="utf-8"))
    data["telemetry"].update(telemetry)
    path = tmp_path / "rules.toml"
    path.write_bytes(tomli_w.dumps(data).encode())
    return path


def _limits(path: Path = DEFAULT_RULES_FILE) -> Limits:
    return Limits.from_rules(
        load_rules(path).telemetry, prefix=P, owntracks_prefix=None, max_age_s=86400 * 30
    )


def _msg(obj: object, kind: str = "position") -> Inbound:
    return Inbound(f"{P}/vehicles/v1/{kind}", json.dumps(obj).encode(), NOW)


def _fix(second: int = 0, **kw: object) -> dict:
    return {"ts": int(NOW.timestamp() * 1000) - second * 1000, "lat": 59.93, "lon": 30.31, **kw}


def _run(limits: Limits, *messages: Inbound):
    return process(list(messages), limits=limits, vehicles={"v1": 1})


def test_the_rules_file_states_every_telemetry_threshold():
    raw = tomllib.loads(DEFAULT_RULES_FILE.read_text(encoding="utf-8"))["telemetry"]
    assert set(raw) == set(TelemetryLimits.model_fields)  # written out, not left to defaults
    assert raw["max_reported_speed_kmh"] == 1000 and raw["max_satellites"] == 255


def test_limits_take_every_threshold_of_the_rules_by_name():
    rules = load_rules(DEFAULT_RULES_FILE).telemetry
    lim = _limits()
    for name, value in rules.model_dump().items():
        assert getattr(lim, name) == value, name
    # the defaults tests use are the rules' defaults
    defaults = Limits(prefix=P)
    for name, f in TelemetryLimits.model_fields.items():
        assert getattr(defaults, name) == f.default, name
    assert {f.name for f in dataclasses.fields(Limits)} >= set(TelemetryLimits.model_fields)


@pytest.mark.parametrize(
    ("telemetry", "field", "reason"),
    [
        ({"max_reported_speed_kmh": 150}, "telemetry", "must not be below max_speed_kmh"),
        ({"max_satellites": 0}, "telemetry.max_satellites", "greater than or equal to 1"),
        ({"max_satellites": 40_000}, "telemetry.max_satellites", "less than or equal to 32767"),
        ({"max_reported_speed_kmh": -5}, "telemetry.max_reported_speed_kmh", "greater than 0"),
        ({"max_speed_kmh": "fast"}, "telemetry.max_speed_kmh", "valid number"),
        ({"max_future_ms": 1}, "telemetry.max_future_ms", "Extra inputs are not permitted"),
    ],
)
def test_bad_telemetry_rules_are_refused_naming_the_field(tmp_path, telemetry, field, reason):
    path = _rules_file(tmp_path, **telemetry)
    with pytest.raises(RulesError) as info:
        load_rules(path)
    assert info.value.field == field and reason in info.value.reason
    assert str(info.value).startswith(f"{path}: {field}: ")


def test_the_thresholds_of_the_rules_file_are_the_ones_applied(tmp_path):
    strict = _limits(_rules_file(tmp_path, max_reported_speed_kmh=300, max_satellites=40))
    r = _run(
        strict, _msg([_fix(3, speed_kmh=400.0), _fix(2, satellites=50), _fix(1, speed_kmh=250.0)])
    )
    assert [dl.reason for dl in r.dead_letters] == [Reason.OUT_OF_RANGE]
    assert "speed_kmh out of range: 400.0" in r.dead_letters[0].detail
    assert "satellites out of range: 50" in r.dead_letters[0].detail
    assert [f.speed_kmh for f in r.positions.fixes] == [250.0]
    # the default file lets the same values through
    r = _run(_limits(), _msg([_fix(3, speed_kmh=400.0), _fix(2, satellites=50)]))
    assert len(r.positions) == 2 and not r.dead_letters


def test_events_are_judged_by_the_same_rules_as_fixes():
    # (plus the payment amount, which only events carry: AMOUNT_RULE, issue 9)
    assert set(EVENT_RULES) - {AMOUNT_RULE} <= set(FIX_RULES)
    ts = NOW.isoformat()
    ev = {"type": "shift_start", "ts": ts}
    r = _run(
        _limits(),
        _msg(
            [
                {**ev, "lat": 95.0, "lon": 30.0},
                {**ev, "lat": 0.0, "lon": 0.0},  # an event keeps its place: not a no-fix
                {**ev, "ts": (NOW + timedelta(seconds=301)).isoformat()},
                {**ev, "lat": 59.9},  # half a position: not judged
            ],
            kind="event",
        ),
    )
    assert len(r.events) == 2
    (dl,) = r.dead_letters
    assert dl.reason is Reason.OUT_OF_RANGE
    assert dl.detail.startswith("item 0: coordinates out of range: lat 95.0, lon 30.0")
    assert "item 2: time " in dl.detail and "ahead of receipt" in dl.detail


def test_the_first_rule_a_fix_breaks_is_its_reason():
    lim = _limits()
    r = _run(lim, _msg(_fix(lat=0.0, lon=0.0, speed_kmh=-1.0, ts=0)))  # no fix, speed, too old
    assert [dl.reason for dl in r.dead_letters] == [Reason.NO_FIX]
    r = _run(lim, _msg(_fix(hdop=-1.0, odometer_m=-2.0)))
    assert r.dead_letters[0].detail == "hdop is negative: -1.0"


@pytest.mark.parametrize("ms", [4 * 10**15, -4 * 10**15])
def test_a_time_beyond_any_calendar_is_refused_not_a_crash(ms):
    r = _run(_limits(), _msg(_fix(ts=ms)), _msg(_fix(1)))
    assert len(r.positions) == 1
    (dl,) = r.dead_letters
    assert dl.reason in (Reason.FUTURE, Reason.TOO_OLD)
    assert f"{ms} ms since the epoch" in dl.detail


def test_there_is_one_value_check():
    """No scalar copy of the range checks is left beside the vectorised rules."""
    names = set(vars(pipeline))
    assert not {"_range_problem", "_time_problem", "_bad_rows"} & names
