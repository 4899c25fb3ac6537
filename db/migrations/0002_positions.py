"""Vehicle positions: a TimescaleDB hypertable when available, daily range partitions otherwise."""

import psycopg

from db.timeseries import create_series, positions_spec


def upgrade(conn: psycopg.Connection, *, retention_days: int, compress_after_days: int) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS timeseries_tables ("
        " table_name text PRIMARY KEY, backend text NOT NULL,"
        " created_at timestamptz NOT NULL DEFAULT now())"
    )
    create_series(
        conn,
        positions_spec(retention_days=retention_days, compress_after_days=compress_after_days),
    )
