"""Ingest on paho's public API only (``--public-paho``) and with each tuning left out: the same
fixes stored, the same dead letters, every message acknowledged (real Mosquitto, PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from telemetry.mqtt import ALL_TUNINGS
from tests.integration.telemetry.conftest import wait_for

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "tunings",
    [frozenset(), ALL_TUNINGS - {"read_buffer"}, ALL_TUNINGS - {"batch_acks"}],
    ids=["public-api", "no-read-buffer", "no-batch-acks"],
)
def test_ingest_without_private_paho_parts_stores_and_acknowledges(
    db, fleet, mqtt_prefix, ingest_factory, publisher_factory, tunings
):
    ing = ingest_factory(paho_tunings=tunings)
    assert ing.receiver.client.__class__.__name__ == ("Client" if not tunings else "_Client")
    pub = publisher_factory()
    now = datetime.now(UTC).replace(microsecond=0)
    topic = f"{mqtt_prefix}/vehicles/v1/position"
    times = [now - timedelta(seconds=s) for s in range(40, 0, -1)]
    for t in times:
        pub.publish(topic, {"ts": int(t.timestamp() * 1000), "lat": 59.93, "lon": 30.31})
    pub.publish(topic, {"ts": int(now.timestamp() * 1000), "lat": 91.0, "lon": 30.31})
    pub.wait_all()
    wait_for(lambda: ing.counters["messages_acked"] >= 41, what="every message acknowledged")
    rows = db.execute(
        "SELECT ts FROM vehicle_positions WHERE vehicle_id = %s ORDER BY ts", (fleet["v1"],)
    ).fetchall()
    assert [r[0] for r in rows] == times
    (reason,) = db.execute("SELECT reason FROM telemetry_dead_letters").fetchone()
    assert reason == "out_of_range"
