"""Authentication: password hashing, signed bearer tokens, and the user/role dependencies.

Passwords are hashed with Argon2id through ``argon2-cffi`` (the reference implementation's
binding, maintained by the ``attrs`` author; Argon2id is the OWASP and RFC 9106 recommendation).
Its default parameters (64 MiB, t=3) are kept, ``check_needs_rehash`` upgrades old hashes on login.
``hashlib.scrypt`` would also do, but we would own the parameter encoding and upgrade logic.

Tokens are ``v1.<payload>.<signature>``: a base64url JSON payload ``{"sub": user id, "iat", "exp"}``
signed with HMAC-SHA256 under ``settings.secret_key``. They expire (``TOKEN_TTL``); the user and
their roles are re-read on every request, so deactivating a user or changing roles takes effect at
once. The same token travels as ``Authorization: Bearer`` (API clients) or in an HttpOnly cookie
(the pages).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Annotated

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from dispatch.models import User
from dispatch.services import PermissionDenied
from dispatch.store import users as ustore
from web.deps import Conn, NowDep, SettingsDep

TOKEN_TTL = timedelta(hours=12)
COOKIE_NAME = "socialtaxi_session"
ROLES = ("operator", "dispatcher", "controller", "supervisor", "admin")


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


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), f"v1.{payload}".encode(), hashlib.sha256).digest())


def issue_token(
    *, user_id: int, secret: str, now: datetime, ttl: timedelta = TOKEN_TTL
) -> tuple[str, datetime]:
    """A signed token for ``user_id`` and its expiry (UTC)."""
    exp = now + ttl
    body = json.dumps(
        {"sub": user_id, "iat": int(now.timestamp()), "exp": int(exp.timestamp())},
        separators=(",", ":"),
    )
    payload = _b64(body.encode())
    return f"v1.{payload}.{_sign(secret, payload)}", exp


class TokenInvalid(Exception):
    """Malformed, forged or expired token."""


def read_token(token: str, *, secret: str, now: datetime) -> int:
    """The user id in a valid, unexpired token; :class:`TokenInvalid` otherwise."""
    try:
        version, payload, sig = token.split(".")
    except ValueError:
        raise TokenInvalid("malformed") from None
    if version != "v1" or not hmac.compare_digest(sig, _sign(secret, payload)):
        raise TokenInvalid("bad signature")
    try:
        data = json.loads(_unb64(payload))
        user_id, exp = int(data["sub"]), int(data["exp"])
    except (ValueError, KeyError, TypeError):
        raise TokenInvalid("bad payload") from None
    if now.timestamp() >= exp:
        raise TokenInvalid("expired")
    return user_id


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


# --- dependencies ----------------------------------------------------------------------------
_bearer = HTTPBearer(auto_error=False, description="Токен из POST /api/v1/auth/login")
_cookie = APIKeyCookie(name=COOKIE_NAME, auto_error=False, description="Сессия страниц (HttpOnly)")

_UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


def current_user(
    request: Request,
    conn: Conn,
    settings: SettingsDep,
    now: NowDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> User:
    """The user behind the request's bearer token (or session cookie); 401 without a valid one."""
    token = bearer.credentials if bearer is not None else cookie
    if not token:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "Требуется вход в систему", headers=_UNAUTHORIZED
        )
    try:
        user_id = read_token(token, secret=settings.secret_key.get_secret_value(), now=now)
    except TokenInvalid:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Сессия недействительна или истекла: войдите снова",
            headers=_UNAUTHORIZED,
        ) from None
    user = ustore.get_user(conn, user_id=user_id)
    if user is None or not user.active:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "Пользователь заблокирован", headers=_UNAUTHORIZED
        )
    request.state.user_id = user.id
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
