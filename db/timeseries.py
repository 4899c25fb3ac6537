"""Time-series tables behind one interface: TimescaleDB hypertables when the extension is
present, native PostgreSQL range partitions otherwise.

Production runs TimescaleDB (hypertable, compression and retention policies). Where the extension
cannot be installed the same table is a range-partitioned PostgreSQL table with one partition per
day, created ahead by :meth:`TimeSeriesStore.maintain` (and on demand by
:meth:`TimeSeriesStore.ensure_range` for late, buffered fixes) and dropped by the same retention
setting. Callers never need to know which one they have.

The DDL is produced by pure functions (``timescale_ddl``, ``partition_parent_ddl``,
``partitions_to_create``, ``partitions_to_drop``) so it can be tested without either backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal, Protocol

import psycopg
from psycopg import sql

Backend = Literal["timescaledb", "partitioned"]


@dataclass(frozen=True)
class SeriesSpec:
    """What a time-series table looks like; the same spec drives both backends."""

    table: str
    time_column: str
    columns: tuple[str, ...]  # column definitions, SQL
    primary_key: tuple[str, ...]
    segment_by: str
    chunk_days: int = 1
    compress_after_days: int = 7
    retention_days: int = 1095
    create_ahead_days: int = 7


def positions_spec(*, retention_days: int = 1095, compress_after_days: int = 7) -> SeriesSpec:
    """The ``vehicle_positions`` table: one row per GPS fix, unique on (vehicle, time)."""
    return SeriesSpec(
        table="vehicle_positions",
        time_column="ts",
        columns=(
            "vehicle_id bigint NOT NULL",
            "ts timestamptz NOT NULL",
            "lat double precision NOT NULL CHECK (lat BETWEEN -90 AND 90)",
            "lon double precision NOT NULL CHECK (lon BETWEEN -180 AND 180)",
            "speed_kmh real",
            "heading_deg real",
            "accuracy_m real",
            "hdop real",
            "odometer_m double precision",
            "satellites smallint",
            "implausible boolean NOT NULL DEFAULT false",
            "source text NOT NULL DEFAULT 'native'",
            "received_at timestamptz NOT NULL DEFAULT now()",
        ),
        primary_key=("vehicle_id", "ts"),
        segment_by="vehicle_id",
        retention_days=retention_days,
        compress_after_days=compress_after_days,
    )


# --- Pure DDL builders ------------------------------------------------------------------------
def _table_body(spec: SeriesSpec) -> str:
    cols = ",\n    ".join(spec.columns)
    pk = ", ".join(spec.primary_key)
    return f"(\n    {cols},\n    PRIMARY KEY ({pk})\n)"


def timescale_ddl(spec: SeriesSpec) -> list[str]:
    """Statements that make ``spec`` a compressed hypertable with a retention policy."""
    t = spec.table
    order = f"{spec.time_column} DESC"
    return [
        "CREATE EXTENSION IF NOT EXISTS timescaledb",
        f"CREATE TABLE IF NOT EXISTS {t} {_table_body(spec)}",
        f"SELECT create_hypertable('{t}', by_range('{spec.time_column}', "
        f"INTERVAL '{spec.chunk_days} days'), if_not_exists => TRUE)",
        f"ALTER TABLE {t} SET (timescaledb.compress, "
        f"timescaledb.compress_segmentby = '{spec.segment_by}', "
        f"timescaledb.compress_orderby = '{order}')",
        f"SELECT add_compression_policy('{t}', INTERVAL '{spec.compress_after_days} days', "
        "if_not_exists => TRUE)",
        f"SELECT add_retention_policy('{t}', INTERVAL '{spec.retention_days} days', "
        "if_not_exists => TRUE)",
    ]


def partition_parent_ddl(spec: SeriesSpec) -> list[str]:
    """Statements that create ``spec`` as a range-partitioned parent table."""
    return [
        f"CREATE TABLE IF NOT EXISTS {spec.table} {_table_body(spec)} "
        f"PARTITION BY RANGE ({spec.time_column})"
    ]


def partition_name(spec: SeriesSpec, day: date) -> str:
    return f"{spec.table}_p{day:%Y%m%d}"


def _day_floor(ts: datetime) -> date:
    return ts.astimezone(UTC).date()


def partitions_to_create(
    spec: SeriesSpec, existing: set[str], start: datetime, end: datetime
) -> list[tuple[str, datetime, datetime]]:
    """Daily partitions (name, lower, upper bound in UTC) covering [start, end] not yet there."""
    out = []
    day = _day_floor(start)
    last = _day_floor(end)
    while day <= last:
        name = partition_name(spec, day)
        if name not in existing:
            lo = datetime(day.year, day.month, day.day, tzinfo=UTC)
            out.append((name, lo, lo + timedelta(days=1)))
        day += timedelta(days=spec.chunk_days)
    return out


def partitions_to_drop(spec: SeriesSpec, existing: set[str], now: datetime) -> list[str]:
    """Partitions whose whole day lies before ``now - retention``."""
    cutoff = _day_floor(now - timedelta(days=spec.retention_days))
    prefix = f"{spec.table}_p"
    out = []
    for name in sorted(existing):
        if not name.startswith(prefix):
            continue
        try:
            day = datetime.strptime(name.removeprefix(prefix), "%Y%m%d").date()
        except ValueError:
            continue
        if day + timedelta(days=spec.chunk_days) <= cutoff:
            out.append(name)
    return out


# --- The interface ------------------------------------------------------------------------------
class TimeSeriesStore(Protocol):
    backend: Backend
    spec: SeriesSpec

    def create(self, conn: psycopg.Connection) -> None:
        """Create the table (idempotent)."""

    def ensure_range(self, conn: psycopg.Connection, start: datetime, end: datetime) -> None:
        """Make sure rows timed in [start, end] can be inserted."""

    def maintain(self, conn: psycopg.Connection, now: datetime) -> list[str]:
        """Create storage ahead and apply retention; return what was dropped."""


class TimescaleStore:
    backend: Backend = "timescaledb"

    def __init__(self, spec: SeriesSpec) -> None:
        self.spec = spec

    def create(self, conn: psycopg.Connection) -> None:
        for stmt in timescale_ddl(self.spec):
            conn.execute(stmt)  # type: ignore[arg-type]

    def ensure_range(self, conn: psycopg.Connection, start: datetime, end: datetime) -> None:
        return None  # hypertables create chunks on insert

    def maintain(self, conn: psycopg.Connection, now: datetime) -> list[str]:
        return []  # compression and retention run as TimescaleDB background jobs


class PartitionedStore:
    backend: Backend = "partitioned"

    def __init__(self, spec: SeriesSpec) -> None:
        self.spec = spec
        self._known: set[str] = set()

    def _existing(self, conn: psycopg.Connection) -> set[str]:
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
            (self.spec.table,),
        ).fetchall()
        return {r[0] for r in rows}

    def create(self, conn: psycopg.Connection) -> None:
        for stmt in partition_parent_ddl(self.spec):
            conn.execute(stmt)  # type: ignore[arg-type]
        now = datetime.now(UTC)
        self.ensure_range(
            conn, now - timedelta(days=1), now + timedelta(days=self.spec.create_ahead_days)
        )

    def ensure_range(self, conn: psycopg.Connection, start: datetime, end: datetime) -> None:
        wanted = partitions_to_create(self.spec, self._known, start, end)
        if not wanted:
            return
        self._known |= self._existing(conn)
        for name, lo, hi in partitions_to_create(self.spec, self._known, start, end):
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})"
                ).format(
                    sql.Identifier(name),
                    sql.Identifier(self.spec.table),
                    sql.Literal(lo),
                    sql.Literal(hi),
                )
            )
            self._known.add(name)

    def maintain(self, conn: psycopg.Connection, now: datetime) -> list[str]:
        self.ensure_range(conn, now, now + timedelta(days=self.spec.create_ahead_days))
        existing = self._existing(conn)
        dropped = partitions_to_drop(self.spec, existing, now)
        for name in dropped:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
            self._known.discard(name)
        return dropped


def timescaledb_available(conn: psycopg.Connection) -> bool:
    """Whether the ``timescaledb`` extension is installed or installable in this database."""
    row = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    return row is not None


def store_for(conn: psycopg.Connection, spec: SeriesSpec) -> TimeSeriesStore:
    """The store for ``spec``: as recorded when the table was created, else by detection."""
    row = conn.execute(
        "SELECT backend FROM timeseries_tables WHERE table_name = %s", (spec.table,)
    ).fetchone()
    backend = row[0] if row else ("timescaledb" if timescaledb_available(conn) else "partitioned")
    return TimescaleStore(spec) if backend == "timescaledb" else PartitionedStore(spec)


def create_series(conn: psycopg.Connection, spec: SeriesSpec) -> TimeSeriesStore:
    """Create ``spec`` with the best backend here and record which one was used."""
    store = store_for(conn, spec)
    store.create(conn)
    conn.execute(
        "INSERT INTO timeseries_tables (table_name, backend) VALUES (%s, %s) "
        "ON CONFLICT (table_name) DO NOTHING",
        (spec.table, store.backend),
    )
    return store
