"""Fixtures of the telemetry integration tests: a fleet in the test database, an ingest service
(in-process or as a real ``socialtaxi ingest`` process), a publisher, and — for restart tests —
a Mosquitto of our own on a free port (the shared broker on 1883 is never restarted)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from telemetry.mqtt import MqttOptions, MqttReceiver, subscriptions
from telemetry.pipeline import Limits
from telemetry.publish import Publisher as TelemetryPublisher
from telemetry.service import IngestConfig, IngestService
from telemetry.store import TelemetryStore
from tests.conftest import MQTT_HOST, MQTT_PORT

REPO = Path(__file__).resolve().parents[3]
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"

pytestmark = pytest.mark.integration


def wait_for(pred: Callable[[], object], timeout_s: float = 20.0, what: str = "condition"):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- fleet ------------------------------------------------------------------------------------
@pytest.fixture
def fleet(db: psycopg.Connection) -> dict[str, int]:
    """A carrier with five vehicles ``v1``..``v5``: mqtt_id → vehicles.id."""
    cid = db.execute(
        "INSERT INTO carriers (name, inn) VALUES ('ООО Тест', '7800000000') RETURNING id"
    ).fetchone()[0]
    out = {}
    for i in range(1, 6):
        out[f"v{i}"] = db.execute(
            "INSERT INTO vehicles (carrier_id, plate, vehicle_type, seats, mqtt_id)"
            " VALUES (%s, %s, 'car', 4, %s) RETURNING id",
            (cid, f"А{i:03d}АА47", f"v{i}"),
        ).fetchone()[0]
    return out


# --- a broker of our own ------------------------------------------------------------------------
class OwnBroker:
    """``mosquitto`` on a free port, persistence on (in a temp dir), unlimited queues."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="st-mosq-"))
        # started as root, mosquitto drops to the "mosquitto" user: let it write its files here
        self.dir.chmod(0o777)
        self.port = free_port()
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"persistence true\npersistence_location {self.dir}/\nautosave_interval 1\n"
            "max_queued_messages 0\n"
            f"log_dest file {self.dir}/mosquitto.log\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

        def up() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                return False

        wait_for(up, 10, "mosquitto to listen")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()  # graceful: mosquitto writes its persistence file
            self.proc.wait(10)
            self.proc = None

    def restart(self, down_s: float = 0.5) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()


@pytest.fixture
def own_broker() -> Iterator[OwnBroker]:
    b = OwnBroker()
    b.start()
    yield b
    b.stop()
    shutil.rmtree(b.dir, ignore_errors=True)


# --- publisher --------------------------------------------------------------------------------
class Publisher:
    """The product's publisher (:class:`telemetry.publish.Publisher`: paho, MQTT 5, QoS 1,
    re-sends what was not acknowledged after reconnecting); dicts and lists are sent as JSON."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.inner = TelemetryPublisher(
            host, port, session_expiry_s=600, reconnect_min_s=0.1, reconnect_max_s=1
        )
        assert self.inner.wait_connected(10), "publisher could not connect"

    def publish(self, topic: str, payload: bytes | str | dict | list) -> None:
        """QoS 1; a message published while disconnected is sent after the reconnection."""
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload)
        self.inner.publish(topic, payload)

    def wait_all(self, timeout_s: float = 30.0) -> None:
        assert self.inner.wait_all(timeout_s), (
            f"timed out after {timeout_s} s waiting for the broker to acknowledge every publish"
            f" ({self.inner.pending} pending)"
        )

    def close(self) -> None:
        self.inner.close(flush_s=0)


@pytest.fixture
def publisher_factory() -> Iterator[Callable[..., Publisher]]:
    made: list[Publisher] = []

    def make(port: int = MQTT_PORT, host: str = MQTT_HOST) -> Publisher:
        p = Publisher(port, host)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


# --- ingest, in this process --------------------------------------------------------------------
class InProcessIngest:
    """The real service and receiver, with the writer in a thread."""

    def __init__(
        self,
        db_url: str,
        *,
        port: int,
        prefix: str,
        owntracks_prefix: str,
        host: str = MQTT_HOST,
        share_group: str | None = None,
        username: str | None = None,
        password: str | None = None,
        paho_tunings: frozenset[str] | None = None,
        **limits: float,
    ) -> None:
        self.client_id = f"ingest-test-{uuid.uuid4().hex[:8]}"
        lim = replace(Limits(prefix=prefix, owntracks_prefix=owntracks_prefix), **limits)
        self.service = IngestService(
            IngestConfig(
                limits=lim,
                flush_interval_s=0.05,
                db_retry_min_s=0.2,
                db_retry_max_s=1.0,
                log_every_s=3600,
            ),
            TelemetryStore(db_url),
        )
        self.receiver = MqttReceiver(
            MqttOptions(
                host=host,
                port=port,
                client_id=self.client_id,
                share_group=(
                    share_group if share_group is not None else f"g{uuid.uuid4().hex[:6]}"
                ),
                topics=subscriptions(prefix, owntracks_prefix),
                reconnect_min_s=0.2,
                reconnect_max_s=1,
                username=username,
                password=password,
                **({} if paho_tunings is None else {"paho_tunings": paho_tunings}),
            ),
            self.service.on_inbound,
            on_state=self.service.on_mqtt_state,
        )
        self.service.acker = self.receiver
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.service.run, args=(self._stop,), daemon=True)

    def start(self) -> InProcessIngest:
        self.receiver.start()
        self._thread.start()
        assert self.receiver.subscribed.wait(15), "ingest did not subscribe"
        return self

    @property
    def counters(self) -> dict:
        return self.service.snapshot()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        self.receiver.stop()
        self.service.store.close()


@pytest.fixture
def ingest_factory(db_url: str, mqtt_prefix: str) -> Iterator[Callable[..., InProcessIngest]]:
    made: list[InProcessIngest] = []

    def make(
        port: int = MQTT_PORT,
        share_group: str | None = None,
        paho_tunings: frozenset[str] | None = None,
        **limits: float,
    ) -> InProcessIngest:
        ing = InProcessIngest(
            db_url,
            port=port,
            prefix=mqtt_prefix,
            owntracks_prefix=f"{mqtt_prefix}/owntracks",
            share_group=share_group,
            paho_tunings=paho_tunings,
            **limits,
        ).start()
        made.append(ing)
        return ing

    yield make
    for ing in made:
        ing.stop()


# --- ingest, as a real process ------------------------------------------------------------------
class IngestProcess:
    def __init__(
        self, db_url: str, *, port: int, prefix: str, client_id: str, flush_ms: int = 50
    ) -> None:
        self.metrics_port = free_port()
        env = dict(
            os.environ,
            SOCIALTAXI_DATABASE_URL=db_url,
            SOCIALTAXI_MQTT_HOST="127.0.0.1",
            SOCIALTAXI_MQTT_PORT=str(port),
            SOCIALTAXI_MQTT_TOPIC_PREFIX=prefix,
            SOCIALTAXI_LOG_LEVEL="INFO",
        )
        self.log = tempfile.NamedTemporaryFile(prefix="ingest-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "telemetry",
                "--client-id",
                client_id,
                "--share-group",
                f"g-{client_id}",
                "--owntracks-prefix",
                "-",
                "--metrics-port",
                str(self.metrics_port),
                "--flush-ms",
                str(flush_ms),
            ],
            env=env,
            cwd=REPO,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for(self._subscribed, 30, "the ingest process to subscribe")

    def metrics(self, path: str = "/metrics.json") -> dict | str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}{path}", timeout=2) as r:
            body = r.read().decode()
        return json.loads(body) if path.endswith(".json") else body

    def _subscribed(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"ingest exited: {Path(self.log.name).read_text()[-2000:]}")
        try:
            return (
                self.metrics()["mqtt_connects"] >= 1
                and "subscribed" in Path(self.log.name).read_text()
            )
        except OSError:
            return False

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def output(self) -> str:
        return Path(self.log.name).read_text()


@pytest.fixture
def ingest_process_factory(db_url: str) -> Iterator[Callable[..., IngestProcess]]:
    made: list[IngestProcess] = []

    def make(**kw) -> IngestProcess:
        p = IngestProcess(db_url, **kw)
        made.append(p)
        return p

    yield make
    for p in made:
        if p.proc.poll() is None:
            p.proc.send_signal(signal.SIGKILL)
            p.proc.wait(10)
        os.unlink(p.log.name)
