"""End to end: a vehicle publishes its fixes and trip events to the real broker, ingest stores
them and completes the trip, the completion enqueues an audit job (trigger), and the audit
worker takes the job and writes the trip's findings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from audit import service
from tests.integration.telemetry.conftest import wait_for
from tests.unit.test_audit_rules import CLINIC, LAT0, LON0, M_LAT, PLAN_M, drive

pytestmark = pytest.mark.integration


def _trip(db: psycopg.Connection, vehicle_id: int, booked: datetime) -> int:
    pid = db.execute(
        "INSERT INTO passengers (last_name, first_name, birth_date, name_norm)"
        " VALUES ('Петрова', 'Анна', '1939-05-01', 'петрова анна') RETURNING id"
    ).fetchone()[0]
    oid = db.execute(
        "INSERT INTO social_objects (name, object_type, address, lat, lon, radius_m)"
        " VALUES ('Поликлиника', 'medical', 'Мурино', %s, %s, 150) RETURNING id",
        (CLINIC.lat, CLINIC.lon),
    ).fetchone()[0]
    carrier = db.execute("SELECT carrier_id FROM vehicles WHERE id = %s", (vehicle_id,)).fetchone()
    plan = {"type": "LineString", "coordinates": [[LON0, LAT0], [LON0, LAT0 + PLAN_M * M_LAT]]}
    return db.execute(
        "INSERT INTO trips (passenger_id, category, status, vehicle_type, pickup_at,"
        " pickup_address, pickup_lat, pickup_lon, dest_object_id, dest_lat, dest_lon,"
        " planned_route, planned_dist_m, planned_duration_s, fare_kop, copay_share_pct,"
        " copay_kop, vehicle_id, carrier_id)"
        " VALUES (%s, 'disabled_1', 'assigned', 'car', %s, 'дом', %s, %s, %s, %s, %s, %s, %s,"
        " 300, 31600, 25, 7900, %s, %s) RETURNING id",
        (
            pid,
            booked,
            LAT0,
            LON0,
            oid,
            CLINIC.lat,
            CLINIC.lon,
            Jsonb(plan),
            PLAN_M,
            vehicle_id,
            carrier[0],
        ),
    ).fetchone()[0]


def test_worker_audits_a_trip_completed_by_vehicle_events(
    db, db_url, fleet, mqtt_prefix, ingest_factory, publisher_factory, rules
):
    booked = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    trip = _trip(db, fleet["v1"], booked)
    track, moments, _ = drive(detour_m=1500, booked=booked, seed=4)
    ing = ingest_factory()
    pub = publisher_factory()
    pos_topic = f"{mqtt_prefix}/vehicles/v1/position"
    fixes = [
        {"ts": int(t * 1000), "lat": float(la), "lon": float(lo)}
        for t, la, lo in zip(track.t_s, track.lat, track.lon, strict=True)
    ]
    for i in range(0, len(fixes), 25):  # the device sends its fixes in small arrays
        pub.publish(pos_topic, fixes[i : i + 25])

    def ev(kind: str, at: float, **kw: object) -> dict:
        return {"type": kind, "trip_id": trip, "ts": int(at * 1000), "id": f"{kind}-1", **kw}

    from dispatch.tariff import quote

    due = quote(rules, category="disabled_1", vehicle_type="car", distance_m=PLAN_M).copay_kop
    for e in (
        ev("en_route", moments["start"]),
        ev("arrived_at_pickup", moments["arrived"]),
        ev("passenger_on_board", moments["board"]),
        ev("payment_collected", moments["end"], amount_kop=due, method="cash"),
        ev("trip_completed", moments["end"] + 1),
        # the driver reports a second payment: dispatch refuses to record it, the audit sees it
        ev("payment_collected", moments["end"] + 60, amount_kop=due, method="cash") | {"id": "p2"},
    ):
        pub.publish(f"{mqtt_prefix}/vehicles/v1/event", e)
    pub.wait_all()
    wait_for(
        lambda: (
            db.execute("SELECT status FROM trips WHERE id = %s", (trip,)).fetchone()[0]
            == "completed"
        ),
        what="the trip completed by the vehicle's events",
    )
    wait_for(
        lambda: db.execute("SELECT count(*) FROM vehicle_positions").fetchone()[0] == len(fixes),
        what="every fix stored",
    )
    assert db.execute(
        "SELECT reason FROM audit_jobs WHERE trip_id = %s AND done_at IS NULL", (trip,)
    ).fetchone() == ("status:completed",)
    assert ing.counters["messages_acked"] >= len(fixes) // 25

    tally = service.work(
        db_url, rules=rules, graph=None, matcher=None, settle=timedelta(0), once=True
    )
    assert tally.trips == 1 and tally.failed == 0
    rows = db.execute(
        "SELECT rule, status, evidence FROM audit_findings WHERE trip_id = %s ORDER BY rule",
        (trip,),
    ).fetchall()
    assert [r[0] for r in rows] == ["improper_copayment", "route_deviation"]
    assert rows[0][2]["reasons"] == ["repeated", "amount_mismatch"]
    assert rows[1][1] == "new" and rows[1][2]["off_route"]
    assert db.execute("SELECT count(*) FROM payments WHERE trip_id = %s", (trip,)).fetchone() == (
        1,
    )
    assert db.execute(
        "SELECT count(*) FROM audit_jobs WHERE trip_id = %s AND done_at IS NULL", (trip,)
    ).fetchone() == (0,)
