"""Ingest against the real Mosquitto (shared broker, a topic prefix of each test's own) and the
real PostgreSQL (a database of each test's own)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.telemetry.conftest import wait_for

pytestmark = pytest.mark.integration


def ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def fix(ts: datetime, lat: float = 59.93, lon: float = 30.31, **kw) -> dict:
    return {"ts": ms(ts), "lat": lat, "lon": lon, **kw}


def positions(db, vehicle_id: int) -> list[tuple]:
    return db.execute(
        "SELECT ts, lat, lon, implausible, source FROM vehicle_positions"
        " WHERE vehicle_id = %s ORDER BY ts",
        (vehicle_id,),
    ).fetchall()


def test_fixes_stored_once_despite_duplicates_disorder_and_lateness(
    db, fleet, mqtt_prefix, ingest_factory, publisher_factory
):
    ing = ingest_factory()
    pub = publisher_factory()
    topic = f"{mqtt_prefix}/vehicles/v1/position"
    now = datetime.now(UTC).replace(microsecond=0)
    times = [now - timedelta(seconds=s) for s in range(20, 0, -1)]
    order = times[10:] + times[:10]  # out of order
    for t in order:
        pub.publish(
            topic,
            fix(
                t,
                speed_kmh=40.0,
                heading_deg=90.0,
                accuracy_m=4.0,
                hdop=0.9,
                odometer_m=1234.5,
                satellites=9,
            ),
        )
    for t in times[:5]:  # duplicates: the same fixes again
        pub.publish(topic, fix(t, speed_kmh=40.0))
    # a device that was offline three days: one buffered batch, ISO-8601 times
    late = [now - timedelta(days=3, seconds=-i) for i in range(30)]
    pub.publish(
        topic,
        [{"ts": t.isoformat().replace("+00:00", "Z"), "lat": 59.93, "lon": 30.31} for t in late],
    )
    pub.wait_all()
    wait_for(lambda: ing.counters["messages_acked"] >= 26, what="all messages acknowledged")
    rows = positions(db, fleet["v1"])
    assert [r[0] for r in rows] == sorted(late + times)
    assert len(rows) == 50 == len({r[0] for r in rows})
    full = db.execute(
        "SELECT speed_kmh, heading_deg, accuracy_m, hdop, odometer_m, satellites"
        " FROM vehicle_positions WHERE vehicle_id = %s AND ts = %s",
        (fleet["v1"], times[15]),
    ).fetchone()
    assert full == (40.0, 90.0, 4.0, pytest.approx(0.9), 1234.5, 9)
    c = ing.counters
    assert c["fixes_stored"] == 50 and c["fixes_duplicate"] == 5
    assert c["dead_lettered"] == 0
    # the live map shows the newest fix, not the late batch that came last
    last = db.execute(
        "SELECT ts FROM vehicle_last_position WHERE vehicle_id = %s", (fleet["v1"],)
    ).fetchone()[0]
    assert last == times[-1]
    # a daily partition was made for the late fixes
    part = f"vehicle_positions_p{late[0]:%Y%m%d}"
    assert db.execute("SELECT to_regclass(%s)", (part,)).fetchone()[0] is not None


def test_bad_payloads_are_dead_lettered_with_reason_and_acknowledged(
    db, fleet, mqtt_prefix, ingest_factory, publisher_factory
):
    ing = ingest_factory(max_payload_bytes=2048)
    pub = publisher_factory()
    base = f"{mqtt_prefix}/vehicles"
    now = datetime.now(UTC)
    cases = {
        "malformed_json": (f"{base}/v1/position", b'{"ts": 1, "lat": 59.9,'),
        "invalid_fields": (f"{base}/v1/position", json.dumps({"lat": 59.9, "lon": 30.3})),
        "unknown_vehicle": (f"{base}/nobody/position", json.dumps(fix(now))),
        "out_of_range": (f"{base}/v2/position", json.dumps(fix(now, lat=91.0))),
        "future_timestamp": (f"{base}/v2/position", json.dumps(fix(now + timedelta(hours=2)))),
        "oversized": (f"{base}/v3/position", json.dumps([fix(now)] * 100)),
        "no_fix": (f"{base}/v3/position", json.dumps(fix(now, lat=0.0, lon=0.0))),
    }
    for topic, payload in cases.values():
        pub.publish(topic, payload)
    # one array with a good and a bad fix: the good one is stored, the bad one dead-lettered
    pub.publish(f"{base}/v4/position", [fix(now), fix(now - timedelta(seconds=1), lon=181.0)])
    pub.wait_all()
    wait_for(
        lambda: ing.counters["messages_acked"] == len(cases) + 1, what="every message acknowledged"
    )
    rows = db.execute(
        "SELECT reason, topic, payload, detail FROM telemetry_dead_letters ORDER BY id"
    ).fetchall()
    by_reason = {r[0]: r for r in rows}
    assert set(by_reason) == set(cases)  # partial array → out_of_range, already in the set
    assert len(rows) == len(cases) + 1
    for reason, (topic, payload) in cases.items():
        if reason == "out_of_range":
            continue
        got = by_reason[reason]
        assert got[1] == topic
        assert bytes(got[2]) == (payload if isinstance(payload, bytes) else payload.encode())
    partial = [r for r in rows if r[1].endswith("/v4/position")]
    assert len(partial) == 1 and partial[0][3].startswith("item 1:")
    stored = db.execute("SELECT vehicle_id, count(*) FROM vehicle_positions GROUP BY 1").fetchall()
    assert stored == [(fleet["v4"], 1)]


def test_implausible_jump_is_stored_and_marked(
    db, fleet, mqtt_prefix, ingest_factory, publisher_factory
):
    ing = ingest_factory()
    pub = publisher_factory()
    topic = f"{mqtt_prefix}/vehicles/v2/position"
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    track = [
        fix(t0, 59.9300, 30.3100),
        fix(t0 + timedelta(seconds=10), 59.9310, 30.3100),  # ~111 m in 10 s: 40 km/h
        fix(t0 + timedelta(seconds=20), 60.5000, 30.3100),  # ~63 km in 10 s: a glitch
        fix(t0 + timedelta(seconds=30), 59.9330, 30.3100),  # back on track
    ]
    for f in track:
        pub.publish(topic, f)
    pub.wait_all()
    wait_for(lambda: ing.counters["fixes_stored"] == 4, what="4 fixes stored")
    assert [r[3] for r in positions(db, fleet["v2"])] == [False, False, True, False]
    last = db.execute(
        "SELECT lat FROM vehicle_last_position WHERE vehicle_id = %s", (fleet["v2"],)
    ).fetchone()[0]
    assert last == pytest.approx(59.933)


def test_owntracks_location_on_its_own_topic_and_on_the_position_topic(
    db, fleet, mqtt_prefix, ingest_factory, publisher_factory
):
    ing = ingest_factory()
    pub = publisher_factory()
    tst = int(datetime.now(UTC).timestamp()) - 30
    frame = {
        "_type": "location",
        "acc": 12,
        "alt": 21,
        "batt": 87,
        "conn": "m",
        "lat": 59.95,
        "lon": 30.32,
        "t": "u",
        "tid": "v5",
        "tst": tst,
        "vac": 3,
        "vel": 36,
        "cog": 270,
    }
    pub.publish(f"{mqtt_prefix}/owntracks/v5/phone7", frame)
    pub.publish(f"{mqtt_prefix}/vehicles/v5/position", {**frame, "tst": tst + 5})
    pub.publish(f"{mqtt_prefix}/owntracks/v5/phone7", {"_type": "lwt", "tst": tst})
    pub.wait_all()
    wait_for(lambda: ing.counters["messages_acked"] == 3, what="3 messages acknowledged")
    rows = db.execute(
        "SELECT extract(epoch FROM ts)::bigint, speed_kmh, heading_deg, accuracy_m, source"
        " FROM vehicle_positions WHERE vehicle_id = %s ORDER BY ts",
        (fleet["v5"],),
    ).fetchall()
    assert rows == [
        (tst, 36.0, 270.0, 12.0, "owntracks"),
        (tst + 5, 36.0, 270.0, 12.0, "owntracks"),
    ]
    reasons = [r[0] for r in db.execute("SELECT reason FROM telemetry_dead_letters").fetchall()]
    assert reasons == ["unsupported_type"]


@pytest.fixture
def trip(db, fleet) -> int:
    """A trip assigned to vehicle v1."""
    pid = db.execute(
        "INSERT INTO passengers (last_name, first_name, birth_date, name_norm)"
        " VALUES ('Иванова', 'Мария', '1940-03-08', 'иванова мария') RETURNING id"
    ).fetchone()[0]
    oid = db.execute(
        "INSERT INTO social_objects (name, object_type, address, lat, lon)"
        " VALUES ('Поликлиника', 'medical', 'ул. Ленина, 1', 60.05, 30.45) RETURNING id"
    ).fetchone()[0]
    return db.execute(
        "INSERT INTO trips (passenger_id, category, status, vehicle_type, pickup_at,"
        " pickup_address, pickup_lat, pickup_lon, dest_object_id, dest_lat, dest_lon,"
        " vehicle_id) VALUES (%s, 'age_80_plus', 'assigned', 'car', now(), 'дом', 60.04, 30.44,"
        " %s, 60.05, 30.45, %s) RETURNING id",
        (pid, oid, fleet["v1"]),
    ).fetchone()[0]


def test_vehicle_events_drive_the_trip_and_are_never_lost(
    db, fleet, trip, mqtt_prefix, ingest_factory, publisher_factory
):
    ing = ingest_factory()
    pub = publisher_factory()
    topic = f"{mqtt_prefix}/vehicles/v1/event"
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)

    def ev(kind: str, minutes: int, **kw) -> dict:
        return {"type": kind, "trip_id": trip, "ts": ms(t0 + timedelta(minutes=minutes)), **kw}

    sequence = [
        {"type": "shift_start", "ts": ms(t0)},
        ev("arrived_at_pickup", 5),  # trip is 'assigned': start is implied
        ev("passenger_on_board", 8),
        ev("payment_collected", 9, amount_kop=12550, method="cash", id="pay-1"),
        ev("arrived_at_destination", 25),
        ev("no_show", 26, reason="не вышла"),  # refused: the trip is completed
        ev("trip_completed", 25),  # a repeat of the completion, harmless
        {"type": "shift_end", "ts": ms(t0 + timedelta(minutes=29))},
        {"type": "passenger_on_board", "trip_id": 999999, "ts": ms(t0)},  # unknown trip
    ]
    for e in sequence:
        pub.publish(topic, e)
    for e in sequence[1:4]:  # redelivered / repeated by the device
        pub.publish(topic, e)
    pub.wait_all()
    wait_for(lambda: ing.counters["messages_acked"] == 12, what="12 messages acknowledged")
    status, started, picked, completed = db.execute(
        "SELECT status, started_at, picked_up_at, completed_at FROM trips WHERE id = %s", (trip,)
    ).fetchone()
    assert status == "completed"
    assert started == t0 + timedelta(minutes=5)
    assert picked == t0 + timedelta(minutes=8)
    assert completed == t0 + timedelta(minutes=25)
    events = db.execute(
        "SELECT event_type, from_status, to_status, payload FROM trip_events ORDER BY occurred_at,"
        " id"
    ).fetchall()
    assert len(events) == 9  # every event once, the repeats ignored
    kinds = [e[0] for e in events]
    assert kinds.count("arrived_at_pickup") == 1 and kinds.count("payment_collected") == 1
    arrive = next(e for e in events if e[0] == "arrived_at_pickup")
    assert (arrive[1], arrive[2]) == ("assigned", "at_pickup")
    assert arrive[3]["implicit"] == ["start"]
    refused = next(e for e in events if e[0] == "no_show")
    assert refused[2] is None and refused[3]["refused"]["code"] == "illegal_transition"
    unknown = next(e for e in events if e[3].get("trip_id") == 999999)
    assert unknown[3]["refused"]["code"] == "unknown_trip"
    payments = db.execute("SELECT trip_id, amount_kop, method FROM payments").fetchall()
    assert payments == [(trip, 12550, "cash")]
    c = ing.counters
    assert c["events_stored"] == 9 and c["events_duplicate"] == 3 and c["events_refused"] == 2


def test_no_show_at_pickup_sets_reason(
    db, fleet, trip, mqtt_prefix, ingest_factory, publisher_factory
):
    # The booked pickup was 20 min ago and the car's GPS was at the door (rules [no_show]:
    # 15 min wait, 150 m).
    now = datetime.now(UTC)
    db.execute(
        "UPDATE trips SET status = 'at_pickup', pickup_at = %s WHERE id = %s",
        (now - timedelta(minutes=20), trip),
    )
    db.execute(
        "INSERT INTO vehicle_positions (vehicle_id, ts, lat, lon) VALUES (%s, %s, 60.0401, 30.44)",
        (fleet["v1"], now - timedelta(minutes=12)),
    )
    ing = ingest_factory()
    pub = publisher_factory()
    pub.publish(
        f"{mqtt_prefix}/vehicles/v1/event",
        {
            "type": "no_show",
            "trip_id": trip,
            "ts": now.isoformat(),
            "reason": "Пассажир не открыл дверь",
        },
    )
    pub.wait_all()
    wait_for(lambda: ing.counters["events_stored"] == 1, what="the event stored")
    assert db.execute(
        "SELECT status, no_show_reason FROM trips WHERE id = %s", (trip,)
    ).fetchone() == ("no_show", "Пассажир не открыл дверь")


def test_a_vehicle_no_show_too_early_or_away_from_the_door_is_refused(
    db, fleet, trip, mqtt_prefix, ingest_factory, publisher_factory
):
    now = datetime.now(UTC)
    db.execute(
        "UPDATE trips SET status = 'at_pickup', pickup_at = %s WHERE id = %s",
        (now - timedelta(minutes=5), trip),
    )
    db.execute(  # 1 km from the pickup (60.04, 30.44)
        "INSERT INTO vehicle_positions (vehicle_id, ts, lat, lon) VALUES (%s, %s, 60.049, 30.44)",
        (fleet["v1"], now - timedelta(minutes=2)),
    )
    ing = ingest_factory()
    pub = publisher_factory()
    pub.publish(
        f"{mqtt_prefix}/vehicles/v1/event",
        {"type": "no_show", "trip_id": trip, "ts": now.isoformat(), "reason": "не вышел"},
    )
    pub.wait_all()
    wait_for(lambda: ing.counters["events_refused"] == 1, what="the event refused")
    assert db.execute("SELECT status FROM trips WHERE id = %s", (trip,)).fetchone() == (
        "at_pickup",
    )
    payload = db.execute("SELECT payload FROM trip_events WHERE event_type = 'no_show'").fetchone()[
        0
    ]
    assert payload["refused"]["code"] == "no_show_too_early"
    assert "GPS" in payload["refused"]["message"]
