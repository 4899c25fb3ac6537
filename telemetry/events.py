"""What a vehicle event does to its trip: pure decisions on top of :mod:`dispatch.lifecycle`.

The shell (:mod:`telemetry.store`) loads the trip, calls :func:`plan_event`, and applies the plan:
it always stores the event (with a refusal noted when the state machine says no) and changes the
trip only as planned. Nothing here touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dispatch.errors import DispatchError
from dispatch.lifecycle import TripAction, TripStatus, transition
from telemetry.model import SHIFT_EVENTS, EventType, VehicleEvent

A, S = TripAction, TripStatus

#: The lifecycle action each trip event asks for.
EVENT_ACTIONS: dict[EventType, TripAction] = {
    EventType.EN_ROUTE: A.START,
    EventType.ARRIVED_AT_PICKUP: A.ARRIVE,
    EventType.PASSENGER_ON_BOARD: A.BOARD,
    EventType.ARRIVED_AT_DESTINATION: A.COMPLETE,
    EventType.TRIP_COMPLETED: A.COMPLETE,
    EventType.NO_SHOW: A.NO_SHOW,
}

#: Where each action leads; an event whose trip is already there is a harmless repeat.
_TARGET = {
    A.START: S.EN_ROUTE,
    A.ARRIVE: S.AT_PICKUP,
    A.BOARD: S.ON_BOARD,
    A.COMPLETE: S.COMPLETED,
    A.NO_SHOW: S.NO_SHOW,
}

#: Trip columns stamped with the event time by each action.
_STAMPS = {A.START: "started_at", A.BOARD: "picked_up_at", A.COMPLETE: "completed_at"}

DEFAULT_NO_SHOW_REASON = "Пассажир не вышел (отметка водителя)"


@dataclass(frozen=True, slots=True)
class TripView:
    """The part of a trip an event decision needs."""

    id: int
    status: TripStatus
    vehicle_id: int | None


@dataclass(frozen=True, slots=True)
class EventPlan:
    """What to do with one vehicle event.

    ``actions`` are applied in order (possibly with an implicit ``start`` before ``arrive``);
    ``to_status`` is the trip's status afterwards (``None``: unchanged); ``stamps`` are trip
    columns set to the event time when still empty; ``refusal`` (Russian) and ``refusal_code``
    say why the trip was left alone; ``payment`` says a payment row is due.
    """

    actions: tuple[TripAction, ...] = ()
    implicit: tuple[TripAction, ...] = ()
    from_status: TripStatus | None = None
    to_status: TripStatus | None = None
    stamps: tuple[str, ...] = ()
    no_show_reason: str | None = None
    refusal: str | None = None
    refusal_code: str | None = None
    repeat: bool = False
    payment: bool = False

    @property
    def changes_trip(self) -> bool:
        return bool(self.actions) and self.refusal is None


def plan_event(event: VehicleEvent, trip: TripView | None, *, vehicle_id: int) -> EventPlan:
    """Decide what ``event`` from vehicle ``vehicle_id`` does to ``trip`` (``None``: not found)."""
    if event.type in SHIFT_EVENTS:
        return EventPlan()
    if trip is None:
        return EventPlan(refusal="Поездка не найдена", refusal_code="unknown_trip")
    cur = trip.status
    if event.type is EventType.PAYMENT_COLLECTED:
        wrong = trip.vehicle_id != vehicle_id
        return EventPlan(
            from_status=cur,
            payment=True,
            refusal="Поездка назначена другой машине" if wrong else None,
            refusal_code="wrong_vehicle" if wrong else None,
        )
    if trip.vehicle_id != vehicle_id:
        return EventPlan(
            from_status=cur,
            refusal="Поездка назначена другой машине",
            refusal_code="wrong_vehicle",
        )
    action = EVENT_ACTIONS[event.type]
    if cur == _TARGET[action]:
        return EventPlan(from_status=cur, repeat=True)
    implicit: tuple[TripAction, ...] = ()
    if action is A.ARRIVE and cur == S.ASSIGNED:
        implicit = (A.START,)  # the driver did not press "en route": it is implied by arriving
    reason = None
    if action is A.NO_SHOW:
        reason = (event.reason or "").strip() or DEFAULT_NO_SHOW_REASON
    status = cur
    try:
        for act in (*implicit, action):
            status = transition(status, act, reason=reason).to_status
    except DispatchError as exc:
        return EventPlan(from_status=cur, refusal=exc.message, refusal_code=exc.code)
    actions = (*implicit, action)
    return EventPlan(
        actions=actions,
        implicit=implicit,
        from_status=cur,
        to_status=status,
        stamps=tuple(_STAMPS[a] for a in actions if a in _STAMPS),
        no_show_reason=reason,
    )


def event_payload(event: VehicleEvent, plan: EventPlan) -> dict:
    """The ``trip_events.payload`` document: what the vehicle said and what was decided."""
    doc: dict = dict(event.extra)
    if event.event_id is not None:
        doc["event_id"] = event.event_id
    if event.amount_kop is not None:
        doc["amount_kop"] = event.amount_kop
    if event.method is not None:
        doc["method"] = event.method.value
    if event.reason:
        doc["reason"] = event.reason
    if plan.actions and plan.refusal is None:
        doc["actions"] = [a.value for a in plan.actions]
    if plan.implicit:
        doc["implicit"] = [a.value for a in plan.implicit]
    if plan.repeat:
        doc["repeat"] = True
    if plan.refusal:
        doc["refused"] = {"code": plan.refusal_code, "message": plan.refusal}
    return doc


def stamp_values(plan: EventPlan, ts: datetime) -> dict[str, datetime]:
    return {col: ts for col in plan.stamps}
