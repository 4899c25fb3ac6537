"""The simulator against the real broker, ingest and database: a replayed scenario file is stored
fix for fix; vehicles the database does not know are named, the others keep going."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
import pytest

from routing import RoadGraph
from routing.synthetic import grid_network
from simulators.scenarios import ScenarioOptions, generate
from simulators.schedule import SimClock
from simulators.services.fleet import Fleet, FleetOptions
from telemetry.publish import Publisher
from tests.conftest import MQTT_HOST, MQTT_PORT

from .conftest import wait_for


@pytest.fixture(scope="module")
def grid() -> RoadGraph:
    return RoadGraph.from_arrays(grid_network(18, seed=9, spacing_m=170.0))


def _register(db: psycopg.Connection, ids: list[str]) -> None:
    cid = db.execute("INSERT INTO carriers (name) VALUES ('Сим') RETURNING id").fetchone()[0]
    for i, m in enumerate(ids):
        db.execute(
            "INSERT INTO vehicles (carrier_id, plate, vehicle_type, seats, mqtt_id)"
            " VALUES (%s, %s, 'car', 4, %s)",
            (cid, f"С{i:03d}СС47", m),
        )


def test_replayed_scenario_is_stored_fix_for_fix(
    db, mqtt_prefix, ingest_factory, grid, rules, tmp_path
):
    kinds = ("honest", "late_pickup", "gps_gap", "phantom_trip")
    doc = generate(grid, rules, ScenarioOptions(trips=4, seed=5, kinds=kinds))
    path = tmp_path / "s.json"
    path.write_bytes(orjson.dumps(doc))
    _register(db, [v["id"] for v in doc["vehicles"]])
    ingest_factory(share_group="")
    now = datetime.now(UTC)
    # the set spans a working day: replay it 20,000 times faster from 12 hours ago
    clock = SimClock(sim_start=now - timedelta(hours=12), real_start=now, speed=20_000)
    pub = Publisher(MQTT_HOST, MQTT_PORT)
    lines: list[str] = []
    fleet = Fleet(
        graph=grid,
        rules=rules,
        publisher=pub,
        clock=clock,
        opts=FleetOptions(prefix=mqtt_prefix),
        echo=lines.append,
    )
    assert fleet.load_scenario(path, clock.sim_start) == 4
    counters = fleet.run(threading.Event(), duration_s=60, shifts=False)
    assert pub.wait_all(30)
    pub.close()
    n_fixes = sum(len(t["fixes"]) for t in doc["trips"])
    n_events = sum(len(t["events"]) for t in doc["trips"])
    assert (counters.fixes, counters.events) == (n_fixes, n_events)
    wait_for(
        lambda: db.execute("SELECT count(*) FROM vehicle_positions").fetchone()[0] == n_fixes,
        30,
        "every replayed fix stored",
    )
    wait_for(
        lambda: db.execute("SELECT count(*) FROM trip_events").fetchone()[0] == n_events,
        30,
        "every replayed event stored",
    )
    assert db.execute("SELECT count(*) FROM telemetry_dead_letters").fetchone()[0] == 0
    assert lines == []


def test_unknown_vehicle_is_one_line_and_the_others_are_loaded(db, db_url, grid, rules):
    _register(db, ["sim-a", "sim-b"])
    lines: list[str] = []
    fleet = Fleet(
        graph=grid,
        rules=rules,
        publisher=None,  # type: ignore[arg-type]  (nothing is published here)
        clock=SimClock(datetime.now(UTC), datetime.now(UTC)),
        opts=FleetOptions(prefix="x"),
        db_url=db_url,
        echo=lines.append,
    )
    with psycopg.connect(db_url) as conn:
        fleet.load_vehicles(conn, ["sim-a", "nope", "sim-b"])
    assert sorted(fleet.vehicles) == ["sim-a", "sim-b"]
    assert lines == ["Ошибка: неизвестная машина «nope» (нет активной машины с таким MQTT id)"]
