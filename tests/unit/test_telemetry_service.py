"""The writer loop with a fake store and a fake broker: acknowledge only after commit, hold
acknowledgements while the database is down, isolate a message the database refuses."""

import ast
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from telemetry.pipeline import Inbound, Limits
from telemetry.service import IngestConfig, IngestService, prometheus_text
from telemetry.store import VehicleInfo, WriteResult

P = "socialtaxi/v1"
REPO = Path(__file__).resolve().parents[2]


class FakeStore:
    def __init__(self, failures=()):
        self.failures = list(failures)  # exceptions raised by the next writes
        self.committed: list = []
        self.dead: list = []
        self.acked_at_commit: list[int] = []
        self.acker = None

    def lookup_vehicles(self, devices):
        return {d: VehicleInfo(int(d[1:]), None) for d in devices if d.startswith("v")}

    def write(self, batch):
        if self.failures:
            raise self.failures.pop(0)
        bad = [r for r in batch.positions.rows() if r.fix.odometer_m == 666]
        if bad:
            raise psycopg.errors.CheckViolation("value refused")
        self.committed.extend(batch.positions.rows())
        self.dead.extend(batch.dead_letters)
        self.acked_at_commit.append(len(self.acker.acked))
        return WriteResult(
            len(batch.positions), 0, len(batch.dead_letters), 0, 0, 0, 0, 0, datetime.now(UTC)
        )

    def write_dead_letters(self, letters):
        self.dead.extend(letters)
        return len(letters)

    def close(self):
        pass

    def reset_cache(self):
        pass


class FakeAcker:
    def __init__(self):
        self.acked: list[int] = []

    def ack(self, msg):
        self.acked.append(msg.mid)
        return True


def make(store):
    svc = IngestService(
        IngestConfig(
            limits=Limits(prefix=P),
            flush_interval_s=0.01,
            db_retry_min_s=0.01,
            db_retry_max_s=0.02,
            log_every_s=3600,
        ),
        store,
    )
    svc.acker = store.acker = FakeAcker()
    return svc


def inbound(mid, odometer=None):
    ts = int(datetime.now(UTC).timestamp() * 1000) - 1000 + mid
    body = {"ts": ts, "lat": 59.9, "lon": 30.3}
    if odometer is not None:
        body["odometer_m"] = odometer
    return Inbound(
        f"{P}/vehicles/v1/position", json.dumps(body).encode(), datetime.now(UTC), mid=mid
    )


def run_until(svc, pred, timeout=5.0):
    stop = threading.Event()
    t = threading.Thread(target=svc.run, args=(stop,))
    t.start()
    try:
        end = threading.Event()
        for _ in range(int(timeout / 0.01)):
            if pred():
                break
            end.wait(0.01)
    finally:
        stop.set()
        t.join(5)
    assert pred()


def test_acknowledged_only_after_commit():
    store = FakeStore()
    svc = make(store)
    for i in range(1, 11):
        svc.on_inbound(inbound(i))
    run_until(svc, lambda: len(svc.acker.acked) == 10)
    assert store.acked_at_commit == [0]  # nothing was acknowledged before the commit
    assert len(store.committed) == 10
    assert svc.counters.messages_acked == 10 and svc.counters.fixes_stored == 10


def test_database_down_holds_acks_then_resumes():
    down = psycopg.OperationalError("connection refused")
    store = FakeStore(failures=[down, down, down])
    svc = make(store)
    for i in range(1, 6):
        svc.on_inbound(inbound(i))
    run_until(svc, lambda: len(svc.acker.acked) == 5)
    assert svc.counters.db_errors == 3
    assert store.acked_at_commit == [0]


def test_a_message_the_database_refuses_is_isolated_and_dead_lettered():
    store = FakeStore()
    svc = make(store)
    for i in range(1, 9):
        svc.on_inbound(inbound(i, odometer=666 if i == 5 else None))
    run_until(svc, lambda: len(svc.acker.acked) == 8)
    assert len(store.committed) == 7
    (dl,) = store.dead
    assert dl.reason.value == "store_error" and b"666" in dl.payload
    assert svc.counters.store_errors == 1


def test_stop_flushes_the_queue():
    store = FakeStore()
    svc = IngestService(IngestConfig(limits=Limits(prefix=P), flush_interval_s=3600), store)
    svc.acker = store.acker = FakeAcker()
    for i in range(1, 4):
        svc.on_inbound(inbound(i))
    stop = threading.Event()
    stop.set()
    svc.run(stop)
    assert len(store.committed) == 3 and len(svc.acker.acked) == 3


def test_prometheus_text():
    svc = make(FakeStore())
    svc.counters.dead_by_reason["oversized"] = 2
    text = prometheus_text(svc.snapshot())
    assert "# TYPE socialtaxi_ingest_fixes_stored_total counter" in text
    assert 'socialtaxi_ingest_dead_letters_total{reason="oversized"} 2' in text
    assert "socialtaxi_ingest_lag_s 0.0" in text


PURE = [
    "telemetry/decode.py",
    "telemetry/model.py",
    "telemetry/pipeline.py",
    "telemetry/plausibility.py",
    "telemetry/events.py",
]
FORBIDDEN = (
    "psycopg",
    "psycopg_pool",
    "paho",
    "fastapi",
    "folium",
    "config.settings",
    "db",
    "telemetry.store",
    "telemetry.mqtt",
    "telemetry.service",
)


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_no_io(module):
    tree = ast.parse((REPO / module).read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    bad = {n for n in names if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)}
    assert not bad


class SlowFirstStore(FakeStore):
    """Shared by two committers (``clone`` returns itself); the first write is slow, so the
    second batch commits first."""

    def __init__(self):
        super().__init__()
        self.writes = 0
        self.lock = threading.Lock()
        self.order: list[int] = []  # first mid of each committed batch, in commit order

    def clone(self):
        return self

    def write(self, batch):
        with self.lock:
            self.writes += 1
            first = self.writes == 1
        if first:
            threading.Event().wait(0.3)
        with self.lock:
            self.order.append(min(r.fix.ts_us for r in batch.positions.rows()))
            return super().write(batch)


def test_two_committers_acknowledge_in_batch_order():
    store = SlowFirstStore()
    svc = make(store)
    svc.config = IngestConfig(
        limits=Limits(prefix=P), batch_max_messages=5, flush_interval_s=0.01, log_every_s=3600
    )
    for i in range(1, 11):  # two batches of 5
        svc.on_inbound(inbound(i))
    run_until(svc, lambda: len(svc.acker.acked) == 10)
    assert store.order[0] > store.order[1]  # the second batch committed first...
    assert svc.acker.acked == list(range(1, 11))  # ...and was acknowledged after the first
