"""Server-side sessions, login failure counters and security events (tables ``user_sessions``,
``login_failures``, ``security_events``; migration 0500). Tokens are stored as SHA-256 only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from dispatch.store._sql import fetch_all, fetch_one

_SESSION_USER = (
    "SELECT s.id AS session_id, s.created_at, s.last_seen_at, s.expires_at, s.ended_at,"
    " u.id, u.login, u.full_name, u.carrier_id, u.active,"
    " COALESCE(ARRAY(SELECT role FROM user_roles r WHERE r.user_id = u.id ORDER BY role), '{}')"
    " AS roles FROM user_sessions s JOIN users u ON u.id = s.user_id"
    " WHERE s.token_sha256 = %s"
)


def open_session(
    conn: psycopg.Connection,
    *,
    user_id: int,
    token_sha256: bytes,
    now: datetime,
    expires_at: datetime,
    client_addr: str | None = None,
    user_agent: str | None = None,
) -> int:
    row = fetch_one(
        conn,
        "INSERT INTO user_sessions (user_id, token_sha256, created_at, last_seen_at, expires_at,"
        " client_addr, user_agent) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (user_id, token_sha256, now, now, expires_at, client_addr, (user_agent or "")[:300]),
    )
    assert row is not None
    return int(row["id"])


def session_with_user(conn: psycopg.Connection, *, token_sha256: bytes) -> dict[str, Any] | None:
    """The session and its user's current row and roles, or ``None``."""
    return fetch_one(conn, _SESSION_USER, (token_sha256,))


def touch_session(conn: psycopg.Connection, *, session_id: int, now: datetime) -> None:
    conn.execute("UPDATE user_sessions SET last_seen_at = %s WHERE id = %s", (now, session_id))


def end_session(conn: psycopg.Connection, *, session_id: int, now: datetime, reason: str) -> None:
    conn.execute(
        "UPDATE user_sessions SET ended_at = %s, end_reason = %s"
        " WHERE id = %s AND ended_at IS NULL",
        (now, reason, session_id),
    )


def end_user_sessions(conn: psycopg.Connection, *, user_id: int, now: datetime, reason: str) -> int:
    """End every open session of the user; the number ended."""
    cur = conn.execute(
        "UPDATE user_sessions SET ended_at = %s, end_reason = %s"
        " WHERE user_id = %s AND ended_at IS NULL",
        (now, reason, user_id),
    )
    return cur.rowcount


def open_sessions(
    conn: psycopg.Connection, *, user_id: int, now: datetime, idle_since: datetime
) -> list[dict[str, Any]]:
    """The user's sessions that still let them in (not ended, not expired, not idle)."""
    return fetch_all(
        conn,
        "SELECT id, created_at, last_seen_at, expires_at, client_addr, user_agent"
        " FROM user_sessions WHERE user_id = %s AND ended_at IS NULL AND expires_at > %s"
        " AND last_seen_at > %s ORDER BY created_at DESC",
        (user_id, now, idle_since),
    )


# --- login failures ---------------------------------------------------------------------------
def serialise_attempts(conn: psycopg.Connection, *, key: str) -> None:
    """Make concurrent login attempts on ``key`` run one after another (until commit), so a
    burst of parallel guesses cannot all pass the lockout check before the first is counted."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 509))", (key,))


def failure_rows(conn: psycopg.Connection, *, keys: list[str]) -> dict[str, dict[str, Any]]:
    rows = fetch_all(
        conn,
        "SELECT key, failures, last_failed_at, locked_until FROM login_failures"
        " WHERE key = ANY(%s)",
        (keys,),
    )
    return {r["key"]: r for r in rows}


def add_failure(
    conn: psycopg.Connection, *, key: str, now: datetime, reset_before: datetime
) -> int:
    """Count one more consecutive failure of ``key`` (starting again from 1 when the last one
    was before ``reset_before``); the new count."""
    row = fetch_one(
        conn,
        "INSERT INTO login_failures (key, failures, last_failed_at) VALUES (%s, 1, %s)"
        " ON CONFLICT (key) DO UPDATE SET failures = CASE"
        " WHEN login_failures.last_failed_at < %s THEN 1 ELSE login_failures.failures + 1 END,"
        " last_failed_at = EXCLUDED.last_failed_at RETURNING failures",
        (key, now, reset_before),
    )
    assert row is not None
    return int(row["failures"])


def lock(conn: psycopg.Connection, *, key: str, until: datetime) -> None:
    conn.execute("UPDATE login_failures SET locked_until = %s WHERE key = %s", (until, key))


def clear_failures(conn: psycopg.Connection, *, key: str) -> None:
    conn.execute("DELETE FROM login_failures WHERE key = %s", (key,))


def record_event(
    conn: psycopg.Connection,
    *,
    at: datetime,
    kind: str,
    login: str | None = None,
    client_addr: str | None = None,
    user_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        "INSERT INTO security_events (at, kind, login, client_addr, user_id, detail)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (at, kind, login, client_addr, user_id, Jsonb(detail or {})),
    )
