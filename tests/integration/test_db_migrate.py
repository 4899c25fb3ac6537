"""Migrations and the partitioned time-series path against the real PostgreSQL."""

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from db import migrate
from db.timeseries import positions_spec, store_for

EXPECTED_TABLES = {
    "users",
    "roles",
    "user_roles",
    "benefit_categories",
    "passengers",
    "passenger_phones",
    "passenger_benefits",
    "social_objects",
    "carriers",
    "vehicles",
    "drivers",
    "trips",
    "trip_events",
    "payments",
    "documents",
    "vehicle_positions",
    "vehicle_last_position",
    "telemetry_dead_letters",
    "audit_runs",
    "audit_findings",
    "access_log",
    "schema_migrations",
}


def _schema_snapshot(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'public' ORDER BY 1, 2"
        ).fetchall()


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "socialtaxi", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def test_upgrade_creates_schema_then_changes_nothing(empty_db_url):
    first = _cli("db", "upgrade", env={"SOCIALTAXI_DATABASE_URL": empty_db_url})
    assert first.returncode == 0, first.stderr
    assert "0001_core" in first.stdout
    with psycopg.connect(empty_db_url) as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        }
        tables |= {
            r[0]
            for r in conn.execute("SELECT relname FROM pg_class WHERE relkind = 'p'").fetchall()
        }
        indexes = {
            r[0]
            for r in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
            ).fetchall()
        }
    assert EXPECTED_TABLES <= tables
    assert {"passengers_name_trgm", "passenger_phones_norm", "passengers_name_birth"} <= indexes
    before = _schema_snapshot(empty_db_url)

    second = _cli("db", "upgrade", env={"SOCIALTAXI_DATABASE_URL": empty_db_url})
    assert second.returncode == 0, second.stderr
    assert "изменений нет" in second.stdout
    assert _schema_snapshot(empty_db_url) == before


def test_unreachable_database_fails_with_one_clear_line():
    res = _cli(
        "db",
        "upgrade",
        env={"SOCIALTAXI_DATABASE_URL": "postgresql://postgres:hunter2@127.0.0.1:9/x"},
    )
    assert res.returncode == 1
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("Ошибка: база данных недоступна")
    assert "Traceback" not in res.stderr
    assert "hunter2" not in res.stderr  # the password is masked


def test_changed_applied_migration_is_refused(empty_db_url, tmp_path):
    mdir = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, mdir)
    all_versions = [m.version for m in migrate.discover(mdir)]
    assert migrate.upgrade(empty_db_url, directory=mdir) == all_versions
    (mdir / "0001_core.sql").write_text((mdir / "0001_core.sql").read_text() + "\n-- edited\n")
    with pytest.raises(migrate.MigrationError, match="0001_core was changed"):
        migrate.upgrade(empty_db_url, directory=mdir)


def test_failing_migration_rolls_back_and_is_not_recorded(empty_db_url, tmp_path):
    mdir = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, mdir)
    good = [m.version for m in migrate.discover(mdir)]
    (mdir / "9999_broken.sql").write_text(
        "CREATE TABLE half_done (id int);\nSELECT nope FROM nowhere;"
    )
    with pytest.raises(migrate.MigrationError, match="9999_broken failed"):
        migrate.upgrade(empty_db_url, directory=mdir)
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute("SELECT to_regclass('half_done')").fetchone()[0] is None
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert versions == good


def test_partitioned_positions_store_late_rows_and_retention(db):
    spec = positions_spec(retention_days=30)
    store = store_for(db, spec)
    assert store.backend == "partitioned"  # no TimescaleDB on this machine
    now = datetime.now(UTC)
    # A fix from now goes in (partitions were created ahead by the migration).
    db.execute(
        "INSERT INTO vehicle_positions (vehicle_id, ts, lat, lon) VALUES (1, %s, 60.05, 30.45)",
        (now,),
    )
    # A buffered fix from 20 days ago needs its partition first.
    old = now - timedelta(days=20)
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute(
            "INSERT INTO vehicle_positions (vehicle_id, ts, lat, lon) VALUES (1, %s, 60, 30)",
            (old,),
        )
    store.ensure_range(db, old, old)
    db.execute(
        "INSERT INTO vehicle_positions (vehicle_id, ts, lat, lon) VALUES (1, %s, 60, 30)", (old,)
    )
    # Idempotent on (vehicle, time).
    db.execute(
        "INSERT INTO vehicle_positions (vehicle_id, ts, lat, lon) VALUES (1, %s, 60, 30)"
        " ON CONFLICT DO NOTHING",
        (old,),
    )
    assert db.execute("SELECT count(*) FROM vehicle_positions").fetchone()[0] == 2
    # 40 days on, the 20-days-old partition is beyond a 30-day retention and is dropped.
    dropped = store.maintain(db, now + timedelta(days=15))
    assert f"vehicle_positions_p{old:%Y%m%d}" in dropped
    assert db.execute("SELECT count(*) FROM vehicle_positions").fetchone()[0] == 1
    ahead = now + timedelta(days=15 + spec.create_ahead_days)
    assert db.execute("SELECT to_regclass(%s)", (f"vehicle_positions_p{ahead:%Y%m%d}",)).fetchone()[
        0
    ]


def test_seed_loads_categories_from_rules(db, rules):
    rows = dict(db.execute("SELECT code, monthly_limit FROM benefit_categories").fetchall())
    assert rows == {c.code: c.monthly_limit for c in rules.benefit_categories}
