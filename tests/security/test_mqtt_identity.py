"""Hole 8: under the production ACL (``pattern write owntracks/%u/#``) plus ingest taking the
vehicle from the topic's last level, vehicle A could publish ``owntracks/A/B`` and be stored as
vehicle B; and a ``payment_collected`` of 99,999,999,999 kop was stored.

Here a broker is built from ``deploy/mosquitto/`` (its mosquitto.conf, its acl, passwords
required) on a free port; vehicle ``v1`` logs in as itself and tries to speak for ``v2`` on every
topic form. Only what the ACL binds to its login counts, and nothing is ever stored as ``v2``."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.integration.telemetry.conftest import (
    MOSQUITTO,
    REPO,
    InProcessIngest,
    OwnBroker,
    wait_for,
)

pytestmark = pytest.mark.integration

PASSWORDS = {"ingest": "ingest-pass-1", "v1": "vehicle-one-pass", "v2": "vehicle-two-pass"}
PREFIX = "socialtaxi/v1"  # the ACL's prefix: this broker is ours alone


class ProductionBroker(OwnBroker):
    """deploy/mosquitto/mosquitto.conf with its listener, paths and log moved into a temp dir."""

    def __init__(self) -> None:
        super().__init__()
        conf = (REPO / "deploy/mosquitto/mosquitto.conf").read_text()
        assert re.search(r"^allow_anonymous false$", conf, re.M)
        conf = re.sub(r"^listener 1883.*$", f"listener {self.port} 127.0.0.1", conf, flags=re.M)
        conf = re.sub(r"^listener 8883[\s\S]*?(?=^\S|\Z)", "", conf, flags=re.M)  # no TLS here
        conf = re.sub(r"^(cafile|certfile|keyfile|require_certificate|tls_version) .*$", "",
                      conf, flags=re.M)  # fmt: skip
        conf = conf.replace("/mosquitto/data/", f"{self.dir}/")
        conf = conf.replace("/mosquitto/config/passwd", f"{self.dir}/passwd")
        conf = conf.replace("/mosquitto/config/acl", f"{self.dir}/acl")
        conf = conf.replace("log_dest stdout", f"log_dest file {self.dir}/mosquitto.log")
        self.conf.write_text(conf)
        shutil.copy(REPO / "deploy/mosquitto/acl", self.dir / "acl")
        passwd = self.dir / "passwd"
        passwd.touch()
        for user, pw in PASSWORDS.items():
            subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, pw], check=True)
        passwd.chmod(0o644)
        (self.dir / "acl").chmod(0o644)


@pytest.fixture
def broker():
    assert MOSQUITTO
    b = ProductionBroker()
    b.start()
    yield b
    b.stop()
    shutil.rmtree(b.dir, ignore_errors=True)


def _client(port: int, user: str, password: str) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-{time.monotonic_ns()}",
                    protocol=mqtt.MQTTv311)  # fmt: skip
    c.username_pw_set(user, password)
    connected: list[int] = []
    c.on_connect = lambda _c, _u, _f, rc, _p: connected.append(int(rc.value))
    c.connect("127.0.0.1", port)
    c.loop_start()
    wait_for(lambda: connected, 10, f"{user} to connect")
    assert connected == [0], (user, connected)
    return c


def _connack(port: int, user: str | None, password: str | None) -> int:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    if user:
        c.username_pw_set(user, password)
    codes: list[int] = []
    c.on_connect = lambda _c, _u, _f, rc, _p: codes.append(int(rc.value))
    c.connect("127.0.0.1", port)
    c.loop_start()
    wait_for(lambda: codes, 10, "a CONNACK")
    c.loop_stop()
    return codes[0]


def test_anonymous_and_wrong_password_are_refused(broker):
    assert _connack(broker.port, None, None) != 0
    assert _connack(broker.port, "v1", "wrong") != 0
    assert _connack(broker.port, "v1", PASSWORDS["v1"]) == 0


def test_vehicle_a_cannot_be_stored_as_b_on_any_topic_form(broker, db_url, fleet):
    ingest = InProcessIngest(
        db_url, port=broker.port, prefix=PREFIX, owntracks_prefix="owntracks", share_group="",
        username="ingest", password=PASSWORDS["ingest"],
    ).start()  # fmt: skip
    try:
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)

        def fix(i: int) -> str:
            ts = (t0 + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
            return f'{{"ts":"{ts}","lat":60.05,"lon":30.44}}'

        def ot(i: int) -> str:
            return f'{{"_type":"location","tst":{int(t0.timestamp()) + i},"lat":60.05,"lon":30.44}}'

        attempts = [
            (f"{PREFIX}/vehicles/v2/position", fix(1)),  # someone else's native topic
            ("owntracks/v1/v2", ot(2)),  # the reported hole: device level = B
            ("owntracks/v2/v1", ot(3)),  # user level = B
            ("owntracks/v2/v2", ot(4)),
            ("owntracks/v1/v2/extra", ot(5)),  # a deeper topic
            (f"{PREFIX}/vehicles/v1/position/../../v2/position", fix(6)),
            (f"{PREFIX}/vehicles/v2/event", '{"type":"shift_start","ts":"' + t0.isoformat() + '"}'),
        ]
        own = [
            (f"{PREFIX}/vehicles/v1/position", fix(10)),
            ("owntracks/v1/phone", ot(11)),
        ]
        # a fresh connection for each: Mosquitto 2 drops a client whose publish the ACL denies
        for topic, payload in attempts + own:
            a = _client(broker.port, "v1", PASSWORDS["v1"])
            try:
                a.publish(topic, payload, qos=1).wait_for_publish(10)
            except RuntimeError:  # disconnected by the broker for it: refused, as it should be
                assert (topic, payload) in attempts
            a.disconnect()
            a.loop_stop()

        def stored() -> dict[int, int]:
            with psycopg.connect(db_url) as conn:
                rows = conn.execute(
                    "SELECT vehicle_id, count(*) FROM vehicle_positions GROUP BY vehicle_id"
                ).fetchall()
            return dict(rows)

        # v1's own two fixes arrive (plus the owntracks/v1/v2 one, stored as v1 — never as v2)
        wait_for(lambda: stored().get(fleet["v1"], 0) >= 3, 20, "v1's own fixes")
        a = _client(broker.port, "v1", PASSWORDS["v1"])
        a.publish(f"{PREFIX}/vehicles/v1/position", fix(20), qos=1).wait_for_publish(10)
        wait_for(lambda: stored().get(fleet["v1"], 0) >= 4, 20, "a last fix (all earlier done)")
        counts = stored()
        assert counts.get(fleet["v2"], 0) == 0, counts
        assert counts[fleet["v1"]] == 4, counts
        with psycopg.connect(db_url) as conn:
            events = conn.execute(
                "SELECT count(*) FROM trip_events WHERE payload::text LIKE '%shift%'"
            ).fetchone()[0]
        assert events == 0
        a.loop_stop()
    finally:
        ingest.stop()


def test_payment_amount_outside_the_plausible_range_is_dead_lettered():
    from telemetry.model import Reason
    from telemetry.pipeline import Inbound, Limits, process

    now = datetime.now(UTC)
    lim = Limits(prefix=PREFIX, max_payment_kop=5_000_000)
    payload = (
        b'{"type":"payment_collected","trip_id":1,"ts":"' + now.isoformat().encode()
        + b'","amount_kop":99999999999,"method":"cash"}'
    )  # fmt: skip
    msg = Inbound(f"{PREFIX}/vehicles/v1/event", payload, now)
    out = process([msg], limits=lim, vehicles={"v1": 1})
    assert not out.events and [d.reason for d in out.dead_letters] == [Reason.OUT_OF_RANGE]
    ok = payload.replace(b"99999999999", b"12550")
    out = process([Inbound(msg.topic, ok, now)], limits=lim, vehicles={"v1": 1})
    assert len(out.events) == 1 and not out.dead_letters
