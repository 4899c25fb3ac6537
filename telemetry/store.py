"""The telemetry writer: one PostgreSQL transaction per batch.

Fixes go by binary ``COPY`` into a temporary staging table, then ``INSERT ... SELECT ... ON CONFLICT
DO NOTHING`` into ``vehicle_positions`` (idempotent on (vehicle, time): redelivered messages never
double a row). In the same transaction: ``vehicle_last_position`` moves forward, dead letters and
vehicle events (with their trip changes and payments) are written — through
``dispatch.store.trips.record_event``, the one writer of trip state the API uses too. The caller
acknowledges the batch's MQTT messages only after :meth:`TelemetryStore.write` returns.

The time-series store's ``ensure_range`` runs just before, in its own short transactions, so that
late (buffered, hours-old) fixes find their daily partition.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg

from config.rules import NoShow
from db.timeseries import TimeSeriesStore, positions_spec, store_for
from dispatch.lifecycle import TripState, TripStatus
from dispatch.store.trips import has_payment, record_event
from telemetry.events import EventPlan, event_payload, plan_event
from telemetry.model import DeadLetter, EventType, from_epoch_us, to_epoch_us
from telemetry.pipeline import EventRow, LastFix, Positions, Processed

log = logging.getLogger(__name__)

_STAGE_DDL = """
CREATE TEMP TABLE IF NOT EXISTS telemetry_stage_bin (
    vehicle_id bigint, ts timestamptz, lat double precision, lon double precision,
    speed_kmh real, heading_deg real, accuracy_m real, hdop real, odometer_m double precision,
    satellites smallint, implausible boolean, owntracks boolean, is_last boolean
) ON COMMIT DELETE ROWS
"""

_COPY = (
    "COPY telemetry_stage_bin (vehicle_id, ts, lat, lon, speed_kmh, heading_deg, accuracy_m, hdop,"
    " odometer_m, satellites, implausible, owntracks, is_last) FROM STDIN (FORMAT binary)"
)

_INSERT_POSITIONS = """
INSERT INTO vehicle_positions (vehicle_id, ts, lat, lon, speed_kmh, heading_deg, accuracy_m, hdop,
                               odometer_m, satellites, implausible, source, received_at)
SELECT vehicle_id, ts, lat, lon, speed_kmh, heading_deg, accuracy_m, hdop, odometer_m, satellites,
       implausible, CASE WHEN owntracks THEN 'owntracks' ELSE 'native' END,
       statement_timestamp()
FROM telemetry_stage_bin
ORDER BY vehicle_id, ts
ON CONFLICT DO NOTHING
"""
# the staging rows are written in (vehicle_id, ts) order when they make one layout group (see
# copy_binary): then the heap scan of the fresh temporary table is already in that order
_INSERT_POSITIONS_SORTED = _INSERT_POSITIONS.replace("ORDER BY vehicle_id, ts\n", "")

# Only ever forward in time; implausible fixes never move the live map. Rows are taken in
# vehicle order so concurrent ingest processes lock them in the same order (no deadlock).
_UPSERT_LAST = """
INSERT INTO vehicle_last_position (vehicle_id, ts, lat, lon, speed_kmh, heading_deg, updated_at)
SELECT vehicle_id, ts, lat, lon, speed_kmh, heading_deg, now()
FROM telemetry_stage_bin
WHERE is_last
ORDER BY vehicle_id
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


def dead_letter_key(dl: DeadLetter) -> str:
    """sha256 over topic, payload and reason: a redelivered bad message is one dead letter."""
    h = hashlib.sha256()
    h.update(dl.topic.encode("utf-8", "replace"))
    h.update(b"\0")
    h.update(dl.payload)
    h.update(b"\0")
    h.update(dl.reason.value.encode())
    return h.hexdigest()


_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8  # signature, flags, no extension
_COPY_TRAILER = b"\xff\xff"
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 UTC, PostgreSQL's timestamp zero
#: binary types of the optional columns, in ``Positions.num`` order from column 2
_OPTIONAL = ((">f4", 4), (">f4", 4), (">f4", 4), (">f4", 4), (">f8", 8), (">i2", 2))


def newest_plausible(positions: Positions, order: np.ndarray) -> np.ndarray:
    """Mask of the newest plausible fix of each vehicle (``order``: rows by vehicle, time)."""
    ok = order[~positions.implausible[order]]
    last = np.zeros(len(positions), bool)
    if len(ok):
        v = positions.vehicle_id[ok]
        last[ok[np.concatenate((v[1:] != v[:-1], [True]))]] = True
    return last


def copy_binary(positions: Positions) -> tuple[bytes, bool]:
    """The staging rows in PostgreSQL's binary COPY format, built with numpy (no per-row Python),
    and whether they are in (vehicle, time) order.

    A binary row has a fixed layout once its NULLs are known, so the rows are grouped by which
    optional fields they lack (usually one group) and each group is laid out as a big-endian
    numpy record array; rows are written in (vehicle, time) order within a group. ``is_last``
    marks each vehicle's newest plausible fix (for ``vehicle_last_position``).
    """
    num = positions.num
    order = np.lexsort((positions.ts_us, positions.vehicle_id))
    is_last = newest_plausible(positions, order)
    absent = np.isnan(num[order, 2:])
    pattern = absent @ (1 << np.arange(absent.shape[1]))
    parts = [_COPY_HEADER]
    codes = np.unique(pattern).tolist()
    for code in codes:
        rows = order[pattern == code] if len(codes) > 1 else order
        fields: list[tuple[str, str]] = [
            ("n", ">i2"),
            ("l0", ">i4"), ("vid", ">i8"),
            ("l1", ">i4"), ("ts", ">i8"),
            ("l2", ">i4"), ("lat", ">f8"),
            ("l3", ">i4"), ("lon", ">f8"),
        ]  # fmt: skip
        sizes = [8, 8, 8, 8]
        for j, (fmt, size) in enumerate(_OPTIONAL):
            fields.append((f"l{j + 4}", ">i4"))
            if not code >> j & 1:
                fields.append((f"v{j}", fmt))
            sizes.append(-1 if code >> j & 1 else size)
        fields += [("l10", ">i4"), ("flag", "u1"), ("l11", ">i4"), ("ot", "u1")]
        fields += [("l12", ">i4"), ("last", "u1")]
        sizes += [1, 1, 1]
        rec = np.empty(len(rows), np.dtype(fields))
        rec["n"] = 13
        for j, size in enumerate(sizes):
            rec[f"l{j}"] = size
        rec["vid"] = positions.vehicle_id[rows]
        rec["ts"] = positions.ts_us[rows] - _PG_EPOCH_US
        rec["lat"] = num[rows, 0]
        rec["lon"] = num[rows, 1]
        for j in range(len(_OPTIONAL)):
            if not code >> j & 1:
                rec[f"v{j}"] = num[rows, 2 + j]
        rec["flag"] = positions.implausible[rows]
        rec["ot"] = positions.owntracks[rows]
        rec["last"] = is_last[rows]
        parts.append(rec.tobytes())
    parts.append(_COPY_TRAILER)
    return b"".join(parts), len(codes) <= 1


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

    def __init__(
        self,
        url: str,
        *,
        connect_timeout_s: int = 5,
        no_show: NoShow | None = None,
        timezone: str = "Europe/Moscow",
    ) -> None:
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        # A vehicle's no-show is checked like a dispatcher's (rules [no_show], issue 12).
        self.no_show = no_show or NoShow()
        self.timezone = timezone
        self._conn: psycopg.Connection | None = None
        self._series: TimeSeriesStore | None = None

    def clone(self) -> TelemetryStore:
        """Another store on the same database (its own connection, opened on first use)."""
        return TelemetryStore(self.url, connect_timeout_s=self.connect_timeout_s,
                              no_show=self.no_show, timezone=self.timezone)  # fmt: skip

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
                    data, in_order = copy_binary(batch.positions)
                    with cur.copy(_COPY) as cp:
                        cp.write(data)
                    cur.execute(_INSERT_POSITIONS_SORTED if in_order else _INSERT_POSITIONS)
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
                    outcome, paid = self._apply_event(conn, row)
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

    def _check_no_show(
        self,
        conn: psycopg.Connection,
        plan: EventPlan,
        trip: TripState,
        *,
        vehicle_id: int,
        at: datetime,
    ) -> EventPlan:
        """A vehicle's no-show only after the pickup plus the waiting time and with its GPS within
        the pickup radius during the wait (:func:`dispatch.cancellation.no_show_refusals`)."""
        from dispatch.cancellation import no_show_refusals

        assert plan.change is not None and trip.pickup_at is not None
        ns = self.no_show
        r = conn.execute(
            "SELECT pickup_lat, pickup_lon FROM trips WHERE id = %s", (trip.id,)
        ).fetchone()
        assert r is not None  # the trip row is locked by the caller
        wait_end = trip.pickup_at + timedelta(minutes=ns.wait_minutes)
        fixes = conn.execute(
            "SELECT lat, lon FROM vehicle_positions WHERE vehicle_id = %s AND ts >= %s"
            " AND ts <= %s AND NOT implausible",
            (vehicle_id, trip.pickup_at, min(at, wait_end)),
        ).fetchall()
        refusals = no_show_refusals(
            pickup_at=trip.pickup_at, now=at, wait_minutes=ns.wait_minutes, pickup_lat=r[0],
            pickup_lon=r[1], fix_lats=[f[0] for f in fixes], fix_lons=[f[1] for f in fixes],
            radius_m=ns.pickup_radius_m, tz=self.timezone,
        )  # fmt: skip
        if refusals:
            return EventPlan(
                from_status=plan.from_status,
                refusal="Неявку нельзя отметить: " + "; ".join(x.message for x in refusals),
                refusal_code=refusals[0].code,
            )
        values = {**plan.change.values, "counts_for_quota": ns.counts}
        return dataclasses.replace(plan, change=dataclasses.replace(plan.change, values=values))

    def _apply_event(self, conn: psycopg.Connection, row: EventRow) -> tuple[str, int]:
        """Store one vehicle event and apply its plan: load → decide → persist (the one writer)."""
        ev = row.event
        key = ev.dedup_key(row.mqtt_id)
        trip: TripState | None = None
        if ev.trip_id is not None:
            r = conn.execute(
                "SELECT id, status, vehicle_id, pickup_at, copay_kop FROM trips WHERE id = %s"
                " FOR UPDATE",
                (ev.trip_id,),
            ).fetchone()
            if r is not None:
                trip = TripState(r[0], TripStatus(r[1]), r[2], r[3], r[4])
        if conn.execute("SELECT 1 FROM trip_events WHERE dedup_key = %s", (key,)).fetchone():
            return "duplicate", 0
        # only a payment needs to know of earlier payments; read after the trip row is locked
        paid = (
            ev.type is EventType.PAYMENT_COLLECTED
            and trip is not None
            and has_payment(conn, trip_id=trip.id)
        )
        plan = plan_event(ev, trip, vehicle_id=row.vehicle_id, paid=paid)
        if ev.type is EventType.NO_SHOW and plan.change is not None and trip is not None:
            plan = self._check_no_show(conn, plan, trip, vehicle_id=row.vehicle_id, at=ev.ts)
        payload = event_payload(ev, plan)
        if ev.trip_id is not None and trip is None:
            payload["trip_id"] = ev.trip_id
        inserted, _ = record_event(
            conn,
            trip_id=trip.id if trip else None,
            event_type=ev.type.value,
            occurred_at=ev.ts,
            change=plan.change,
            from_status=plan.from_status,
            source="vehicle",
            vehicle_id=row.vehicle_id,
            lat=ev.lat,
            lon=ev.lon,
            payload=payload,
            dedup_key=key,
            payment=plan.payment,
        )
        if not inserted:
            return "duplicate", 0
        paid_now = int(plan.payment is not None)
        if plan.refusal:
            return "refused", paid_now
        return ("applied" if plan.changes_trip else "stored"), paid_now
