"""What a vehicle event does to its trip: pure decisions on top of :mod:`dispatch.lifecycle`.

The shell (:mod:`telemetry.store`) loads the trip, calls :func:`plan_event`, and hands the plan to
``dispatch.store.trips.record_event`` — the one writer of trip state, shared with the API — inside
its batch transaction: the event is always stored (with a refusal noted when the state machine or
the payment check says no), the trip changed only as planned, a payment written only when
:func:`dispatch.payments.check_payment` accepts it. Nothing here touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from dispatch.errors import DispatchError
from dispatch.lifecycle import TARGET, TripAction, TripChange, TripState, TripStatus, plan_change
from dispatch.payments import Payment, check_payment
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

DEFAULT_NO_SHOW_REASON = "Пассажир не вышел (отметка водителя)"


@dataclass(frozen=True, slots=True)
class EventPlan:
    """What to do with one vehicle event.

    ``change`` is what the event does to its trip (``None``: the trip is left alone); its
    actions may start with an implicit ``start`` before ``arrive``. ``refusal`` (Russian) and
    ``refusal_code`` say why the trip (or the payment) was left alone; ``payment`` is the
    ``payments`` row due, only for an accepted ``payment_collected``.
    """

    change: TripChange | None = None
    implicit: tuple[TripAction, ...] = ()
    from_status: TripStatus | None = None
    refusal: str | None = None
    refusal_code: str | None = None
    repeat: bool = False
    payment: Payment | None = None

    @property
    def changes_trip(self) -> bool:
        return self.change is not None

    @property
    def actions(self) -> tuple[TripAction, ...]:
        return self.change.actions if self.change else ()

    @property
    def to_status(self) -> TripStatus | None:
        """The trip's status afterwards (``None``: unchanged)."""
        return self.change.to_status if self.change else None

    @property
    def stamps(self) -> tuple[str, ...]:
        """Trip columns set to the event time when still empty."""
        return tuple(self.change.stamps) if self.change else ()

    @property
    def no_show_reason(self) -> str | None:
        return self.change.values.get("no_show_reason") if self.change else None


def plan_event(
    event: VehicleEvent, trip: TripState | None, *, vehicle_id: int, paid: bool = False
) -> EventPlan:
    """Decide what ``event`` from vehicle ``vehicle_id`` does to ``trip`` (``None``: not found).

    ``paid``: the trip has a payment recorded already (read by the shell for payment events).
    """
    if event.type in SHIFT_EVENTS:
        return EventPlan()
    if trip is None:
        return EventPlan(refusal="Поездка не найдена", refusal_code="unknown_trip")
    cur = trip.status
    if event.type is EventType.PAYMENT_COLLECTED:
        if event.amount_kop is None or event.method is None:  # decode refuses these already
            return EventPlan(
                from_status=cur,
                refusal="Не указаны сумма или способ оплаты",
                refusal_code="bad_payment",
            )
        check = check_payment(
            trip,
            vehicle_id=vehicle_id,
            amount_kop=event.amount_kop,
            method=event.method.value,
            collected_at=event.ts,
            already_paid=paid,
        )
        return EventPlan(
            from_status=cur,
            payment=check.payment,
            refusal=check.refusal,
            refusal_code=check.refusal_code,
        )
    if trip.vehicle_id != vehicle_id:
        return EventPlan(
            from_status=cur,
            refusal="Поездка назначена другой машине",
            refusal_code="wrong_vehicle",
        )
    action = EVENT_ACTIONS[event.type]
    if cur == TARGET[action]:
        return EventPlan(from_status=cur, repeat=True)
    implicit: tuple[TripAction, ...] = ()
    if action is A.ARRIVE and cur == S.ASSIGNED:
        implicit = (A.START,)  # the driver did not press "en route": it is implied by arriving
    reason = None
    if action is A.NO_SHOW:
        reason = (event.reason or "").strip() or DEFAULT_NO_SHOW_REASON
    try:
        change = plan_change(trip, (*implicit, action), at=event.ts, reason=reason)
    except DispatchError as exc:
        return EventPlan(from_status=cur, refusal=exc.message, refusal_code=exc.code)
    return EventPlan(change=change, implicit=implicit, from_status=cur)


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
    if plan.change is not None:  # the change's own payload is added by the writer
        doc["actions"] = [a.value for a in plan.change.actions]
    if plan.implicit:
        doc["implicit"] = [a.value for a in plan.implicit]
    if plan.repeat:
        doc["repeat"] = True
    if plan.payment is not None:
        doc["expected_kop"] = plan.payment.expected_kop
        if plan.payment.amount_mismatch:
            doc["amount_mismatch"] = True
    if plan.refusal:
        doc["refused"] = {"code": plan.refusal_code, "message": plan.refusal}
    return doc
