"""Users and their roles (tables ``users``, ``user_roles``)."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from dispatch.models import User
from dispatch.store._sql import db_errors, fetch_all, fetch_one

_SELECT = (
    "SELECT u.id, u.login, u.full_name, u.carrier_id, u.active, u.password_hash,"
    " COALESCE(ARRAY(SELECT role FROM user_roles r WHERE r.user_id = u.id ORDER BY role), '{}')"
    " AS roles FROM users u"
)


def get_user(conn: psycopg.Connection, *, user_id: int) -> User | None:
    row = fetch_one(conn, _SELECT + " WHERE u.id = %s", (user_id,))
    return None if row is None else User.model_validate(row)


def get_user_with_hash(conn: psycopg.Connection, *, login: str) -> tuple[User, str] | None:
    row = fetch_one(conn, _SELECT + " WHERE u.login = %s", (login,))
    if row is None:
        return None
    return User.model_validate(row), row["password_hash"]


def set_password_hash(conn: psycopg.Connection, *, user_id: int, password_hash: str) -> None:
    conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (password_hash, user_id))


def upsert_user(
    conn: psycopg.Connection,
    *,
    login: str,
    full_name: str,
    password_hash: str,
    roles: Sequence[str],
    carrier_id: int | None = None,
) -> User:
    """Create the user, or reset the password, name and roles of an existing one."""
    return _insert_user(conn, login=login, full_name=full_name, password_hash=password_hash,
                        roles=roles, carrier_id=carrier_id, reset=True)  # fmt: skip


def create_user(
    conn: psycopg.Connection,
    *,
    login: str,
    full_name: str,
    password_hash: str,
    roles: Sequence[str],
    carrier_id: int | None = None,
) -> User:
    """Create a user; :class:`~dispatch.errors.Conflict` when the login exists (never a reset)."""
    return _insert_user(conn, login=login, full_name=full_name, password_hash=password_hash,
                        roles=roles, carrier_id=carrier_id, reset=False)  # fmt: skip


_ON_LOGIN = {
    True: " ON CONFLICT (login) DO UPDATE SET full_name = EXCLUDED.full_name,"
    " password_hash = EXCLUDED.password_hash, carrier_id = EXCLUDED.carrier_id, active = true",
    False: "",  # the unique login raises; db_errors() makes it a Conflict
}


def _insert_user(
    conn: psycopg.Connection,
    *,
    login: str,
    full_name: str,
    password_hash: str,
    roles: Sequence[str],
    carrier_id: int | None,
    reset: bool,
) -> User:
    """Insert the user (``reset``: or reset the existing one of that login) with ``roles``."""
    with db_errors():
        row = fetch_one(
            conn,
            "INSERT INTO users (login, full_name, password_hash, carrier_id)"
            " VALUES (%s, %s, %s, %s)" + _ON_LOGIN[reset] + " RETURNING id",
            (login, full_name, password_hash, carrier_id),
        )
        assert row is not None
        set_roles(conn, user_id=int(row["id"]), roles=roles)
    user = get_user(conn, user_id=int(row["id"]))
    assert user is not None
    return user


def get_user_by_login(conn: psycopg.Connection, *, login: str) -> User | None:
    row = fetch_one(conn, _SELECT + " WHERE u.login = %s", (login,))
    return None if row is None else User.model_validate(row)


def list_users(conn: psycopg.Connection) -> list[User]:
    return [User.model_validate(r) for r in fetch_all(conn, _SELECT + " ORDER BY u.login")]


def set_active(conn: psycopg.Connection, *, user_id: int, active: bool) -> bool:
    cur = conn.execute("UPDATE users SET active = %s WHERE id = %s", (active, user_id))
    return cur.rowcount == 1


def set_roles(conn: psycopg.Connection, *, user_id: int, roles: Sequence[str]) -> None:
    with db_errors():
        conn.execute("DELETE FROM user_roles WHERE user_id = %s", (user_id,))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO user_roles (user_id, role) VALUES (%s, %s)",
                [(user_id, r) for r in roles],
            )
