"""Dispatch exceptions. Each carries a Russian message for the user; ``web/`` maps the classes to
HTTP status codes in one place."""

from __future__ import annotations


class DispatchError(Exception):
    """Base class; ``message`` is shown to the user as is (Russian)."""

    def __init__(self, message: str, *, code: str = "dispatch_error") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class NotFound(DispatchError):
    """The thing asked for does not exist (HTTP 404)."""


class Invalid(DispatchError):
    """Input that cannot be accepted (HTTP 422)."""


class Conflict(DispatchError):
    """The request clashes with the current state (HTTP 409)."""


class IllegalTransition(Conflict):
    """A trip cannot move from its current state by the requested action."""
