"""The trip lifecycle as an explicit state machine.

    booked → assigned → en_route → at_pickup → on_board → completed
    booked | assigned | en_route | at_pickup → cancelled
    at_pickup → no_show (reason required)
    assigned → booked (vehicle unassigned)

Every accepted change becomes a trip event (written by the shell); this module only decides.
API actions (``dispatch.services.trips``) and vehicle events (``telemetry.events``) both decide with
:func:`plan_change` and both write with ``dispatch.store.trips.record_event``: one state machine,
one action → timestamp-column map, one writer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

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
#: Trips not finished: they hold a place in a vehicle's schedule.
OPEN = frozenset(TripStatus) - FINAL
#: Trips a vehicle may be (re)assigned to, by hand or by day planning.
ASSIGNABLE = frozenset(s for (s, a) in TRANSITIONS if a is A.ASSIGN)
#: Trips a co-payment may be collected for: the passenger is on board or has arrived.
PAYABLE = frozenset({S.ON_BOARD, S.COMPLETED})

#: Where each action leads (every action has one target; checked below).
TARGET: dict[TripAction, TripStatus] = {a: to for (_, a), to in TRANSITIONS.items()}
assert all(TRANSITIONS[k] is TARGET[k[1]] for k in TRANSITIONS), "an action with two targets"
assert set(TARGET) == set(TripAction), "an action that leads nowhere"

#: Trip columns each action stamps with its time. A stamp is set once: a repeated or replayed
#: action never moves it.
STAMP_COLUMN: dict[TripAction, str] = {
    A.START: "started_at",
    A.BOARD: "picked_up_at",
    A.COMPLETE: "completed_at",
}

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


@dataclass(frozen=True, slots=True)
class TripState:
    """What a change decision needs to know of a trip (``pickup_at``: UTC, aware; money in
    kopecks; ``copay_kop`` is the co-payment due, ``None`` for a trip booked without one)."""

    id: int
    status: TripStatus
    vehicle_id: int | None = None
    pickup_at: datetime | None = None
    copay_kop: int | None = None


@dataclass(frozen=True, slots=True)
class TripChange:
    """What accepted ``actions`` do to one trip: the shell writes exactly this.

    ``values`` are trip columns set as given, ``stamps`` columns set to their time only while still
    empty, ``payload`` what the trip event records of the decision (reasons, the vehicle taken
    off).
    """

    trip_id: int
    from_status: TripStatus
    to_status: TripStatus
    actions: tuple[TripAction, ...]
    values: Mapping[str, Any] = field(default_factory=dict)
    stamps: Mapping[str, datetime] = field(default_factory=dict)
    payload: Mapping[str, Any] = field(default_factory=dict)


def plan_change(
    trip: TripState,
    actions: TripAction | Sequence[TripAction],
    *,
    at: datetime,
    reason: str | None = None,
    actor_id: int | None = None,
    late_cancel_minutes: float | None = None,
    values: Mapping[str, Any] | None = None,
    payload: Mapping[str, Any] | None = None,
) -> TripChange:
    """The change ``actions`` (applied in order) make to ``trip`` at ``at``, or the refusal.

    Raises :class:`IllegalTransition` / :class:`Invalid` as :func:`transition` does. A
    cancellation records who (``actor_id``), why and when, and whether it is *late*: closer to
    the pickup than ``late_cancel_minutes`` (required for a cancellation). A no-show records its
    reason; taking the vehicle off (``unassign``) clears vehicle, driver and carrier. ``values``
    and ``payload`` add caller-decided columns and event fields (the vehicle of an assignment).
    """
    chain = (actions,) if isinstance(actions, TripAction) else tuple(actions)
    status = trip.status
    for act in chain:
        status = transition(status, act, reason=reason).to_status
    cols: dict[str, Any] = dict(values or {})
    doc: dict[str, Any] = dict(payload or {})
    if A.CANCEL in chain:
        if late_cancel_minutes is None or trip.pickup_at is None:
            raise ValueError("a cancellation needs the pickup time and late_cancel_minutes")
        late = trip.pickup_at - at <= timedelta(minutes=late_cancel_minutes)
        cols |= {
            "cancelled_at": at,
            "cancelled_by": actor_id,
            "cancel_reason": reason,
            "late_cancel": late,
        }
        doc |= {"reason": reason, "late_cancel": late}
    if A.NO_SHOW in chain:
        cols["no_show_reason"] = reason
        doc["reason"] = reason
    if A.UNASSIGN in chain:
        cols |= {"vehicle_id": None, "driver_id": None, "carrier_id": None}
        doc["vehicle_id"] = trip.vehicle_id
    return TripChange(
        trip_id=trip.id,
        from_status=trip.status,
        to_status=status,
        actions=chain,
        values=cols,
        stamps={STAMP_COLUMN[a]: at for a in chain if a in STAMP_COLUMN},
        payload=doc,
    )
