"""The trip lifecycle as an explicit state machine.

    booked → assigned → en_route → at_pickup → on_board → completed
    booked | assigned | en_route | at_pickup → cancelled
    at_pickup → no_show (reason required)
    assigned → booked (vehicle unassigned)

Every accepted change becomes a trip event (written by the shell); this module only decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dispatch.errors import IllegalTransition, Invalid


class TripStatus(StrEnum):
    BOOKED = "booked"
    ASSIGNED = "assigned"
    EN_ROUTE = "en_route"
    AT_PICKUP = "at_pickup"
    ON_BOARD = "on_board"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


class TripAction(StrEnum):
    ASSIGN = "assign"
    UNASSIGN = "unassign"
    START = "start"  # vehicle sets off to the pickup
    ARRIVE = "arrive"  # arrived at pickup
    BOARD = "board"  # passenger on board
    COMPLETE = "complete"  # arrived at destination, trip done
    CANCEL = "cancel"
    NO_SHOW = "no_show"


S, A = TripStatus, TripAction

TRANSITIONS: dict[tuple[TripStatus, TripAction], TripStatus] = {
    (S.BOOKED, A.ASSIGN): S.ASSIGNED,
    (S.ASSIGNED, A.ASSIGN): S.ASSIGNED,  # reassignment to another vehicle
    (S.ASSIGNED, A.UNASSIGN): S.BOOKED,
    (S.ASSIGNED, A.START): S.EN_ROUTE,
    (S.EN_ROUTE, A.ARRIVE): S.AT_PICKUP,
    (S.AT_PICKUP, A.BOARD): S.ON_BOARD,
    (S.ON_BOARD, A.COMPLETE): S.COMPLETED,
    (S.BOOKED, A.CANCEL): S.CANCELLED,
    (S.ASSIGNED, A.CANCEL): S.CANCELLED,
    (S.EN_ROUTE, A.CANCEL): S.CANCELLED,
    (S.AT_PICKUP, A.CANCEL): S.CANCELLED,
    (S.AT_PICKUP, A.NO_SHOW): S.NO_SHOW,
}

FINAL = frozenset({S.COMPLETED, S.CANCELLED, S.NO_SHOW})

_STATUS_RU = {
    S.BOOKED: "забронирована",
    S.ASSIGNED: "назначена машина",
    S.EN_ROUTE: "машина в пути",
    S.AT_PICKUP: "машина на месте подачи",
    S.ON_BOARD: "пассажир в машине",
    S.COMPLETED: "завершена",
    S.CANCELLED: "отменена",
    S.NO_SHOW: "неявка пассажира",
}
_ACTION_RU = {
    A.ASSIGN: "назначить машину",
    A.UNASSIGN: "снять назначение",
    A.START: "начать выезд",
    A.ARRIVE: "отметить прибытие на место подачи",
    A.BOARD: "отметить посадку пассажира",
    A.COMPLETE: "завершить поездку",
    A.CANCEL: "отменить поездку",
    A.NO_SHOW: "отметить неявку",
}


@dataclass(frozen=True)
class Transition:
    from_status: TripStatus
    action: TripAction
    to_status: TripStatus


def status_ru(status: TripStatus | str) -> str:
    return _STATUS_RU[TripStatus(status)]


def transition(
    current: TripStatus | str, action: TripAction | str, *, reason: str | None = None
) -> Transition:
    """The transition ``action`` makes from ``current``, or :class:`IllegalTransition`.

    Cancellation and no-show need a non-empty ``reason``.
    """
    cur, act = TripStatus(current), TripAction(action)
    nxt = TRANSITIONS.get((cur, act))
    if nxt is None:
        raise IllegalTransition(
            f"Нельзя {_ACTION_RU[act]}: поездка {_STATUS_RU[cur]}", code="illegal_transition"
        )
    if act in (A.CANCEL, A.NO_SHOW) and not (reason and reason.strip()):
        raise Invalid("Укажите причину", code="reason_required")
    return Transition(cur, act, nxt)


def allowed_actions(current: TripStatus | str) -> list[TripAction]:
    cur = TripStatus(current)
    return [a for (s, a) in TRANSITIONS if s == cur]
