"""Vehicle events on top of the trip state machine (pure decisions)."""

from datetime import UTC, datetime

import pytest

from dispatch.lifecycle import TripAction as A
from dispatch.lifecycle import TripState
from dispatch.lifecycle import TripStatus as S
from telemetry.events import DEFAULT_NO_SHOW_REASON, event_payload, plan_event
from telemetry.model import EventType as E
from telemetry.model import PaymentMethod, VehicleEvent

TS = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def ev(kind: E, **kw) -> VehicleEvent:
    return VehicleEvent(type=kind, ts=TS, trip_id=kw.pop("trip_id", 7), **kw)


def trip(status: S, vehicle_id: int = 1, copay_kop: int | None = 500) -> TripState:
    return TripState(7, status, vehicle_id, copay_kop=copay_kop)


@pytest.mark.parametrize(
    ("kind", "status", "actions", "to", "stamps"),
    [
        (E.EN_ROUTE, S.ASSIGNED, (A.START,), S.EN_ROUTE, ("started_at",)),
        (E.ARRIVED_AT_PICKUP, S.EN_ROUTE, (A.ARRIVE,), S.AT_PICKUP, ()),
        (E.ARRIVED_AT_PICKUP, S.ASSIGNED, (A.START, A.ARRIVE), S.AT_PICKUP, ("started_at",)),
        (E.PASSENGER_ON_BOARD, S.AT_PICKUP, (A.BOARD,), S.ON_BOARD, ("picked_up_at",)),
        (E.ARRIVED_AT_DESTINATION, S.ON_BOARD, (A.COMPLETE,), S.COMPLETED, ("completed_at",)),
        (E.TRIP_COMPLETED, S.ON_BOARD, (A.COMPLETE,), S.COMPLETED, ("completed_at",)),
        (E.NO_SHOW, S.AT_PICKUP, (A.NO_SHOW,), S.NO_SHOW, ()),
    ],
)
def test_accepted(kind, status, actions, to, stamps):
    plan = plan_event(ev(kind), trip(status), vehicle_id=1)
    assert plan.changes_trip and plan.refusal is None
    assert (plan.actions, plan.to_status, plan.stamps) == (actions, to, stamps)


def test_implicit_start_is_recorded_in_the_payload():
    plan = plan_event(ev(E.ARRIVED_AT_PICKUP), trip(S.ASSIGNED), vehicle_id=1)
    doc = event_payload(ev(E.ARRIVED_AT_PICKUP), plan)
    assert doc["implicit"] == ["start"] and doc["actions"] == ["start", "arrive"]


def test_refused_by_the_state_machine_is_kept_with_the_reason():
    plan = plan_event(ev(E.PASSENGER_ON_BOARD), trip(S.EN_ROUTE), vehicle_id=1)
    assert not plan.changes_trip
    assert plan.refusal_code == "illegal_transition" and "посадку" in plan.refusal
    assert event_payload(ev(E.PASSENGER_ON_BOARD), plan)["refused"]["code"] == (
        "illegal_transition"
    )


def test_a_repeat_of_the_current_state_is_harmless():
    plan = plan_event(ev(E.TRIP_COMPLETED), trip(S.COMPLETED), vehicle_id=1)
    assert plan.repeat and plan.refusal is None and not plan.changes_trip


def test_no_show_without_reason_gets_the_default():
    plan = plan_event(ev(E.NO_SHOW), trip(S.AT_PICKUP), vehicle_id=1)
    assert plan.no_show_reason == DEFAULT_NO_SHOW_REASON
    plan = plan_event(ev(E.NO_SHOW, reason="  дверь не открыли "), trip(S.AT_PICKUP), vehicle_id=1)
    assert plan.no_show_reason == "дверь не открыли"


def test_unknown_trip_and_other_vehicle():
    assert plan_event(ev(E.EN_ROUTE), None, vehicle_id=1).refusal_code == "unknown_trip"
    plan = plan_event(ev(E.EN_ROUTE), trip(S.ASSIGNED, vehicle_id=2), vehicle_id=1)
    assert plan.refusal_code == "wrong_vehicle" and not plan.changes_trip


def test_payment_is_checked_before_it_is_recorded():
    # (this test replaced one asserting that another vehicle's payment was still recorded:
    # issue 8 item 3 refuses it)
    pay = ev(E.PAYMENT_COLLECTED, amount_kop=500, method=PaymentMethod.CASH)
    ok = plan_event(pay, trip(S.ON_BOARD), vehicle_id=1)
    assert ok.payment is not None and ok.refusal is None and not ok.changes_trip
    assert (ok.payment.trip_id, ok.payment.amount_kop, ok.payment.method) == (7, 500, "cash")
    assert ok.payment.expected_kop == 500 and not ok.payment.amount_mismatch
    assert plan_event(pay, trip(S.COMPLETED), vehicle_id=1).payment is not None
    other = plan_event(pay, trip(S.ON_BOARD, vehicle_id=2), vehicle_id=1)
    assert other.payment is None and other.refusal_code == "wrong_vehicle"
    for status in (S.BOOKED, S.ASSIGNED, S.EN_ROUTE, S.AT_PICKUP, S.CANCELLED, S.NO_SHOW):
        plan = plan_event(pay, trip(status), vehicle_id=1)
        assert plan.payment is None and plan.refusal_code == "payment_not_due", status
    again = plan_event(pay, trip(S.COMPLETED), vehicle_id=1, paid=True)
    assert again.payment is None and again.refusal_code == "already_paid"
    assert event_payload(pay, again)["refused"]["code"] == "already_paid"


def test_a_different_amount_is_recorded_and_marked():
    pay = ev(E.PAYMENT_COLLECTED, amount_kop=700, method=PaymentMethod.CARD)
    plan = plan_event(pay, trip(S.COMPLETED, copay_kop=500), vehicle_id=1)
    assert plan.payment is not None and plan.payment.amount_mismatch
    assert plan.payment.expected_kop == 500 and plan.payment.amount_kop == 700
    doc = event_payload(pay, plan)
    assert doc["amount_mismatch"] is True and doc["expected_kop"] == 500 and "refused" not in doc
    unknown_due = plan_event(pay, trip(S.COMPLETED, copay_kop=None), vehicle_id=1)
    assert unknown_due.payment is not None and not unknown_due.payment.amount_mismatch


def test_shift_events_touch_no_trip():
    plan = plan_event(VehicleEvent(type=E.SHIFT_START, ts=TS), None, vehicle_id=1)
    assert plan.refusal is None and not plan.changes_trip and not plan.payment
