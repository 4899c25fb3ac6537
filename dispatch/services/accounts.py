"""User accounts: every change that alters what a user may do ends their sessions at once.

Password change, deactivation, a change of roles: the user's open sessions are ended in the
same transaction (``user_sessions.ended_at``), so an old token — header or cookie —
stops working on its next request. Passwords arrive here already hashed (``web.auth``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import psycopg

from dispatch.errors import Invalid, NotFound
from dispatch.models import User
from dispatch.store import sessions as sstore
from dispatch.store import users as ustore

# A carrier's own staff run its fleet; booking and the registries are the region's job
# (docs/security.md, "Who sees what").
CARRIER_ROLES = frozenset({"dispatcher", "controller"})


def check_carrier_roles(roles: Sequence[str], carrier_id: int | None) -> None:
    if carrier_id is not None and not set(roles) <= CARRIER_ROLES:
        raise Invalid(
            "Сотруднику перевозчика допустимы только роли dispatcher и controller",
            code="carrier_roles",
        )


def _must(conn: psycopg.Connection, user_id: int) -> User:
    user = ustore.get_user(conn, user_id=user_id)
    if user is None:
        raise NotFound("Пользователь не найден", code="not_found")
    return user


def create_user(
    conn: psycopg.Connection,
    *,
    login: str,
    full_name: str,
    password_hash: str,
    roles: Sequence[str],
    carrier_id: int | None,
) -> User:
    """A new user; an existing login is refused (``Conflict``), never silently reset."""
    check_carrier_roles(roles, carrier_id)
    return ustore.create_user(
        conn,
        login=login,
        full_name=full_name,
        password_hash=password_hash,
        roles=sorted(set(roles)),
        carrier_id=carrier_id,
    )


def change_password(
    conn: psycopg.Connection, *, user_id: int, password_hash: str, now: datetime
) -> int:
    """Set a new password hash; every session of the user ends. The number ended."""
    _must(conn, user_id)
    ustore.set_password_hash(conn, user_id=user_id, password_hash=password_hash)
    return sstore.end_user_sessions(conn, user_id=user_id, now=now, reason="password_changed")


def set_active(conn: psycopg.Connection, *, user_id: int, active: bool, now: datetime) -> User:
    _must(conn, user_id)
    ustore.set_active(conn, user_id=user_id, active=active)
    if not active:
        sstore.end_user_sessions(conn, user_id=user_id, now=now, reason="deactivated")
    return _must(conn, user_id)


def set_roles(
    conn: psycopg.Connection, *, user_id: int, roles: Sequence[str], now: datetime
) -> User:
    user = _must(conn, user_id)
    check_carrier_roles(roles, user.carrier_id)
    ustore.set_roles(conn, user_id=user_id, roles=sorted(set(roles)))
    sstore.end_user_sessions(conn, user_id=user_id, now=now, reason="roles_changed")
    return _must(conn, user_id)


def end_sessions(conn: psycopg.Connection, *, user_id: int, now: datetime, reason: str) -> int:
    _must(conn, user_id)
    return sstore.end_user_sessions(conn, user_id=user_id, now=now, reason=reason)
