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
