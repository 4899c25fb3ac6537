"""Payments reported by vehicles are checked before anything is written (issue 8, item 3): real
Mosquitto (a topic prefix of the test's own), real PostgreSQL (a database of the test's own)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.telemetry.conftest import wait_for

pytestmark = pytest.mark.integration


def _trip(db, fleet, *, status: str, vehicle: str | None, copay_kop: int | None) -> int:
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
        " vehicle_id, copay_kop) VALUES (%s, 'age_80_plus', %s, 'car', now(), 'дом', 60.04,"
        " 30.44, %s, 60.05, 30.45, %s, %s) RETURNING id",
        (pid, status, oid, fleet[vehicle] if vehicle else None, copay_kop),
    ).fetchone()[0]


def test_payments_are_validated_before_they_are_written(
    db, fleet, mqtt_prefix, ingest_factory, publisher_factory
):
    on_board = _trip(db, fleet, status="on_board", vehicle="v1", copay_kop=5000)
    completed = _trip(db, fleet, status="completed", vehicle="v1", copay_kop=5000)
    cancelled = _trip(db, fleet, status="cancelled", vehicle="v1", copay_kop=5000)
    no_show = _trip(db, fleet, status="no_show", vehicle="v1", copay_kop=5000)
    booked = _trip(db, fleet, status="booked", vehicle=None, copay_kop=5000)
    assigned = _trip(db, fleet, status="assigned", vehicle="v1", copay_kop=5000)
    ing = ingest_factory()
    pub = publisher_factory()
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)

    def pay(trip: int, seconds: int, amount_kop: int = 5000, **kw) -> dict:
        ts = int((t0 + timedelta(seconds=seconds)).timestamp() * 1000)
        return {"type": "payment_collected", "trip_id": trip, "ts": ts, "amount_kop": amount_kop,
                "method": "cash", **kw}  # fmt: skip

    sent = [
        ("v2", pay(on_board, 1, id="other-vehicle")),  # another vehicle: refused
        ("v1", pay(on_board, 2, id="good")),  # the trip's vehicle, on board: recorded
        ("v1", pay(on_board, 3, id="repeat")),  # a second payment for the trip: refused
        ("v1", pay(cancelled, 4, id="cancelled")),
        ("v1", pay(no_show, 5, id="no-show")),
        ("v1", pay(booked, 6, id="booked")),  # booked: no vehicle yet, so not this one's
        ("v1", pay(assigned, 7, id="assigned")),  # this vehicle's, but the passenger not aboard
        ("v1", pay(completed, 8, amount_kop=4000, id="short")),  # recorded, marked
    ]
    for device, msg in sent:
        pub.publish(f"{mqtt_prefix}/vehicles/{device}/event", msg)
    pub.publish(f"{mqtt_prefix}/vehicles/v1/event", sent[1][1])  # redelivery of the good one
    pub.wait_all()
    wait_for(lambda: ing.counters["messages_acked"] == len(sent) + 1, what="all acknowledged")

    payments = db.execute(
        "SELECT trip_id, amount_kop, expected_kop, amount_mismatch FROM payments ORDER BY trip_id"
    ).fetchall()
    assert payments == sorted([(on_board, 5000, 5000, False), (completed, 4000, 5000, True)])
    events = {
        r[0]["event_id"]: r
        for r in db.execute(
            "SELECT payload, trip_id, from_status, to_status FROM trip_events"
            " WHERE event_type = 'payment_collected'"
        ).fetchall()
    }
    assert set(events) == {m["id"] for _, m in sent}  # every event kept, once
    refused = {k: r[0]["refused"]["code"] for k, r in events.items() if "refused" in r[0]}
    assert refused == {
        "other-vehicle": "wrong_vehicle",
        "repeat": "already_paid",
        "cancelled": "payment_not_due",
        "no-show": "payment_not_due",
        "booked": "wrong_vehicle",
        "assigned": "payment_not_due",
    }
    assert (
        events["short"][0]["amount_mismatch"] is True and events["short"][0]["expected_kop"] == 5000
    )
    assert all(r[3] is None for r in events.values())  # a payment never changes the trip state
    assert db.execute("SELECT status FROM trips WHERE id = %s", (on_board,)).fetchone() == (
        "on_board",
    )
    c = ing.counters
    assert c["events_refused"] == 6 and c["payments_stored"] == 2 and c["events_duplicate"] == 1
