"""A finding's review as an explicit state machine (like :mod:`dispatch.lifecycle`).

    new → confirmed | dismissed
    confirmed | dismissed → new        (reopened, e.g. after the evidence changed)

Deciding is kept apart from applying: :func:`review` says what a review does, the shell
(``audit/service.py``) writes the finding and its history row. Every transition needs a reviewer
and a comment.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["FindingStatus", "ReviewError", "TRANSITIONS", "Review", "review", "STATUS_RU"]


class FindingStatus(StrEnum):
    NEW = "new"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"


class ReviewAction(StrEnum):
    CONFIRM = "confirm"
    DISMISS = "dismiss"
    REOPEN = "reopen"


F, R = FindingStatus, ReviewAction

TRANSITIONS: dict[tuple[FindingStatus, ReviewAction], FindingStatus] = {
    (F.NEW, R.CONFIRM): F.CONFIRMED,
    (F.NEW, R.DISMISS): F.DISMISSED,
    (F.CONFIRMED, R.REOPEN): F.NEW,
    (F.DISMISSED, R.REOPEN): F.NEW,
}

STATUS_RU = {F.NEW: "новое", F.CONFIRMED: "подтверждено", F.DISMISSED: "отклонено"}
_ACTION_RU = {R.CONFIRM: "подтвердить", R.DISMISS: "отклонить", R.REOPEN: "вернуть на проверку"}


class ReviewError(Exception):
    """A review that cannot be made; ``message`` is Russian, ``code`` machine-readable."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Review:
    from_status: FindingStatus
    action: ReviewAction
    to_status: FindingStatus
    comment: str


def review(current: FindingStatus | str, action: ReviewAction | str, *, comment: str) -> Review:
    """The review ``action`` makes from ``current``, or :class:`ReviewError`."""
    try:
        cur, act = FindingStatus(current), ReviewAction(action)
    except ValueError:
        raise ReviewError(f"Неизвестное действие «{action}»", code="bad_action") from None
    nxt = TRANSITIONS.get((cur, act))
    if nxt is None:
        raise ReviewError(
            f"Нельзя {_ACTION_RU[act]}: нарушение {STATUS_RU[cur]}", code="illegal_review"
        )
    text = (comment or "").strip()
    if not text:
        raise ReviewError("Укажите комментарий к решению", code="comment_required")
    return Review(cur, act, nxt, text)
