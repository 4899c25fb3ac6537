"""Authentication: password hashing, server-side sessions, and the user/role dependencies.

Passwords are hashed with Argon2id through ``argon2-cffi`` (the reference implementation's
binding, maintained by the ``attrs`` author; Argon2id is the OWASP and RFC 9106 recommendation).
Its default parameters (64 MiB, t=3) are kept, ``check_needs_rehash`` upgrades old hashes on login.
``hashlib.scrypt`` would also do, but we would own the parameter encoding and upgrade logic.

Sessions are server-side (table ``user_sessions``): login hands out a random token (format and
parsing in :mod:`web.credentials`) and stores its SHA-256. Every request looks the session up
with its user's current roles and carrier: logout, a password change, deactivation, a change of
roles, or an administrator end it at once (:mod:`dispatch.services.accounts`); it also lapses after
``session_absolute_hours`` and ``session_idle_minutes``. The same token travels as
``Authorization: Bearer`` (API clients) or in an HttpOnly cookie (the pages).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Annotated

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from config.settings import Settings
from dispatch.models import User
from dispatch.services import PermissionDenied
from dispatch.store import sessions as sstore
from dispatch.store import users as ustore
from web.credentials import (
    LockoutPolicy,
    SessionState,
    SessionTimes,
    TokenInvalid,
    locked_for,
    lockout_after,
    needs_touch,
    new_token,
    parse_token,
    session_state,
    token_digest,
)
from web.deps import Conn, NowDep, SettingsDep

COOKIE_NAME = "socialtaxi_session"
ROLES = ("operator", "dispatcher", "controller", "supervisor", "admin")

__all__ = ["TokenInvalid", "open_session", "current_user", "require_roles", "hash_password"]


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()


def hash_password(password: str) -> str:
    """An Argon2id hash (PHC string, parameters and salt included)."""
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return _hasher().check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


# A hash to verify against when the login is unknown, so the answer takes as long either way.
@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password("not-a-real-password")


def open_session(
    conn: psycopg.Connection,
    *,
    user_id: int,
    now: datetime,
    lifetime: timedelta,
    client_addr: str | None = None,
    user_agent: str | None = None,
) -> tuple[str, datetime]:
    """A new session for ``user_id``: its token (shown once, stored hashed) and expiry (UTC)."""
    token = new_token()
    expires_at = now + lifetime
    sstore.open_session(
        conn,
        user_id=user_id,
        token_sha256=token_digest(token),
        now=now,
        expires_at=expires_at,
        client_addr=client_addr,
        user_agent=user_agent,
    )
    return token, expires_at


def session_lifetime(settings: Settings) -> timedelta:
    return timedelta(hours=settings.session_absolute_hours)


def authenticate(conn: psycopg.Connection, *, login: str, password: str) -> User | None:
    """The active user with this login and password, or ``None``."""
    found = ustore.get_user_with_hash(conn, login=login)
    if found is None:
        verify_password(_dummy_hash(), password)
        return None
    user, pw_hash = found
    if not verify_password(pw_hash, password) or not user.active:
        return None
    if needs_rehash(pw_hash):
        ustore.set_password_hash(conn, user_id=user.id, password_hash=hash_password(password))
    return user


# --- login with the brute-force lockout -------------------------------------------------------
security_log = logging.getLogger("web.security")


class LoginLocked(Exception):
    """Too many failures for this login or address: refused for ``retry_after`` (HTTP 429)."""

    def __init__(self, retry_after: timedelta) -> None:
        super().__init__("locked")
        self.retry_after = retry_after


def _policies(settings: Settings) -> tuple[LockoutPolicy, LockoutPolicy]:
    per_login = LockoutPolicy(
        settings.login_max_failures, settings.login_lockout_base_s, settings.login_lockout_max_s
    )
    per_addr = LockoutPolicy(
        settings.login_max_failures_per_address,
        settings.login_lockout_base_s,
        settings.login_lockout_max_s,
    )
    return per_login, per_addr


def attempt_login(
    conn: psycopg.Connection,
    *,
    login: str,
    password: str,
    client_addr: str,
    user_agent: str | None,
    now: datetime,
    settings: Settings,
) -> tuple[User, str, datetime] | None:
    """Check a login: the user, a new session token and its expiry; ``None`` for a wrong login
    or password. The caller commits either way (failures must be counted).

    Raises
    ------
    LoginLocked
        The login or the address is locked; the password is not even checked.
    """
    login_key, addr_key = f"login:{login.casefold()}", f"addr:{client_addr}"
    sstore.serialise_attempts(conn, key=login_key)
    rows = sstore.failure_rows(conn, keys=[login_key, addr_key])
    left = [locked_for(r["locked_until"], now) for r in rows.values()]
    locked = [d for d in left if d is not None]
    if locked:
        sstore.record_event(conn, at=now, kind="login_while_locked", login=login,
                            client_addr=client_addr)  # fmt: skip
        conn.commit()  # the attempt is on record although the answer is an error
        raise LoginLocked(max(locked))
    user = authenticate(conn, login=login, password=password)
    if user is None:
        window = now - timedelta(seconds=settings.login_lockout_max_s)
        sstore.record_event(conn, at=now, kind="login_failed", login=login,
                            client_addr=client_addr)  # fmt: skip
        for key, policy in zip((login_key, addr_key), _policies(settings), strict=True):
            failures = sstore.add_failure(conn, key=key, now=now, reset_before=window)
            lock = lockout_after(failures, policy)
            if lock is not None:
                sstore.lock(conn, key=key, until=now + lock)
                sstore.record_event(
                    conn, at=now, kind="login_locked", login=login, client_addr=client_addr,
                    detail={"key": key.split(":")[0], "failures": failures,
                            "locked_s": lock.total_seconds()},
                )  # fmt: skip
                # (never the password; the login and address are the point of the event)
                security_log.warning(
                    "security: login locked for %.0f s after %d failures (%s)",
                    lock.total_seconds(), failures, key.split(":")[0],
                )  # fmt: skip
        return None
    sstore.clear_failures(conn, key=login_key)
    token, expires_at = open_session(
        conn,
        user_id=user.id,
        now=now,
        lifetime=session_lifetime(settings),
        client_addr=client_addr,
        user_agent=user_agent,
    )
    return user, token, expires_at


# --- dependencies ----------------------------------------------------------------------------
_bearer = HTTPBearer(auto_error=False, description="Токен из POST /api/v1/auth/login")
_cookie = APIKeyCookie(name=COOKIE_NAME, auto_error=False, description="Сессия страниц (HttpOnly)")

_UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


def _refuse(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message, headers=_UNAUTHORIZED)


def _bearer_token(request: Request) -> str | None:
    """The bearer token of the request, or ``None``; any malformed header is ``TokenInvalid``."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        raise TokenInvalid("not bearer")
    return value.strip()


def current_user(
    request: Request,
    conn: Conn,
    settings: SettingsDep,
    now: NowDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> User:
    """The user behind the request's session (bearer token or cookie); 401 without a live one.

    (``bearer`` and ``cookie`` are declared for the OpenAPI document; the header is re-read
    here so that a malformed one is refused instead of silently falling back to the cookie.)
    """
    try:
        raw = _bearer_token(request)
        if raw is None:
            raw = cookie
        if not raw:
            raise _refuse("Требуется вход в систему")
        digest = token_digest(parse_token(raw))
    except TokenInvalid:
        raise _refuse("Сессия недействительна или истекла: войдите снова") from None
    row = sstore.session_with_user(conn, token_sha256=digest)
    if row is None:
        raise _refuse("Сессия недействительна или истекла: войдите снова")
    times = SessionTimes(row["created_at"], row["last_seen_at"], row["expires_at"], row["ended_at"])
    state = session_state(
        times,
        user_active=row["active"],
        now=now,
        idle=timedelta(minutes=settings.session_idle_minutes),
    )
    if state is SessionState.USER_INACTIVE:
        raise _refuse("Пользователь заблокирован")
    if state is not SessionState.ACTIVE:
        raise _refuse("Сессия недействительна или истекла: войдите снова")
    if needs_touch(times.last_seen_at, now):
        sstore.touch_session(conn, session_id=row["session_id"], now=now)
    user = User.model_validate(row)
    request.state.user_id = user.id
    request.state.session_id = row["session_id"]
    return user


CurrentUser = Annotated[User, Depends(current_user)]

_ROLES_RU = {
    "operator": "оператор",
    "dispatcher": "диспетчер",
    "controller": "контролёр",
    "supervisor": "старший смены",
    "admin": "администратор",
}


def require_roles(*roles: str) -> Callable[[User], User]:
    """A dependency that passes the current user on when they hold one of ``roles`` (else 403).

    Use as ``Annotated[User, Depends(require_roles("operator", "admin"))]``.
    """
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")

    def dependency(user: CurrentUser) -> User:
        if not set(user.roles) & set(roles):
            raise PermissionDenied(
                "Недостаточно прав: нужна роль " + " или ".join(_ROLES_RU[r] for r in roles),
                code="forbidden",
            )
        return user

    dependency.required_roles = roles  # type: ignore[attr-defined]
    return dependency


ALL_ROLES = ROLES
Anyone = Annotated[User, Depends(require_roles(*ROLES))]
Operator = Annotated[User, Depends(require_roles("operator", "dispatcher", "supervisor", "admin"))]
Registrar = Annotated[User, Depends(require_roles("operator", "supervisor", "admin"))]
FleetAdmin = Annotated[User, Depends(require_roles("supervisor", "admin"))]
Dispatcher = Annotated[User, Depends(require_roles("dispatcher", "supervisor", "admin"))]
Canceller = Annotated[User, Depends(require_roles("operator", "dispatcher", "supervisor", "admin"))]
Monitor = Annotated[User, Depends(require_roles("dispatcher", "controller", "supervisor", "admin"))]
