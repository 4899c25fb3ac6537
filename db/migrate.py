"""An ordered migration runner with a versions table.

Migrations are files in ``db/migrations``: ``NNNN_name.sql`` (run as one script) or
``NNNN_name.py`` (a module with ``upgrade(conn, **context)``, for DDL that depends on the server,
such as the time-series backend). They run in file-name order, each in its own transaction, under
an advisory lock so two processes never migrate at once. Applied versions are recorded with a
checksum; an applied migration whose file has since changed is refused.

Numbering: 00xx foundation, 02xx dispatch, 03xx telemetry, 04xx audit, 05xx web.

Alembic was considered: it brings SQLAlchemy for nothing else here (the project uses psycopg
directly), and the time-series DDL is chosen at run time anyway; this runner is ~100 lines.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from db.connect import connect

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_ID = 0x50C1A17A  # pg_advisory_lock key for migrations

# Checksums of migration files as they were applied before a change that does not alter what they
# do. 0002_positions.py imported ``socialtaxi.db.timeseries`` until the database package moved to
# ``db/`` (a bottom layer); databases migrated before the move recorded this checksum.
_EQUIVALENT_CHECKSUMS: dict[str, frozenset[str]] = {
    "0002_positions": frozenset(
        {"8019d1c30b9b7770fdc269842c33214f84fb109c9ed4bf5c9b04a64ba7ab933c"}
    ),
}


class MigrationError(RuntimeError):
    """A migration could not be applied, or an applied one was changed."""


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """All migration files, in order."""
    files = [
        p
        for p in directory.iterdir()
        if p.suffix in (".sql", ".py") and p.name[:4].isdigit() and not p.name.startswith("__")
    ]
    return [Migration(p.stem, p) for p in sorted(files, key=lambda p: p.name)]


def _ensure_versions_table(conn: psycopg.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version text PRIMARY KEY, checksum text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )


def _run_one(conn: psycopg.Connection, m: Migration, context: dict[str, Any]) -> None:
    if m.path.suffix == ".sql":
        conn.execute(m.path.read_text(encoding="utf-8"))  # type: ignore[arg-type]
        return
    spec = importlib.util.spec_from_file_location(f"_migration_{m.version}", m.path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.upgrade(conn, **context)


def applied_versions(conn: psycopg.Connection) -> dict[str, str]:
    _ensure_versions_table(conn)
    return dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())


def upgrade(
    url: str,
    *,
    context: dict[str, Any] | None = None,
    directory: Path = MIGRATIONS_DIR,
    create_database: bool = True,
) -> list[str]:
    """Apply pending migrations to the database at ``url``; return the versions applied.

    When ``create_database`` is set and the database does not exist yet, it is created first
    (the server must be reachable).
    """
    context = context or {"retention_days": 1095, "compress_after_days": 7}
    if create_database:
        ensure_database(url)
    applied: list[str] = []
    with connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            done = applied_versions(conn)
            for m in discover(directory):
                if m.version in done:
                    known = _EQUIVALENT_CHECKSUMS.get(m.version, frozenset())
                    if done[m.version] != m.checksum and done[m.version] not in known:
                        raise MigrationError(
                            f"migration {m.version} was changed after it was applied; "
                            "write a new migration instead"
                        )
                    continue
                try:
                    with conn.transaction():
                        _run_one(conn, m, context)
                        conn.execute(
                            "INSERT INTO schema_migrations (version, checksum) VALUES (%s, %s)",
                            (m.version, m.checksum),
                        )
                except psycopg.Error as exc:
                    raise MigrationError(f"migration {m.version} failed: {exc}".strip()) from exc
                applied.append(m.version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied


def ensure_database(url: str) -> bool:
    """Create the database named in ``url`` if it does not exist; return whether it was created."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    name = str(info.get("dbname") or "")
    if not name:
        return False
    admin = psycopg.conninfo.make_conninfo(url, dbname="postgres")
    with connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return False
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
        return True


def status(url: str, directory: Path = MIGRATIONS_DIR) -> list[tuple[str, bool]]:
    """Every known migration with whether it is applied."""
    with connect(url, autocommit=True) as conn:
        done = applied_versions(conn)
    return [(m.version, m.version in done) for m in discover(directory)]
