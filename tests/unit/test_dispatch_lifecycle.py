"""The trip state machine: every (status, action) pair, legal and illegal."""

from __future__ import annotations

import itertools

import pytest

from dispatch.errors import Conflict, IllegalTransition, Invalid
from dispatch.lifecycle import (
    FINAL,
    TripAction,
    TripStatus,
    allowed_actions,
    status_ru,
    transition,
)

# The expected machine, written out independently of lifecycle.TRANSITIONS.
EXPECTED = {
    ("booked", "assign"): "assigned",
    ("booked", "cancel"): "cancelled",
    ("assigned", "assign"): "assigned",
    ("assigned", "unassign"): "booked",
    ("assigned", "start"): "en_route",
    ("assigned", "cancel"): "cancelled",
    ("en_route", "arrive"): "at_pickup",
    ("en_route", "cancel"): "cancelled",
    ("at_pickup", "board"): "on_board",
    ("at_pickup", "cancel"): "cancelled",
    ("at_pickup", "no_show"): "no_show",
    ("on_board", "complete"): "completed",
}
ALL_PAIRS = list(itertools.product([s.value for s in TripStatus], [a.value for a in TripAction]))
NEEDS_REASON = {"cancel", "no_show"}


def test_the_vocabulary() -> None:
    assert {s.value for s in TripStatus} == {
        "booked", "assigned", "en_route", "at_pickup",
        "on_board", "completed", "cancelled", "no_show",
    }  # fmt: skip
    assert {a.value for a in TripAction} == {
        "assign", "unassign", "start", "arrive", "board", "complete", "cancel", "no_show",
    }  # fmt: skip


@pytest.mark.parametrize(("status", "action"), [p for p in ALL_PAIRS if p in EXPECTED])
def test_legal_transition(status: str, action: str) -> None:
    reason = "пассажир передумал" if action in NEEDS_REASON else None
    t = transition(status, action, reason=reason)
    assert (t.from_status, t.action, t.to_status) == (status, action, EXPECTED[(status, action)])
    assert isinstance(t.to_status, TripStatus)


@pytest.mark.parametrize(("status", "action"), [p for p in ALL_PAIRS if p not in EXPECTED])
def test_illegal_transition(status: str, action: str) -> None:
    with pytest.raises(IllegalTransition) as exc:
        transition(status, action, reason="причина")
    assert exc.value.code == "illegal_transition"
    assert isinstance(exc.value, Conflict)  # mapped to HTTP 409
    assert exc.value.message.startswith("Нельзя ")
    assert status_ru(status) in exc.value.message


def test_illegal_message_reads_naturally() -> None:
    with pytest.raises(IllegalTransition) as exc:
        transition("completed", "cancel", reason="x")
    assert exc.value.message == "Нельзя отменить поездку: поездка завершена"


@pytest.mark.parametrize("pair", [p for p in EXPECTED if p[1] in NEEDS_REASON])
@pytest.mark.parametrize("reason", [None, "", "   "])
def test_cancel_and_no_show_need_a_reason(pair: tuple[str, str], reason: str | None) -> None:
    with pytest.raises(Invalid) as exc:
        transition(*pair, reason=reason)
    assert exc.value.code == "reason_required"
    assert exc.value.message == "Укажите причину"


def test_illegal_beats_missing_reason() -> None:
    # A cancelled trip cannot be cancelled again, whatever the reason.
    with pytest.raises(IllegalTransition):
        transition("cancelled", "cancel")


def test_other_actions_need_no_reason() -> None:
    assert transition("booked", "assign").to_status == "assigned"


@pytest.mark.parametrize("status", [s.value for s in TripStatus])
def test_allowed_actions_match_the_table(status: str) -> None:
    assert sorted(allowed_actions(status)) == sorted(a for (s, a) in EXPECTED if s == status)


def test_final_states_have_no_way_out() -> None:
    assert {s.value for s in FINAL} == {"completed", "cancelled", "no_show"}
    for s in FINAL:
        assert allowed_actions(s) == []


def test_every_state_is_reachable_from_booked() -> None:
    seen, todo = {"booked"}, ["booked"]
    while todo:
        s = todo.pop()
        for (frm, _), to in EXPECTED.items():
            if frm == s and to not in seen:
                seen.add(to)
                todo.append(to)
    assert seen == {s.value for s in TripStatus}


def test_unknown_status_or_action_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        transition("flying", "assign")
    with pytest.raises(ValueError):
        transition("booked", "teleport")


def test_status_sets_follow_the_machine() -> None:
    from dispatch.lifecycle import ASSIGNABLE, OPEN, PAYABLE, STAMP_COLUMN, TARGET
    from dispatch.quota import COUNTED_STATUSES, DECIDED_STATUSES

    assert {s.value for s in OPEN} == {"booked", "assigned", "en_route", "at_pickup", "on_board"}
    assert {s.value for s in ASSIGNABLE} == {"booked", "assigned"}
    assert {s.value for s in PAYABLE} == {"on_board", "completed"}
    # Cancellations and no-shows count as decided when they happened (rules file, issue 12).
    assert {s.value for s in COUNTED_STATUSES} == {s.value for s in TripStatus} - {
        "cancelled",
        "no_show",
    }
    assert {s.value for s in DECIDED_STATUSES} == {"cancelled", "no_show"}
    assert "booked" in COUNTED_STATUSES and "cancelled" not in COUNTED_STATUSES  # DB strings
    assert {a.value: t.value for a, t in TARGET.items()} == {a: t for (_, a), t in EXPECTED.items()}
    assert {a.value: c for a, c in STAMP_COLUMN.items()} == {
        "start": "started_at", "board": "picked_up_at", "complete": "completed_at",
    }  # fmt: skip


def test_plan_change_says_what_to_write() -> None:
    from datetime import UTC, datetime, timedelta

    from dispatch.lifecycle import TripState, plan_change

    at = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    A, S = TripAction, TripStatus
    arrive = plan_change(TripState(7, S.ASSIGNED, 3), (A.START, A.ARRIVE), at=at)
    assert (arrive.from_status, arrive.to_status) == (S.ASSIGNED, S.AT_PICKUP)
    assert dict(arrive.stamps) == {"started_at": at} and not arrive.values
    soon = TripState(7, S.ASSIGNED, 3, pickup_at=at + timedelta(minutes=30))
    cancel = plan_change(soon, A.CANCEL, at=at, reason="передумал", actor_id=5,
                         late_cancel_minutes=60)  # fmt: skip
    assert cancel.values == {"cancelled_at": at, "cancelled_by": 5, "cancel_reason": "передумал",
                             "late_cancel": True}  # fmt: skip
    assert cancel.payload == {"reason": "передумал", "late_cancel": True}
    early = plan_change(soon, A.CANCEL, at=at, reason="x", actor_id=5, late_cancel_minutes=20)
    assert early.values["late_cancel"] is False
    with pytest.raises(ValueError):
        plan_change(soon, A.CANCEL, at=at, reason="x")  # the late-cancel threshold is required
    off = plan_change(TripState(7, S.ASSIGNED, 3), A.UNASSIGN, at=at)
    assert off.to_status is S.BOOKED and off.payload == {"vehicle_id": 3}
    assert off.values == {"vehicle_id": None, "driver_id": None, "carrier_id": None}
    no_show = plan_change(TripState(7, S.AT_PICKUP, 3), A.NO_SHOW, at=at, reason="не вышла")
    assert no_show.values == {"no_show_reason": "не вышла"}
    with pytest.raises(IllegalTransition):
        plan_change(TripState(7, S.EN_ROUTE, 3), (A.BOARD,), at=at)
