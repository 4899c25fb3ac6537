"""Simulated vehicles publish under their own MQTT logins, as the production ACL expects
(``deploy/mosquitto/acl``: a login writes only below ``vehicles/%u/``), and still work against
the local anonymous broker."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from simulators.publish import CredentialsError, VehiclePublishers, read_credentials
from telemetry.encode import position_topic
from telemetry.publish import Publisher
from tests.conftest import MQTT_HOST, MQTT_PORT

from .conftest import MOSQUITTO, REPO, free_port, wait_for

PREFIX = "socialtaxi/v1"  # the production ACL names it


class Subscriber:
    """Collects (topic, payload) of ``pattern``; logs in as ``user`` when given."""

    def __init__(self, port: int, pattern: str, user: tuple[str, str] | None = None) -> None:
        self.got: list[tuple[str, bytes]] = []
        self.ready = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}")
        if user:
            c.username_pw_set(*user)
        c.on_connect = lambda cl, *_: cl.subscribe(pattern, qos=1)
        c.on_subscribe = lambda *_: self.ready.set()
        c.on_message = lambda _c, _u, m: self.got.append((m.topic, m.payload))
        c.connect("127.0.0.1" if user else MQTT_HOST, port)
        c.loop_start()
        self.client = c
        assert self.ready.wait(10), "subscriber not subscribed"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def acl_broker() -> Iterator[tuple[int, dict[str, str]]]:
    """A Mosquitto of our own with passwords and the production ACL file itself."""
    d = Path(tempfile.mkdtemp(prefix="st-acl-"))
    d.chmod(0o777)  # started as root, mosquitto reads its files as the "mosquitto" user
    creds = {"v1": "pw-one", "v2": "pw-two", "ingest": "pw-ingest"}
    passwd = d / "passwd"
    passwd.touch()
    for user, pw in creds.items():
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, pw], check=True)
    passwd.chmod(0o644)
    acl = d / "acl"
    shutil.copy(REPO / "deploy" / "mosquitto" / "acl", acl)
    acl.chmod(0o644)
    port = free_port()
    conf = d / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {passwd}\n"
        f"acl_file {acl}\npersistence false\nlog_dest none\n"
    )
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        import socket

        def up() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return True
            except OSError:
                return False

        wait_for(up, 10, "mosquitto to listen")
        yield port, creds
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(d, ignore_errors=True)


def test_each_vehicle_logs_in_as_itself_under_the_production_acl(acl_broker, tmp_path):
    port, creds = acl_broker
    file = tmp_path / "vehicles.txt"
    file.write_text("# mqtt_id password\nv1 pw-one\n\nv2 pw-two\n")
    assert read_credentials(file) == {"v1": "pw-one", "v2": "pw-two"}
    sub = Subscriber(port, f"{PREFIX}/vehicles/+/position", ("ingest", creds["ingest"]))
    pubs = VehiclePublishers("127.0.0.1", port, prefix=PREFIX, credentials=read_credentials(file))
    pubs.open(["v1", "v2"])
    try:
        assert pubs.wait_connected(10)
        assert pubs.clients == {"v1": "sim-v1", "v2": "sim-v2"}
        for m in ("v1", "v2"):
            pubs.publish(position_topic(PREFIX, m), f'{{"from": "{m}"}}')
        assert pubs.wait_all(10) and pubs.acknowledged == 2
        wait_for(lambda: len(sub.got) == 2, 10, "both vehicles' fixes")
        assert sorted(t for t, _ in sub.got) == [
            position_topic(PREFIX, "v1"),
            position_topic(PREFIX, "v2"),
        ]
        with pytest.raises(ValueError, match="not a vehicle topic"):
            pubs.publish("elsewhere/x", b"{}")
    finally:
        pubs.close(flush_s=0)
    # what a shared login would do — v1's connection publishing for v2 — the broker drops
    shared = Publisher("127.0.0.1", port, username="v1", password="pw-one")
    try:
        assert shared.wait_connected(10)
        shared.publish(position_topic(PREFIX, "v2"), b'{"from": "v1 as v2"}')
        shared.publish(position_topic(PREFIX, "v1"), b'{"from": "v1 again"}')
        wait_for(lambda: len(sub.got) == 3, 10, "v1's own fix")
        assert [p for _, p in sub.got[2:]] == [b'{"from": "v1 again"}']
    finally:
        shared.close(flush_s=0)
        sub.close()


def test_without_credentials_the_anonymous_local_broker_takes_them(tmp_path):
    prefix = f"test-{uuid.uuid4().hex[:8]}/socialtaxi/v1"
    sub = Subscriber(MQTT_PORT, f"{prefix}/vehicles/+/position")
    pubs = VehiclePublishers(MQTT_HOST, MQTT_PORT, prefix=prefix)
    try:
        pubs.publish(position_topic(prefix, "demo-001"), b"{}")
        assert pubs.wait_all(10) and pubs.clients == {"demo-001": "sim-demo-001"}
        wait_for(lambda: len(sub.got) == 1, 10, "the fix")
    finally:
        pubs.close(flush_s=0)
        sub.close()
    bad = tmp_path / "bad.txt"
    bad.write_text("v1\n")
    with pytest.raises(CredentialsError, match="строка 1"):
        read_credentials(bad)
