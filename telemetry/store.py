"""The telemetry writer: one PostgreSQL transaction per batch.

Fixes go by ``COPY`` into a temporary staging table, then ``INSERT ... SELECT ... ON CONFLICT
DO NOTHING`` into ``vehicle_positions`` (idempotent on (vehicle, time): redelivered messages never
double a row). In the same transaction: ``vehicle_last_position`` moves forward, dead letters and
vehicle events (with their trip changes and payments) are written. The caller acknowledges the
batch's MQTT messages only after :meth:`TelemetryStore.write` returns.

The time-series store's ``ensure_range`` runs just before, in its own short transactions, so that
late (buffered, hours-old) fixes find their daily partition.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from dispatch.lifecycle import TripStatus
from socialtaxi.db.timeseries import TimeSeriesStore, positions_spec, store_for
from telemetry.events import TripView, event_payload, plan_event
from telemetry.model import DeadLetter, from_epoch_us, to_epoch_us
from telemetry.pipeline import EventRow, LastFix, Positions, Processed

log = logging.getLogger(__name__)

_STAGE_DDL = """
CREATE TEMP TABLE IF NOT EXISTS telemetry_stage (
    vehicle_id bigint, ts_us bigint, lat double precision, lon double precision,
    speed_kmh real, heading_deg real, accuracy_m real, hdop real, odometer_m double precision,
    satellites smallint, implausible boolean, source text
) ON COMMIT DELETE ROWS
"""

_COPY = (
    "COPY telemetry_stage (vehicle_id, ts_us, lat, lon, speed_kmh, heading_deg, accuracy_m, hdop,"
    " odometer_m, satellites, implausible, source) FROM STDIN"
)

_INSERT_POSITIONS = """
INSERT INTO vehicle_positions (vehicle_id, ts, lat, lon, speed_kmh, heading_deg, accuracy_m, hdop,
                               odometer_m, satellites, implausible, source, received_at)
SELECT vehicle_id, timestamptz 'epoch' + ts_us * interval '1 microsecond', lat, lon, speed_kmh,
       heading_deg, accuracy_m, hdop, odometer_m, satellites, implausible, source,
       statement_timestamp()
FROM telemetry_stage
ORDER BY vehicle_id, ts_us
ON CONFLICT DO NOTHING
"""

# Only ever forward in time; implausible fixes never move the live map. Rows are taken in
# vehicle order so concurrent ingest processes lock them in the same order (no deadlock).
_UPSERT_LAST = """
INSERT INTO vehicle_last_position (vehicle_id, ts, lat, lon, speed_kmh, heading_deg, updated_at)
SELECT DISTINCT ON (vehicle_id) vehicle_id, timestamptz 'epoch' + ts_us * interval '1 microsecond',
       lat, lon, speed_kmh, heading_deg, now()
FROM telemetry_stage
WHERE NOT implausible
ORDER BY vehicle_id, ts_us DESC
ON CONFLICT (vehicle_id) DO UPDATE
SET ts = EXCLUDED.ts, lat = EXCLUDED.lat, lon = EXCLUDED.lon, speed_kmh = EXCLUDED.speed_kmh,
    heading_deg = EXCLUDED.heading_deg, updated_at = EXCLUDED.updated_at
WHERE vehicle_last_position.ts < EXCLUDED.ts
"""

_INSERT_DEAD = """
INSERT INTO telemetry_dead_letters (topic, payload, reason, detail, device, dedup_key)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (dedup_key) DO NOTHING
"""

_INSERT_EVENT = """
INSERT INTO trip_events (trip_id, vehicle_id, event_type, from_status, to_status, occurred_at,
                         source, lat, lon, payload, dedup_key)
VALUES (%s, %s, %s, %s, %s, %s, 'vehicle', %s, %s, %s, %s)
ON CONFLICT (dedup_key) DO NOTHING
RETURNING id
"""

_INSERT_PAYMENT = """
INSERT INTO payments (trip_id, amount_kop, method, collected_at, source, dedup_key)
VALUES (%s, %s, %s, %s, 'vehicle', %s)
ON CONFLICT (dedup_key) DO NOTHING
"""

#: trip columns an event may stamp (whitelist for the dynamic UPDATE)
_STAMP_COLUMNS = frozenset({"started_at", "picked_up_at", "completed_at"})


def dead_letter_key(dl: DeadLetter) -> str:
    """sha256 over topic, payload and reason: a redelivered bad message is one dead letter."""
    h = hashlib.sha256()
    h.update(dl.topic.encode("utf-8", "replace"))
    h.update(b"\0")
    h.update(dl.payload)
    h.update(b"\0")
    h.update(dl.reason.value.encode())
    return h.hexdigest()


def copy_lines(positions: Positions) -> str:
    """The staging rows in COPY text format (numbers only, nothing to escape)."""
    N = "\\N"  # noqa: N806 - COPY's NULL
    out: list[str] = []
    append = out.append
    for vid, f, flag in zip(
        positions.vehicle_id.tolist(), positions.fixes, positions.implausible.tolist(), strict=True
    ):
        ts_us, lat, lon, speed, heading, acc, hdop, odo, sats, source = f
        append(
            f"{vid}\t{ts_us}\t{lat!r}\t{lon!r}\t"
            f"{N if speed is None else speed}\t{N if heading is None else heading}\t"
            f"{N if acc is None else acc}\t{N if hdop is None else hdop}\t"
            f"{N if odo is None else odo}\t{N if sats is None else sats}\t"
            f"{'t' if flag else 'f'}\t{source}\n"
        )
    return "".join(out)


@dataclass(frozen=True)
class WriteResult:
    """What one committed batch did."""

    stored: int  # new vehicle_positions rows
    duplicates: int  # fixes already in the table
    dead_letters: int  # new dead-letter rows
    events_stored: int  # new trip_events rows from vehicles
    events_applied: int  # of which changed their trip
    events_refused: int  # of which the state machine (or a check) refused
    events_duplicate: int  # redelivered events, ignored
    payments: int  # new payments rows
    committed_at: datetime


@dataclass(frozen=True)
class VehicleInfo:
    id: int
    last: LastFix | None


class TelemetryStore:
    """A psycopg connection of its own, with the staging table and the time-series store.

    Not thread-safe: one writer thread owns it.
    """

    def __init__(self, url: str, *, connect_timeout_s: int = 5) -> None:
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        self._conn: psycopg.Connection | None = None
        self._series: TimeSeriesStore | None = None

    # --- connection ------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.closed

    def open(self) -> None:
        """Connect (raises ``psycopg.OperationalError`` when the database is unreachable)."""
        self.close()
        conn = psycopg.connect(
            self.url,
            autocommit=True,
            connect_timeout=self.connect_timeout_s,
            application_name="socialtaxi-ingest",
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        )
        conn.execute(_STAGE_DDL)
        self._conn = conn
        self._series = store_for(conn, positions_spec())

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
        self._conn = None
        self._series = None

    def _c(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self.open()
        assert self._conn is not None
        return self._conn

    def reset_cache(self) -> None:
        """Forget which partitions exist (after a failed transaction the cache may lie)."""
        if self._conn is not None:
            self._series = store_for(self._conn, positions_spec())

    # --- reads -------------------------------------------------------------------------------
    def lookup_vehicles(self, devices: Iterable[str]) -> dict[str, VehicleInfo]:
        """``vehicles.mqtt_id`` → id and last known position, for the devices that exist."""
        names = list(devices)
        if not names:
            return {}
        rows = (
            self._c()
            .execute(
                "SELECT v.mqtt_id, v.id, lp.ts, lp.lat, lp.lon FROM vehicles v"
                " LEFT JOIN vehicle_last_position lp ON lp.vehicle_id = v.id"
                " WHERE v.mqtt_id = ANY(%s)",
                (names,),
            )
            .fetchall()
        )
        return {
            m: VehicleInfo(vid, None if ts is None else LastFix(to_epoch_us(ts), lat, lon))
            for m, vid, ts, lat, lon in rows
        }

    # --- the batch write -----------------------------------------------------------------------
    def write(self, batch: Processed) -> WriteResult:
        """Commit everything ``batch`` holds, in one transaction; raise ``psycopg.Error`` else."""
        conn = self._c()
        if batch.positions:
            assert self._series is not None
            ts = batch.positions.ts_us
            lo, hi = int(ts.min()), int(ts.max())
            self._series.ensure_range(conn, from_epoch_us(lo), from_epoch_us(hi))
        stored = dead = 0
        ev_stored = ev_applied = ev_refused = ev_dup = payments = 0
        with conn.transaction():
            with conn.cursor() as cur:
                if batch.positions:
                    with cur.copy(_COPY) as cp:
                        cp.write(copy_lines(batch.positions))
                    cur.execute(_INSERT_POSITIONS)
                    stored = cur.rowcount
                    cur.execute(_UPSERT_LAST)
                if batch.dead_letters:
                    for dl in batch.dead_letters:
                        cur.execute(
                            _INSERT_DEAD,
                            (
                                dl.topic,
                                dl.payload,
                                dl.reason.value,
                                dl.detail,
                                dl.device,
                                dead_letter_key(dl),
                            ),
                        )
                        dead += cur.rowcount
                for row in sorted(batch.events, key=lambda r: r.event.ts):
                    outcome, paid = self._apply_event(cur, row)
                    payments += paid
                    if outcome == "duplicate":
                        ev_dup += 1
                        continue
                    ev_stored += 1
                    ev_applied += outcome == "applied"
                    ev_refused += outcome == "refused"
            committed_at = datetime.now(UTC)
        return WriteResult(
            stored=stored,
            duplicates=len(batch.positions) - stored,
            dead_letters=dead,
            events_stored=ev_stored,
            events_applied=ev_applied,
            events_refused=ev_refused,
            events_duplicate=ev_dup,
            payments=payments,
            committed_at=committed_at,
        )

    def write_dead_letters(self, letters: Iterable[DeadLetter]) -> int:
        """Commit only dead letters (for messages the database refused to store otherwise)."""
        n = 0
        with self._c().transaction(), self._c().cursor() as cur:
            for dl in letters:
                cur.execute(
                    _INSERT_DEAD,
                    (
                        dl.topic,
                        dl.payload,
                        dl.reason.value,
                        dl.detail,
                        dl.device,
                        dead_letter_key(dl),
                    ),
                )
                n += cur.rowcount
        return n

    def _apply_event(self, cur: psycopg.Cursor, row: EventRow) -> tuple[str, int]:
        """Store one vehicle event and apply its plan: load → decide → persist."""
        ev = row.event
        key = ev.dedup_key(row.mqtt_id)
        trip: TripView | None = None
        if ev.trip_id is not None:
            r = cur.execute(
                "SELECT id, status, vehicle_id FROM trips WHERE id = %s FOR UPDATE", (ev.trip_id,)
            ).fetchone()
            if r is not None:
                trip = TripView(r[0], TripStatus(r[1]), r[2])
        if cur.execute("SELECT 1 FROM trip_events WHERE dedup_key = %s", (key,)).fetchone():
            return "duplicate", 0
        plan = plan_event(ev, trip, vehicle_id=row.vehicle_id)
        payload = event_payload(ev, plan)
        if ev.trip_id is not None and trip is None:
            payload["trip_id"] = ev.trip_id
        inserted = cur.execute(
            _INSERT_EVENT,
            (
                trip.id if trip else None,
                row.vehicle_id,
                ev.type.value,
                plan.from_status.value if plan.from_status else None,
                plan.to_status.value if plan.changes_trip and plan.to_status else None,
                ev.ts,
                ev.lat,
                ev.lon,
                Jsonb(payload),
                key,
            ),
        ).fetchone()
        if inserted is None:
            return "duplicate", 0
        paid = 0
        if plan.changes_trip and trip is not None and plan.to_status is not None:
            sets = ["status = %s", "updated_at = now()"]
            params: list[Any] = [plan.to_status.value]
            for col in plan.stamps:
                assert col in _STAMP_COLUMNS
                sets.append(f"{col} = COALESCE({col}, %s)")
                params.append(ev.ts)
            if plan.no_show_reason:
                sets.append("no_show_reason = %s")
                params.append(plan.no_show_reason)
            cur.execute(f"UPDATE trips SET {', '.join(sets)} WHERE id = %s", (*params, trip.id))
        if plan.payment and trip is not None and ev.amount_kop is not None and ev.method:
            cur.execute(_INSERT_PAYMENT, (trip.id, ev.amount_kop, ev.method.value, ev.ts, key))
            paid = cur.rowcount
        if plan.refusal:
            return "refused", paid
        return ("applied" if plan.changes_trip else "stored"), paid
