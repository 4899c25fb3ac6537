"""Opening connections with one clear error when the database cannot be reached."""

from __future__ import annotations

import re

import psycopg


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached; the message is one line, without the password."""


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    url = re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)
    return re.sub(r"(password=)\S+", r"\1***", url)


def connect(url: str, *, autocommit: bool = False, connect_timeout: int = 5) -> psycopg.Connection:
    """Connect to ``url`` or raise :class:`DatabaseUnavailable` with a one-line reason."""
    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=connect_timeout)
    except psycopg.OperationalError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        reason = lines[0] if lines else type(exc).__name__
        raise DatabaseUnavailable(f"{mask_url(url)}: {reason}") from None
