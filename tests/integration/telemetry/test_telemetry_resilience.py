"""Nothing is lost when the broker restarts, the ingest process is killed, or the database goes
away; SIGTERM flushes. Restarts use a Mosquitto of the test's own (never the shared one)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.conftest import pg_url
from tests.integration.telemetry.conftest import wait_for

pytestmark = pytest.mark.integration

N_VEHICLES = 5


def stream(mqtt_prefix: str, n_per_vehicle: int, *, batch: int = 1):
    """(topic, payload) of ``n_per_vehicle`` 1 Hz fixes for vehicles v1..v5, in time order."""
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=n_per_vehicle + 60)
    out = []
    for s0 in range(0, n_per_vehicle, batch):
        for v in range(1, N_VEHICLES + 1):
            fixes = [
                {
                    "ts": int((t0 + timedelta(seconds=s)).timestamp() * 1000),
                    "lat": 59.9 + v * 0.01 + s * 1e-5,
                    "lon": 30.3,
                }
                for s in range(s0, min(s0 + batch, n_per_vehicle))
            ]
            out.append((f"{mqtt_prefix}/vehicles/v{v}/position", fixes[0] if batch == 1 else fixes))
    return out


def stored_exactly(db, n_per_vehicle: int) -> bool:
    rows = db.execute(
        "SELECT count(*), count(DISTINCT (vehicle_id, ts)) FROM vehicle_positions"
    ).fetchone()
    assert rows[0] == rows[1]  # the primary key guarantees it; checked anyway
    return rows[0] == n_per_vehicle * N_VEHICLES


def assert_every_fix_once(db, fleet, n_per_vehicle: int) -> None:
    per_vehicle = dict(
        db.execute("SELECT vehicle_id, count(*) FROM vehicle_positions GROUP BY 1").fetchall()
    )
    assert per_vehicle == {fleet[f"v{v}"]: n_per_vehicle for v in range(1, N_VEHICLES + 1)}


def publish_paced(pub, messages, *, every: int, pause_s: float, during=None) -> None:
    """Publish, pausing every ``every`` messages; call ``during()`` once, half way."""
    half = len(messages) // 2
    for i, (topic, payload) in enumerate(messages):
        if during is not None and i == half:
            during()
        pub.publish(topic, payload)
        if i % every == every - 1:
            time.sleep(pause_s)


def test_broker_restart_mid_stream_loses_nothing(
    db, fleet, mqtt_prefix, own_broker, ingest_factory, publisher_factory
):
    """With a plain subscription: Mosquitto 2.0 restores a persistent session's plain
    subscriptions at start-up, but routes to a restored *shared* subscription only once its
    member has reconnected (see docs/telemetry.md, "Broker restarts")."""
    n = 300  # fixes per vehicle: 1,500 messages
    ing = ingest_factory(port=own_broker.port, share_group="")
    pub = publisher_factory(port=own_broker.port)
    publish_paced(
        pub,
        stream(mqtt_prefix, n),
        every=100,
        pause_s=0.02,
        during=lambda: own_broker.restart(down_s=1.0),
    )
    pub.wait_all(60)
    wait_for(lambda: stored_exactly(db, n), 60, "every fix stored")
    assert_every_fix_once(db, fleet, n)
    assert ing.counters["mqtt_connects"] >= 2  # it did reconnect


def test_ingest_killed_mid_stream_loses_nothing(
    db, db_url, fleet, mqtt_prefix, own_broker, ingest_process_factory, publisher_factory
):
    n = 400  # fixes per vehicle, 2 per message: 1,000 messages
    cid = f"ingest-{uuid.uuid4().hex[:6]}"
    first = ingest_process_factory(port=own_broker.port, prefix=mqtt_prefix, client_id=cid)
    pub = publisher_factory(port=own_broker.port)
    messages = stream(mqtt_prefix, n, batch=2)
    publish_paced(pub, messages, every=50, pause_s=0.02, during=first.kill)
    pub.wait_all(60)
    assert first.proc.returncode == -9
    stored_while_down = db.execute("SELECT count(*) FROM vehicle_positions").fetchone()[0]
    assert stored_while_down < n * N_VEHICLES  # the rest waits in the broker, for this session
    ingest_process_factory(port=own_broker.port, prefix=mqtt_prefix, client_id=cid)
    wait_for(lambda: stored_exactly(db, n), 60, "every fix stored")
    assert_every_fix_once(db, fleet, n)


def test_sigterm_flushes_what_is_pending(
    db, fleet, mqtt_prefix, own_broker, ingest_process_factory, publisher_factory
):
    n = 40
    proc = ingest_process_factory(
        port=own_broker.port,
        prefix=mqtt_prefix,
        client_id=f"ingest-{uuid.uuid4().hex[:6]}",
        flush_ms=600_000,
    )
    pub = publisher_factory(port=own_broker.port)
    for topic, payload in stream(mqtt_prefix, n):
        pub.publish(topic, payload)
    pub.wait_all()
    wait_for(
        lambda: proc.metrics()["messages_received"] == n * N_VEHICLES,
        20,
        "every message received (and held: the flush interval is 10 minutes)",
    )
    text = proc.metrics("/metrics")
    assert "# TYPE socialtaxi_ingest_fixes_stored_total counter" in text
    assert f"socialtaxi_ingest_pending {n * N_VEHICLES}" in text
    assert db.execute("SELECT count(*) FROM vehicle_positions").fetchone()[0] == 0
    assert proc.terminate() == 0
    assert stored_exactly(db, n)
    assert "ingest stopped" in proc.output()


def _block_database(name: str, allow: bool) -> None:
    with psycopg.connect(pg_url("postgres"), autocommit=True) as c:
        c.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if allow else "false"}')
        if not allow:
            c.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )


def test_database_down_stops_acknowledging_and_resumes(
    db_url, fleet, mqtt_prefix, own_broker, ingest_factory, publisher_factory
):
    name = db_url.rsplit("/", 1)[1]
    n = 20
    ing = ingest_factory(port=own_broker.port)
    pub = publisher_factory(port=own_broker.port)
    messages = stream(mqtt_prefix, n)
    for topic, payload in messages[:50]:
        pub.publish(topic, payload)
    wait_for(lambda: ing.counters["messages_acked"] == 50, 20, "the first 50 acknowledged")
    _block_database(name, allow=False)
    try:
        for topic, payload in messages[50:]:
            pub.publish(topic, payload)
        pub.wait_all()
        wait_for(lambda: ing.counters["db_errors"] >= 2, 20, "the writer to hit the outage")
        c = ing.counters
        assert c["messages_acked"] == 50  # nothing acknowledged while the database is down
        assert c["messages_received"] == len(messages)
    finally:
        _block_database(name, allow=True)
    with psycopg.connect(db_url, autocommit=True) as db:
        wait_for(lambda: stored_exactly(db, n), 30, "every fix stored after the outage")
        assert_every_fix_once(db, fleet, n)
    wait_for(lambda: ing.counters["messages_acked"] == len(messages), 10, "all acknowledged")


def test_two_ingest_processes_share_the_load(
    db, fleet, mqtt_prefix, own_broker, ingest_factory, publisher_factory
):
    n = 100
    group = f"g{uuid.uuid4().hex[:6]}"
    ings = [ingest_factory(port=own_broker.port, share_group=group) for _ in range(2)]
    pub = publisher_factory(port=own_broker.port)
    for topic, payload in stream(mqtt_prefix, n):
        pub.publish(topic, payload)
    pub.wait_all()
    wait_for(lambda: stored_exactly(db, n), 30, "every fix stored")
    got = [ing.counters["fixes_stored"] for ing in ings]
    assert sum(got) == n * N_VEHICLES and min(got) > 0, got
