"""Ingest wiring: MQTT receiver → in-memory queue → batches → pure pipeline → store → acks.

The writer (the thread that calls :meth:`IngestService.run`, normally the main thread) drains the
queue into batches flushed on size or time, resolves the devices a batch names, runs
:func:`telemetry.pipeline.process`, commits with :class:`telemetry.store.TelemetryStore`, and only
then acknowledges the batch's messages to the broker.

When the database is down, the batch is retried with backoff and nothing is acknowledged; the
broker stops sending once ``ReceiveMaximum`` messages are unacknowledged and keeps the rest in
the session. A batch the database refuses for another reason is split until the offending message
is isolated; that one becomes a ``store_error`` dead letter (never silently dropped).

Counters are logged periodically and served as Prometheus text (``/metrics``) and JSON
(``/metrics.json``) on a small HTTP port.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import psycopg

from telemetry.model import DeadLetter, Reason, from_epoch_us
from telemetry.pipeline import Inbound, LastFix, Limits, Processed, devices, process
from telemetry.store import TelemetryStore, WriteResult

log = logging.getLogger(__name__)


class Acker(Protocol):
    def ack(self, msg: Inbound) -> bool: ...


@dataclass(frozen=True)
class IngestConfig:
    limits: Limits
    batch_max_messages: int = 5000
    batch_max_bytes: int = 4_000_000
    flush_interval_s: float = 0.1
    db_retry_min_s: float = 0.5
    db_retry_max_s: float = 10.0
    vehicles_ttl_s: float = 300.0  # forget the mqtt_id → id map this often
    log_every_s: float = 30.0
    shutdown_flush_timeout_s: float = 15.0
    committers: int = 2  # batches committed at once, each on its own connection


@dataclass
class Counters:
    """Monotonic counters and a few gauges (``pending``, ``unacked``, ``lag_s``)."""

    messages_received: int = 0
    fixes_received: int = 0
    fixes_stored: int = 0
    fixes_duplicate: int = 0
    fixes_implausible: int = 0
    dead_lettered: int = 0
    events_stored: int = 0
    events_applied: int = 0
    events_refused: int = 0
    events_duplicate: int = 0
    payments_stored: int = 0
    messages_acked: int = 0
    batches: int = 0
    db_errors: int = 0
    store_errors: int = 0
    mqtt_connects: int = 0
    mqtt_disconnects: int = 0
    pending: int = 0  # received, not yet committed
    lag_s: float = 0.0  # last batch: commit time − receipt of its oldest message
    fix_age_s: float = 0.0  # last batch: commit time − newest fix time
    first_message_at: str | None = None
    last_commit_at: str | None = None
    dead_by_reason: dict[str, int] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        return asdict(self)


_HELP = {
    "messages_received": "MQTT messages received",
    "fixes_received": "GPS fixes decoded from received messages",
    "fixes_stored": "GPS fixes newly stored",
    "fixes_duplicate": "GPS fixes already stored (redelivered or repeated)",
    "fixes_implausible": "GPS fixes stored but flagged implausible",
    "dead_lettered": "messages written to telemetry_dead_letters",
    "events_stored": "vehicle events stored",
    "events_applied": "vehicle events that changed their trip",
    "events_refused": "vehicle events the trip state machine refused (stored anyway)",
    "events_duplicate": "redelivered vehicle events ignored",
    "payments_stored": "payments stored",
    "messages_acked": "MQTT messages acknowledged after commit",
    "batches": "batches committed",
    "db_errors": "database errors (batches retried)",
    "store_errors": "messages the database refused (dead-lettered as store_error)",
    "mqtt_connects": "MQTT (re)connections",
    "mqtt_disconnects": "MQTT disconnections",
}
_GAUGES = {
    "pending": "messages received and not yet committed",
    "lag_s": "seconds from receipt of the oldest message of the last batch to its commit",
    "fix_age_s": "seconds from the newest fix time of the last batch to its commit",
}


def prometheus_text(snap: dict[str, Any], *, prefix: str = "socialtaxi_ingest") -> str:
    """Counters in the Prometheus text exposition format."""
    lines = []
    for name, help_ in _HELP.items():
        lines += [
            f"# HELP {prefix}_{name}_total {help_}",
            f"# TYPE {prefix}_{name}_total counter",
            f"{prefix}_{name}_total {snap[name]}",
        ]
    for name, help_ in _GAUGES.items():
        lines += [
            f"# HELP {prefix}_{name} {help_}",
            f"# TYPE {prefix}_{name} gauge",
            f"{prefix}_{name} {snap[name]}",
        ]
    lines += [
        f"# HELP {prefix}_dead_letters_total dead letters by reason",
        f"# TYPE {prefix}_dead_letters_total counter",
    ]
    for reason, n in sorted(snap["dead_by_reason"].items()):
        lines.append(f'{prefix}_dead_letters_total{{reason="{reason}"}} {n}')
    return "\n".join(lines) + "\n"


class IngestService:
    """The writer side; feed it with :meth:`on_inbound` (from the MQTT thread)."""

    def __init__(
        self,
        config: IngestConfig,
        store: TelemetryStore,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.store = store
        self.acker: Acker | None = None
        self.counters = Counters()
        self._queue: deque[Inbound] = deque()
        self._wake = threading.Event()
        self._clock = clock
        self._vehicles: dict[str, int] = {}
        self._last: dict[int, LastFix] = {}
        self._vehicles_loaded_at = clock()
        self._lock = threading.Lock()  # guards counters read by the metrics thread
        self._state = threading.Lock()  # guards _vehicles and _last (writer and committer)
        self._local = threading.local()  # .store: the committer thread's own store
        self._turn = threading.Condition()  # acknowledgements in batch order
        self._acked_through = 0  # sequence number of the last batch whose turn is over
        self._skipped: set[int] = set()  # batches given up at shutdown, their turn not yet due
        # the writer's own connection, for vehicle look-ups while the committer writes
        self._reader = TelemetryStore(store.url) if isinstance(store, TelemetryStore) else store

    # --- called from the MQTT thread -------------------------------------------------------
    def on_inbound(self, msg: Inbound) -> None:
        self._queue.append(msg)
        c = self.counters
        c.messages_received += 1
        if c.first_message_at is None:
            c.first_message_at = msg.received_at.isoformat()
        if len(self._queue) >= self.config.batch_max_messages:
            self._wake.set()

    def on_mqtt_state(self, state: str) -> None:
        if state == "connected":
            self.counters.mqtt_connects += 1
        else:
            self.counters.mqtt_disconnects += 1

    # --- the writer loop ---------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Flush batches until ``stop`` is set, then flush what is queued (bounded by
        ``shutdown_flush_timeout_s``) and return.

        Two stages overlap: this thread drains and prepares batch N+1 (decode, validate,
        plausibility: Python) while ``committers`` threads, each with its own connection, write
        earlier batches (waiting on PostgreSQL) and then acknowledge them — in batch order:
        a committer waits for the earlier batches' turn before it acknowledges (MQTT wants
        PUBACKs in the order of the PUBLISHes), and a batch with vehicle events is written only
        after every earlier batch (events apply in arrival order). Positions commute: their
        batches may commit out of order (the live map only moves forward in time).
        """
        cfg = self.config
        stores: list[Any] = [self.store]
        clone = getattr(self.store, "clone", None)
        if clone is not None:
            stores += [clone() for _ in range(cfg.committers - 1)]
        handoff: queue.Queue[tuple[int, list[Inbound], Processed | None] | None] = queue.Queue(
            len(stores)
        )
        abort = threading.Event()  # set when the shutdown flush runs out of time
        committers = [
            threading.Thread(
                target=self._commit_loop,
                args=(handoff, abort, st),
                name=f"ingest-commit-{i}",
                daemon=True,
            )
            for i, st in enumerate(stores)
        ]
        for t in committers:
            t.start()
        seq = self._acked_through
        first_seen: float | None = None
        next_log = self._clock() + cfg.log_every_s
        while not stop.is_set():
            now = self._clock()
            n = len(self._queue)
            if n and first_seen is None:
                first_seen = now
            due = n >= cfg.batch_max_messages or (
                n and first_seen is not None and now - first_seen >= cfg.flush_interval_s
            )
            if due:
                batch = self._drain()
                seq += 1
                self._hand(handoff, (seq, batch, self._prepare_here(batch, stop)), stop)
                first_seen = None
                continue
            if now >= next_log:
                self.log_counters()
                next_log = now + cfg.log_every_s
            wait = (
                cfg.flush_interval_s
                if first_seen is None
                else (cfg.flush_interval_s - (now - first_seen))
            )
            self._wake.wait(max(0.005, min(wait, cfg.flush_interval_s, 0.2)))  # 0.2: see stop
            self._wake.clear()
        # graceful shutdown: what is queued now is flushed and acknowledged
        timer = threading.Timer(cfg.shutdown_flush_timeout_s, abort.set)
        timer.daemon = True
        timer.start()
        try:
            while self._queue and not abort.is_set():
                batch = self._drain()
                seq += 1
                self._hand(handoff, (seq, batch, self._prepare_here(batch, abort)), abort)
            for _ in committers:
                self._hand(handoff, None, abort)
            for t in committers:
                t.join(cfg.shutdown_flush_timeout_s + 1)
        finally:
            timer.cancel()
            if self._reader is not self.store:
                self._reader.close()
            for st in stores[1:]:
                st.close()
        self.log_counters()

    def _hand(
        self,
        handoff: queue.Queue,
        item: tuple[int, list[Inbound], Processed | None] | None,
        stop: threading.Event,
    ) -> bool:
        """Give ``item`` to a committer; give up (nothing acknowledged) once ``stop`` is set."""
        while True:
            try:
                handoff.put(item, timeout=0.2)
                return True
            except queue.Full:
                if stop.is_set() and item is not None:
                    self._turn_over(item[0], wait=False)  # later batches may acknowledge
                    return False

    def _commit_loop(self, handoff: queue.Queue, abort: threading.Event, store: Any) -> None:
        self._local.store = store
        while True:
            item = handoff.get()
            if item is None:
                return
            seq, batch, prepared = item
            self._local.seq = seq
            try:
                self._flush(batch, abort, prepared)
            except Exception:  # noqa: BLE001 - keep committing; the batch stays unacknowledged
                log.exception("batch of %d messages not committed", len(batch))
            finally:
                self._turn_over(seq)

    # --- acknowledgements in batch order (MQTT: PUBACKs in the order of the PUBLISHes) -------
    def _wait_turn(self) -> None:
        """Block until every earlier batch is acknowledged (or given up)."""
        seq = getattr(self._local, "seq", None)
        if seq is None:
            return
        with self._turn:
            while self._acked_through < seq - 1:
                self._turn.wait(0.5)

    def _turn_over(self, seq: int, *, wait: bool = True) -> None:
        """End batch ``seq``'s turn (after the earlier ones; ``wait=False``: whenever they end,
        for a batch given up at shutdown — the caller must not block)."""
        with self._turn:
            if wait:
                while self._acked_through < seq - 1:
                    self._turn.wait(0.5)
                self._acked_through = max(self._acked_through, seq)
            else:
                self._skipped.add(seq)
            while self._acked_through + 1 in self._skipped:
                self._acked_through += 1
                self._skipped.discard(self._acked_through)
            self._turn.notify_all()

    @property
    def _store(self) -> Any:
        """The calling committer's store (``self.store`` outside the committer threads)."""
        return getattr(self._local, "store", self.store)

    def _prepare_here(self, batch: list[Inbound], stop: threading.Event) -> Processed | None:
        """Prepare ``batch`` in this thread; ``None`` leaves it to the committer (a look-up
        that cannot reach the database, or a processing error to isolate)."""
        delay = self.config.db_retry_min_s
        while True:
            try:
                return self._prepare(batch, self._reader)
            except psycopg.OperationalError:
                self._reader.close()
                if stop.wait(delay):
                    return None
                delay = min(delay * 2, self.config.db_retry_max_s)
            except Exception:  # noqa: BLE001 - the committer isolates the message
                return None

    def _drain(self) -> list[Inbound]:
        out: list[Inbound] = []
        size = 0
        q = self._queue
        cfg = self.config
        while q and len(out) < cfg.batch_max_messages and size < cfg.batch_max_bytes:
            m = q.popleft()
            out.append(m)
            size += len(m.payload)
        return out

    # --- one batch ---------------------------------------------------------------------------
    def _flush(
        self, batch: list[Inbound], stop: threading.Event, prepared: Processed | None = None
    ) -> bool:
        """Commit ``batch`` (retrying while the database is down) and acknowledge it. Returns
        ``False`` when ``stop`` was set before it could be committed (nothing acknowledged)."""
        delay = self.config.db_retry_min_s
        attempts_failed = 0
        while True:
            try:
                self._commit(batch, prepared)
                return True
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure) as exc:
                self.counters.db_errors += 1
                log.info("batch retried after %s", type(exc).__name__)
                self._store.reset_cache()
                continue
            except psycopg.OperationalError as exc:
                self.counters.db_errors += 1
                text = str(exc).strip()
                log.warning(
                    "database unavailable (%s); retrying in %.1f s, nothing acknowledged",
                    text.splitlines()[0] if text else type(exc).__name__,
                    delay,
                )
                self._store.close()
            except Exception as exc:  # noqa: BLE001 - a refused row or a bug: isolate it
                self.counters.db_errors += 1
                self._store.reset_cache()
                attempts_failed += 1
                if attempts_failed < 2:
                    continue  # e.g. a partition created concurrently: once more
                if not isinstance(exc, psycopg.Error):
                    log.exception("batch of %d messages failed", len(batch))
                return self._split(batch, exc, stop)
            if stop.wait(delay):
                return False
            delay = min(delay * 2, self.config.db_retry_max_s)

    def _split(self, batch: list[Inbound], exc: Exception, stop: threading.Event) -> bool:
        if len(batch) == 1:
            msg = batch[0]
            log.error("database refused a message on %s: %s", msg.topic, exc)
            dl = DeadLetter(msg.topic, msg.payload, Reason.STORE_ERROR, str(exc)[:2000])
            while True:
                try:
                    self._store.write_dead_letters([dl])
                    break
                except psycopg.Error:
                    self._store.close()
                    if stop.wait(self.config.db_retry_min_s):
                        return False
            self.counters.store_errors += 1
            self._count_dead([dl])
            self._ack([msg])
            return True
        mid = len(batch) // 2
        return self._flush(batch[:mid], stop) and self._flush(batch[mid:], stop)

    def _prepare(self, batch: Sequence[Inbound], store: TelemetryStore) -> Processed:
        """Look up the devices the batch names (with ``store``), run the pipeline, and move the
        last known fixes forward (they are plausibility context only)."""
        cfg = self.config
        with self._state:
            if self._clock() - self._vehicles_loaded_at > cfg.vehicles_ttl_s:
                self._vehicles.clear()
                self._vehicles_loaded_at = self._clock()
            missing = devices(batch, cfg.limits) - self._vehicles.keys()
            if missing:
                for mqtt_id, info in store.lookup_vehicles(missing).items():
                    self._vehicles[mqtt_id] = info.id
                    known = self._last.get(info.id)
                    if info.last is not None and (known is None or known.ts_us < info.last.ts_us):
                        self._last[info.id] = info.last
            result = process(batch, limits=cfg.limits, vehicles=self._vehicles, last=self._last)
            for vid, lf in result.latest.items():
                known = self._last.get(vid)
                if known is None or known.ts_us < lf.ts_us:
                    self._last[vid] = lf
        return result

    def _commit(self, batch: Sequence[Inbound], prepared: Processed | None = None) -> None:
        result = prepared if prepared is not None else self._prepare(batch, self._store)
        if result.events:  # events apply in arrival order: every earlier batch commits first
            self._wait_turn()
        written = self._store.write(result)
        newest_us = int(result.positions.ts_us.max()) if len(result.positions) else None
        self._account(
            batch, result.fixes_received, result.duplicates, result.implausible, written, newest_us
        )
        self._count_dead(result.dead_letters)
        self._ack(batch)

    def _ack(self, batch: Sequence[Inbound]) -> None:
        if self.acker is None:
            return
        self._wait_turn()
        many = getattr(self.acker, "ack_many", None)
        if many is not None:
            n = many(batch)
        else:
            n = sum(1 for m in batch if self.acker.ack(m))
        self.counters.messages_acked += n

    def _count_dead(self, letters: Sequence[DeadLetter]) -> None:
        with self._lock:
            for dl in letters:
                self.counters.dead_lettered += 1
                key = dl.reason.value
                self.counters.dead_by_reason[key] = self.counters.dead_by_reason.get(key, 0) + 1

    def _account(
        self,
        batch: Sequence[Inbound],
        fixes: int,
        dup_in_batch: int,
        implausible: int,
        w: WriteResult,
        newest_us: int | None,
    ) -> None:
        c = self.counters
        with self._lock:
            c.fixes_received += fixes
            c.fixes_stored += w.stored
            c.fixes_duplicate += w.duplicates + dup_in_batch
            c.fixes_implausible += implausible
            c.events_stored += w.events_stored
            c.events_applied += w.events_applied
            c.events_refused += w.events_refused
            c.events_duplicate += w.events_duplicate
            c.payments_stored += w.payments
            c.batches += 1
            c.last_commit_at = w.committed_at.isoformat()
            if batch:
                oldest = min(m.received_at for m in batch)
                c.lag_s = round((w.committed_at - oldest).total_seconds(), 3)
            if newest_us is not None:
                c.fix_age_s = round((w.committed_at - from_epoch_us(newest_us)).total_seconds(), 3)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            self.counters.pending = len(self._queue)
            return self.counters.snapshot()

    def log_counters(self) -> None:
        s = self.snapshot()
        log.info(
            "ingest: received %d msgs / %d fixes, stored %d, duplicates %d, implausible %d, "
            "dead letters %d, events %d (refused %d), payments %d, pending %d, lag %.2f s",
            s["messages_received"],
            s["fixes_received"],
            s["fixes_stored"],
            s["fixes_duplicate"],
            s["fixes_implausible"],
            s["dead_lettered"],
            s["events_stored"],
            s["events_refused"],
            s["payments_stored"],
            s["pending"],
            s["lag_s"],
        )


# --- metrics endpoint -----------------------------------------------------------------------
def serve_metrics(
    snapshot: Callable[[], dict[str, Any]], host: str, port: int
) -> ThreadingHTTPServer:
    """Serve ``/metrics`` (Prometheus text) and ``/metrics.json`` in a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            snap = snapshot()
            if self.path.startswith("/metrics.json"):
                body, ctype = json.dumps(snap).encode(), "application/json"
            elif self.path.startswith("/metrics"):
                body, ctype = prometheus_text(snap).encode(), "text/plain; version=0.0.4"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_a: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="ingest-metrics", daemon=True).start()
    return server
