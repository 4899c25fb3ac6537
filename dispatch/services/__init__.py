"""Dispatch services: the imperative shell around the pure dispatch modules.

Each service function takes a psycopg connection first and everything else keyword-only, loads
what it needs through :mod:`dispatch.store`, lets a pure module decide, and persists the result.
They know nothing of HTTP: errors are :mod:`dispatch.errors` (plus the few below), which ``web/``
maps to status codes in one place. The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dispatch.errors import Conflict, DispatchError, Invalid


class PermissionDenied(DispatchError):
    """The user is authenticated but their roles do not allow this (HTTP 403)."""


class Unavailable(DispatchError):
    """A dependency the operation needs is not there, e.g. no road graph loaded (HTTP 503)."""


class BookingRefused(Invalid):
    """A booking (or its preview) refused for one or more reasons (HTTP 422).

    ``refusals`` are :class:`dispatch.eligibility.Refusal` values (code, field, Russian message).
    """

    def __init__(self, refusals: Sequence[Any]) -> None:
        self.refusals = list(refusals)
        super().__init__("; ".join(r.message for r in self.refusals), code="booking_refused")


class QuotaExceeded(Conflict):
    """Booking would exceed the passenger's quota and no valid override was given (HTTP 409)."""

    def __init__(self, message: str, *, quota: Any) -> None:
        super().__init__(message, code="quota_exceeded")
        self.quota = quota


class AssignmentConflicts(Conflict):
    """The vehicle cannot serve the trip without clashing with its other trips (HTTP 409)."""

    def __init__(self, message: str, *, conflicts: Sequence[Any]) -> None:
        super().__init__(message, code="assignment_conflict")
        self.conflicts = list(conflicts)


def require_any_role(actor: Any, roles: Sequence[str], message: str) -> None:
    """Raise :class:`PermissionDenied` unless ``actor`` holds one of ``roles``."""
    if not set(getattr(actor, "roles", ())) & set(roles):
        raise PermissionDenied(message, code="forbidden")
