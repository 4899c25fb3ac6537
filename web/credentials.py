"""Session tokens, session lifetimes and the login lockout: the pure decisions behind
:mod:`web.auth` (no database, no HTTP).

A session token is ``st_`` and 43 URL-safe base64 characters (32 random bytes from
:mod:`secrets`). Only its SHA-256 is stored (``user_sessions.token_sha256``); the token itself is
never logged. Anything else a client sends — another format, non-ASCII, a stray dot — is refused by
:func:`parse_token` with :class:`TokenInvalid`, never with another exception (fuzzed in
``tests/security``). Nothing here is cryptographically clever: the token is an opaque random
capability looked up server-side, so a leaked secret key forges nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

TOKEN_PREFIX = "st_"
_TOKEN = re.compile(r"st_[A-Za-z0-9_-]{43}")
TOKEN_MAX_CHARS = 64


class TokenInvalid(Exception):
    """Not a session token of ours (malformed, wrong length, non-ASCII...)."""


def new_token() -> str:
    """A fresh random session token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def parse_token(raw: object) -> str:
    """``raw`` when it is a well-formed session token; :class:`TokenInvalid` otherwise."""
    if not isinstance(raw, str) or len(raw) > TOKEN_MAX_CHARS or not raw.isascii():
        raise TokenInvalid("malformed")
    if _TOKEN.fullmatch(raw) is None:
        raise TokenInvalid("malformed")
    return raw


def token_digest(token: str) -> bytes:
    """The SHA-256 stored for ``token`` (32 bytes)."""
    return hashlib.sha256(token.encode("ascii")).digest()


class SessionState(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"  # logout, password/role/carrier change, deactivation, ended by an admin
    EXPIRED = "expired"  # absolute lifetime over
    IDLE = "idle"  # no request for longer than the idle lifetime
    USER_INACTIVE = "user_inactive"


@dataclass(frozen=True)
class SessionTimes:
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ended_at: datetime | None


def session_state(
    s: SessionTimes, *, user_active: bool, now: datetime, idle: timedelta
) -> SessionState:
    """Whether a session still lets its user in at ``now`` (UTC-aware)."""
    if s.ended_at is not None:
        return SessionState.ENDED
    if not user_active:
        return SessionState.USER_INACTIVE
    if now >= s.expires_at:
        return SessionState.EXPIRED
    if now - s.last_seen_at >= idle:
        return SessionState.IDLE
    return SessionState.ACTIVE


# How stale ``last_seen_at`` may get before a request writes it again (one write a minute per
# session, not one per request); far below any sensible idle lifetime.
TOUCH_EVERY = timedelta(seconds=60)


def needs_touch(last_seen_at: datetime, now: datetime) -> bool:
    return now - last_seen_at >= TOUCH_EVERY


@dataclass(frozen=True)
class LockoutPolicy:
    """After ``max_failures`` consecutive failures the key is locked for ``base_s``, doubled for
    each further failure, at most ``max_s``."""

    max_failures: int
    base_s: float
    max_s: float


def lockout_after(failures: int, policy: LockoutPolicy) -> timedelta | None:
    """How long a key with ``failures`` consecutive failures is locked, or ``None``."""
    if failures < policy.max_failures:
        return None
    extra = min(failures - policy.max_failures, 32)
    return timedelta(seconds=min(policy.base_s * 2**extra, policy.max_s))


def locked_for(locked_until: datetime | None, now: datetime) -> timedelta | None:
    """Time left on a lock, or ``None`` when the key is not locked."""
    if locked_until is None or locked_until <= now:
        return None
    return locked_until - now
