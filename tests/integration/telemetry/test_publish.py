"""telemetry/publish.py: the paho publisher buffers while the broker is down and counts what it
published; the raw fast path counts exactly what the broker acknowledged."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from telemetry import encode
from telemetry.model import Fix, to_epoch_us
from telemetry.publish import BrokerGone, FastPublisher, Publisher

from .conftest import OwnBroker, wait_for


def _fixes(n: int) -> list[Fix]:
    t0 = to_epoch_us(datetime.now(UTC) - timedelta(minutes=5))
    return [Fix(t0 + i * 1_000_000, 60.05 + i * 1e-5, 30.45) for i in range(n)]


def test_publisher_started_while_broker_down_buffers_then_delivers(
    db, fleet, mqtt_prefix, ingest_factory
):
    broker = OwnBroker()  # not started yet: the publisher comes first
    pub = Publisher("127.0.0.1", broker.port, reconnect_min_s=0.1, reconnect_max_s=0.5)
    try:
        topic = encode.position_topic(mqtt_prefix, "v1")
        for f in _fixes(50):
            pub.publish(topic, encode.encode_fix(f))
        time.sleep(0.3)
        assert not pub.connected and pub.published == 50 and pub.pending == 50
        broker.start()
        ingest_factory(port=broker.port, share_group="")
        # the buffered QoS 1 messages went out before ingest subscribed: publish the rest now
        for f in _fixes(60)[50:]:
            pub.publish(topic, encode.encode_fix(f))
        assert pub.wait_all(30), pub.pending
        assert pub.acknowledged == 60
        n = wait_for(
            lambda: db.execute("SELECT count(*) FROM vehicle_positions").fetchone()[0] >= 10,
            30,
            "fixes stored",
        )
        assert n
    finally:
        pub.close(flush_s=0)
        broker.stop()


def test_fast_publisher_counts_acknowledgements(own_broker, mqtt_prefix):
    fp = FastPublisher("127.0.0.1", own_broker.port, window=100)
    topic = encode.position_topic(mqtt_prefix, "v1").encode()
    fp.send(fp.packet(topic, encode.encode_fix(f)) for f in _fixes(1000))
    assert fp.drain(30)
    assert (fp.sent, fp.acknowledged) == (1000, 1000)
    fp.close()


def test_fast_publisher_broker_down_is_one_clear_error():
    from .conftest import free_port

    try:
        FastPublisher("127.0.0.1", free_port(), timeout_s=1)
    except BrokerGone as exc:
        assert "недоступен" in str(exc)
    else:
        raise AssertionError("no error for a closed port")
