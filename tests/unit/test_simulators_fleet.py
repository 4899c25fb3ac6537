"""The fleet's pure parts: the same seed publishes the same bytes; the simulated clock never
runs ahead of real time; a scenario file that cannot be read is one clear error."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace

import numpy as np
import pytest

from routing import RoadGraph
from routing.synthetic import grid_network
from simulators.schedule import SimClock
from simulators.services.fleet import Fleet, FleetOptions, ScenarioFileError, Vehicle

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def grid() -> RoadGraph:
    return RoadGraph.from_arrays(grid_network(16, seed=2, spacing_m=170.0))


def _fleet(grid, rules, seed: int) -> Fleet:
    return Fleet(
        graph=grid,
        rules=rules,
        publisher=None,  # type: ignore[arg-type]
        clock=SimClock(T0, T0),
        opts=FleetOptions(prefix="p", seed=seed, violation_share=0.5),
        echo=lambda _line: None,
    )


def _messages(grid, rules, seed: int) -> list[tuple[int, str, bytes]]:
    fleet = _fleet(grid, rules, seed)
    rng = np.random.default_rng(99)
    for k in range(6):
        v = Vehicle(f"sim-{k}", k + 1, node=int(rng.integers(grid.node_count)))
        fleet.vehicles[v.mqtt_id] = v
        a, b = (int(i) for i in rng.choice(grid.node_count, 2, replace=False))
        trip = SimpleNamespace(
            id=100 + k,
            pickup_lat=float(grid.node_lat[a]),
            pickup_lon=float(grid.node_lon[a]),
            dest_lat=float(grid.node_lat[b]),
            dest_lon=float(grid.node_lon[b]),
            pickup_at=T0 + timedelta(minutes=30 + 10 * k),
            planned_dist_m=1500.0,
            copay_kop=5000 * (k % 2),
        )
        fleet._start_trip(v, trip, T0)
    return [(m.at_us, m.topic, m.payload) for m in sorted(fleet.queue)]


def test_same_seed_same_fixes_and_events_byte_for_byte(grid, rules):
    a = _messages(grid, rules, seed=4)
    assert a == _messages(grid, rules, seed=4)
    assert a != _messages(grid, rules, seed=5)
    topics = {t.rsplit("/", 1)[1] for _, t, _ in a}
    assert topics == {"position", "event"}
    events = [p for _, t, p in a if t.endswith("/sim-0/event")]
    kinds = [p.split(b'"type":"')[1].split(b'"')[0].decode() for p in events]
    assert kinds[:5] == [
        "en_route",
        "arrived_at_pickup",
        "passenger_on_board",
        "arrived_at_destination",
        "trip_completed",
    ]


def test_clock_runs_fast_but_never_ahead_of_real_time():
    real0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    clock = SimClock(sim_start=real0 - timedelta(hours=1), real_start=real0, speed=31)
    assert clock.now(real0 + timedelta(seconds=60)) == real0 - timedelta(hours=1) + timedelta(
        seconds=60 * 31
    )
    later = real0 + timedelta(minutes=10)
    assert clock.now(later) == later  # caught up: real time from here on


def test_unreadable_scenario_file_is_one_clear_error(grid, rules, tmp_path):
    fleet = _fleet(grid, rules, 1)
    with pytest.raises(ScenarioFileError, match="не прочитать"):
        fleet.load_scenario(tmp_path / "missing.json", T0)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ScenarioFileError, match="не JSON"):
        fleet.load_scenario(bad, T0)
    other = tmp_path / "other.json"
    other.write_text('{"schema": "something/else"}')
    with pytest.raises(ScenarioFileError, match="не файл сценария"):
        fleet.load_scenario(other, T0)


def test_accelerated_start_lies_in_the_past_and_bookings_fit_the_service_hours(rules):
    from zoneinfo import ZoneInfo

    from config.rules import parse_rules
    from simulators.cli import default_start

    tz = ZoneInfo(rules.timezone)
    day = datetime(2026, 3, 2, 13, 0, tzinfo=tz).astimezone(UTC)
    assert default_start(day, 1.0, 180, rules) == day  # real time: now
    night = datetime(2026, 3, 3, 2, 0, tzinfo=tz).astimezone(UTC)
    data = rules.model_dump(mode="python")
    data["booking"].update(round_the_clock=True, service_start=None, service_end=None)
    round_clock = parse_rules(data)
    assert default_start(night, 30.0, 180, round_clock) == night - timedelta(minutes=180)
    data["booking"].update(round_the_clock=False, service_start=time(7), service_end=time(21))
    fixed = parse_rules(data)
    start = default_start(night, 30.0, 180, fixed)
    assert start < night - timedelta(minutes=180)
    for extra in (5, 60):  # a trip booked at the start is picked up within 07:00–21:00
        pickup = (start + timedelta(minutes=fixed.booking.min_lead_minutes + extra)).astimezone(tz)
        assert time(7) <= pickup.time() < time(21)
