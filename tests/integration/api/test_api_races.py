"""Two users doing the same thing at the same moment: the database serialises them."""

from __future__ import annotations

import threading
import time

import psycopg

from dispatch.models import TripRequest, User
from dispatch.services import AssignmentConflicts, QuotaExceeded
from dispatch.services.assignment import assign_vehicle
from dispatch.services.booking import book_trip
from tests.integration.api.conftest import (
    CLINIC,
    NOW,
    other_passenger,
    pickup,
    seed_basics,
    set_position,
    trip_body,
)


def _waiting_on_lock(db_url: str, pid: int) -> bool:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
        ).fetchone()
    return row is not None and row[0] == "Lock"


def _second_waits_for_first(db_url, first, second, do_first, do_second) -> list:  # type: ignore[no-untyped-def]
    """Run ``do_first`` on ``first`` (left uncommitted), then ``do_second`` on ``second`` in a
    thread; check that it waits for a lock; commit the first; return the second's outcome."""
    outcome: list[BaseException | object] = []
    try:
        do_first(first)
        thread = threading.Thread(target=lambda: _run(do_second, second, outcome))
        thread.start()
        deadline = time.monotonic() + 10
        while not _waiting_on_lock(db_url, second.info.backend_pid):
            assert time.monotonic() < deadline, "the second did not wait for the first"
            assert thread.is_alive(), "the second did not wait for the first"
            time.sleep(0.05)
        first.commit()
        thread.join(10)
    finally:
        first.close()
        second.close()
    return outcome


def _user(api, login: str) -> User:  # type: ignore[no-untyped-def]
    return User(id=api.user_ids[login], login=login, full_name=login,
                roles=frozenset({login}), carrier_id=None, active=True)  # fmt: skip


def test_two_overlapping_trips_are_not_assigned_to_one_vehicle_at_once(api, murino_graph, rules):
    ids = seed_basics(api)
    set_position(api.db_url, ids["car"], *CLINIC)
    # three trips at the same time: the car can serve two of them (short rides), not three.
    # A ride there and back takes ~17 min with the travel-time model (routing/traveltime.py):
    # allow 25 min of lateness so the second fits and the third (~34 min) does not.
    rules = rules.model_copy(
        update={"assignment": rules.assignment.model_copy(update={"max_late_s": 1500})}
    )
    t0, t1, t2 = (
        api.ok("POST", "trips", 201,
               json=trip_body(ids, pickup_at=pickup(1, 10), passenger_id=pid))["id"]
        for pid in (ids["passenger"], other_passenger(api, 1), other_passenger(api, 2))
    )  # fmt: skip
    api.ok("POST", f"trips/{t0}/assign", json={"vehicle_id": ids["car"]}, role="dispatcher")
    actor = _user(api, "dispatcher")

    def assign(trip_id: int):  # type: ignore[no-untyped-def]
        return lambda conn: assign_vehicle(
            conn, trip_id=trip_id, vehicle_id=ids["car"], driver_id=None, force=False,
            rules=rules, graph=murino_graph, actor=actor, now=NOW,
        )  # fmt: skip

    outcome = _second_waits_for_first(
        api.db_url, psycopg.connect(api.db_url), psycopg.connect(api.db_url), assign(t1), assign(t2)
    )
    assert len(outcome) == 1 and isinstance(outcome[0], AssignmentConflicts)
    assert api.ok("GET", f"trips/{t2}")["status"] == "booked"


def test_the_last_trip_of_the_month_is_booked_once(api, murino_graph, rules):
    ids = seed_basics(api)
    for hour in (9, 11, 13):  # three of the four trips of the month
        api.ok("POST", "trips", 201, json=trip_body(ids, pickup_at=pickup(1, hour)))
    actor = User(id=api.user_ids["operator"], login="operator", full_name="Оператор",
                 roles=frozenset({"operator"}), carrier_id=None, active=True)  # fmt: skip
    req = TripRequest.model_validate(trip_body(ids, pickup_at=pickup(2, 10)))
    # The second operator books another time of the same day (the same time would be refused
    # as an overlapping trip, not by the quota).
    req2 = TripRequest.model_validate(trip_body(ids, pickup_at=pickup(2, 14)))

    def book(conn: psycopg.Connection, r: TripRequest = req) -> object:
        return book_trip(conn, req=r, rules=rules, graph=murino_graph, actor=actor, now=NOW)

    first = psycopg.connect(api.db_url)
    second = psycopg.connect(api.db_url)
    outcome: list[BaseException | object] = []
    try:
        book(first)  # books the 4th trip; its transaction is still open
        thread = threading.Thread(target=lambda: _run(lambda c: book(c, req2), second, outcome))
        thread.start()
        deadline = time.monotonic() + 10
        while not _waiting_on_lock(api.db_url, second.info.backend_pid):
            assert time.monotonic() < deadline, "the second booking did not wait for the first"
            assert thread.is_alive(), "the second booking did not wait for the first"
            time.sleep(0.05)
        first.commit()
        thread.join(10)
    finally:
        first.close()
        second.close()
    assert len(outcome) == 1 and isinstance(outcome[0], QuotaExceeded)
    assert "Исчерпан лимит поездок" in outcome[0].message
    with psycopg.connect(api.db_url) as conn:
        assert conn.execute("SELECT count(*) FROM trips").fetchone() == (4,)


def _run(fn, conn, out):  # type: ignore[no-untyped-def]
    try:
        out.append(fn(conn))
        conn.commit()
    except BaseException as exc:  # noqa: BLE001 - reported to the test
        conn.rollback()
        out.append(exc)
