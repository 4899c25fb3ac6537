"""maxspeed parsing, class defaults and the drivable-way filter (pure functions)."""

from __future__ import annotations

import math

import pytest

from routing.osmfilter import is_drivable
from routing.speeds import (
    MPH_TO_KMH,
    SpeedDefaults,
    default_speed_kmh,
    edge_speed_kmh,
    parse_maxspeed,
)


@pytest.mark.parametrize(
    ("raw", "kmh"),
    [
        ("60", 60.0),
        (60, 60.0),
        (40.0, 40.0),
        ("20", 20.0),
        ("60 km/h", 60.0),
        ("50kmh", 50.0),
        ("60 mph", 60 * MPH_TO_KMH),
        ("30mph", 30 * MPH_TO_KMH),
        ("RU:urban", 60.0),
        ("RU:rural", 90.0),
        ("RU:motorway", 110.0),
        ("RU:living_street", 20.0),
        ("DE:urban", 60.0),
        (["60", "40"], 50.0),
        (["RU:urban", "nan"], 60.0),
        ("60;40", 50.0),
        (" 70 ", 70.0),
    ],
)
def test_parse_maxspeed_values(raw, kmh):
    assert parse_maxspeed(raw) == pytest.approx(kmh)


@pytest.mark.parametrize(
    "raw",
    [
        "nan",
        float("nan"),
        None,
        "",
        "none",
        "signals",
        "variable",
        "RU:unknown",
        ["nan"],
        [],
        "0",
        "999",
        "abc",
        True,
    ],
)
def test_parse_maxspeed_unusable_gives_none(raw):
    assert parse_maxspeed(raw) is None


def test_zone_speeds_follow_the_configured_defaults():
    d = SpeedDefaults(urban_kmh=50, rural_kmh=80)
    assert parse_maxspeed("RU:urban", d) == 50
    assert parse_maxspeed("RU:rural", d) == 80


@pytest.mark.parametrize(
    ("highway", "name", "kmh"),
    [
        ("living_street", None, 20.0),
        ("service", None, 20.0),
        ("residential", None, 30.0),
        ("motorway", None, 110.0),
        ("primary", "Киевское шоссе", 90.0),
        ("primary", "Ленинградская улица", 60.0),
        ("secondary", None, 90.0),
        ("tertiary", None, 60.0),
        (["residential", "tertiary"], None, 30.0),
        ("nan", "nan", 90.0),
    ],
)
def test_default_speed_by_class_and_name(highway, name, kmh):
    assert default_speed_kmh(highway, name) == kmh


def test_edge_speed_prefers_a_valid_maxspeed():
    assert edge_speed_kmh("residential", "40") == 40
    assert edge_speed_kmh("residential", "nan") == 30
    assert edge_speed_kmh("living_street", "RU:living_street") == 20
    assert edge_speed_kmh("primary", "60 mph") == pytest.approx(96.56, abs=0.01)


def test_speed_defaults_are_frozen_and_overridable():
    d = SpeedDefaults()
    with pytest.raises(AttributeError):
        d.urban_kmh = 50  # type: ignore[misc]
    with pytest.raises(TypeError):
        d.class_kmh["residential"] = 10  # type: ignore[index]
    e = SpeedDefaults.from_mapping({"urban_kmh": 50, "residential": 25, "living_street": 10})
    assert e.urban_kmh == 50 and e.class_kmh["residential"] == 25
    assert e.class_kmh["service"] == d.class_kmh["service"]  # merged, not replaced
    assert e.fingerprint() != d.fingerprint()
    assert SpeedDefaults().fingerprint() == d.fingerprint()
    with pytest.raises(ValueError):
        SpeedDefaults(urban_kmh=0)


def test_every_speed_is_positive_and_finite():
    d = SpeedDefaults()
    for cls in list(d.class_kmh) + ["primary", "trunk", "unknown", ""]:
        v = default_speed_kmh(cls, None, d)
        assert v > 0 and math.isfinite(v)


@pytest.mark.parametrize(
    ("tags", "drive_service", "drive"),
    [
        ({"highway": "residential"}, True, True),
        ({"highway": "service"}, True, False),
        ({"highway": "service", "service": "parking_aisle"}, False, False),
        ({"highway": "service", "service": "driveway"}, True, False),
        ({"highway": "footway"}, False, False),
        ({"highway": "primary", "access": "private"}, False, False),
        ({"highway": "residential", "motor_vehicle": "no"}, False, False),
        ({"highway": "pedestrian", "area": "yes"}, False, False),
        ({"highway": "nan"}, False, False),
        ({"building": "yes"}, False, False),
        ({"highway": "living_street", "maxspeed": "nan"}, True, True),
    ],
)
def test_drivable_filter(tags, drive_service, drive):
    assert is_drivable(tags) is drive_service
    assert is_drivable(tags, "drive") is drive
