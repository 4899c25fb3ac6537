"""The DDL each time-series backend would issue (the TimescaleDB path cannot run here)."""

from datetime import UTC, datetime

from db.timeseries import (
    partition_name,
    partition_parent_ddl,
    partitions_to_create,
    partitions_to_drop,
    positions_spec,
    timescale_ddl,
)


def test_timescale_path_makes_a_compressed_hypertable_with_retention():
    spec = positions_spec(retention_days=400, compress_after_days=3)
    ddl = timescale_ddl(spec)
    joined = "\n".join(ddl)
    assert ddl[0] == "CREATE EXTENSION IF NOT EXISTS timescaledb"
    assert "CREATE TABLE IF NOT EXISTS vehicle_positions" in ddl[1]
    assert "PRIMARY KEY (vehicle_id, ts)" in ddl[1]
    assert "PARTITION BY" not in joined  # hypertables are not declaratively partitioned
    assert "create_hypertable('vehicle_positions', by_range('ts', INTERVAL '1 days')" in joined
    assert "timescaledb.compress_segmentby = 'vehicle_id'" in joined
    assert "timescaledb.compress_orderby = 'ts DESC'" in joined
    assert "add_compression_policy('vehicle_positions', INTERVAL '3 days'" in joined
    assert "add_retention_policy('vehicle_positions', INTERVAL '400 days'" in joined


def test_partitioned_path_has_the_same_columns():
    spec = positions_spec()
    parent = partition_parent_ddl(spec)[0]
    assert parent.endswith("PARTITION BY RANGE (ts)")
    for col in spec.columns:
        assert col in parent
        assert col in timescale_ddl(spec)[1]


def test_partitions_to_create_cover_the_range_by_utc_day():
    spec = positions_spec()
    start = datetime(2026, 11, 29, 22, 0, tzinfo=UTC)
    end = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    existing = {partition_name(spec, start.date())}
    out = partitions_to_create(spec, existing, start, end)
    assert [name for name, _, _ in out] == [
        "vehicle_positions_p20261130",
        "vehicle_positions_p20261201",
    ]
    name, lo, hi = out[0]
    assert lo == datetime(2026, 11, 30, tzinfo=UTC) and hi == datetime(2026, 12, 1, tzinfo=UTC)


def test_partitions_to_drop_only_whole_days_beyond_retention():
    spec = positions_spec(retention_days=10)
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    existing = {
        "vehicle_positions_p20261111",  # ends 11-12 00:00 <= cutoff 11-12: drop
        "vehicle_positions_p20261112",  # ends 11-13: keep
        "vehicle_positions_p20261122",
        "vehicle_positions_default",  # not a dated partition: never touched
        "other_table_p20200101",
    }
    assert partitions_to_drop(spec, existing, now) == ["vehicle_positions_p20261111"]


class _RecordingConn:
    """A stand-in connection: answers the catalogue queries, records everything else."""

    def __init__(self, *, timescale: bool, recorded_backend: str | None = None) -> None:
        self.timescale = timescale
        self.recorded_backend = recorded_backend
        self.statements: list[str] = []

    def execute(self, query, params=None):
        text = str(query)
        self.statements.append(text)
        row = None
        if "FROM timeseries_tables" in text:
            row = (self.recorded_backend,) if self.recorded_backend else None
        elif "pg_available_extensions" in text:
            row = (1,) if self.timescale else None
        return type("Cur", (), {"fetchone": lambda self_: row, "fetchall": lambda self_: []})()


def test_timescale_is_chosen_when_the_extension_is_available():
    from db.timeseries import create_series, store_for

    spec = positions_spec()
    conn = _RecordingConn(timescale=True)
    store = create_series(conn, spec)
    assert store.backend == "timescaledb"
    issued = [
        s for s in conn.statements if "timeseries_tables" not in s and "pg_available" not in s
    ]
    assert issued == timescale_ddl(spec)
    assert any("INSERT INTO timeseries_tables" in s for s in conn.statements)
    # Without the extension the partitioned store is chosen ...
    assert store_for(_RecordingConn(timescale=False), spec).backend == "partitioned"
    # ... and what was recorded at creation wins over detection later.
    assert (
        store_for(_RecordingConn(timescale=True, recorded_backend="partitioned"), spec).backend
        == "partitioned"
    )
