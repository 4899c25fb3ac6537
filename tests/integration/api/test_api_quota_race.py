"""Two operators booking the passenger's last trip of the month at the same moment."""

from __future__ import annotations

import threading
import time

import psycopg

from dispatch.services import QuotaExceeded
from dispatch.services.booking import TripRequest, book_trip
from dispatch.store.models import User
from tests.integration.api.conftest import NOW, pickup, seed_basics, trip_body


def _waiting_on_lock(db_url: str, pid: int) -> bool:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
        ).fetchone()
    return row is not None and row[0] == "Lock"


def test_the_last_trip_of_the_month_is_booked_once(api, murino_graph, rules):
    ids = seed_basics(api)
    for hour in (9, 11, 13):  # three of the four trips of the month
        api.ok("POST", "trips", 201, json=trip_body(ids, pickup_at=pickup(1, hour)))
    actor = User(id=api.user_ids["operator"], login="operator", full_name="Оператор",
                 roles=frozenset({"operator"}), carrier_id=None, active=True)  # fmt: skip
    req = TripRequest.model_validate(trip_body(ids, pickup_at=pickup(2, 10)))

    def book(conn: psycopg.Connection) -> object:
        return book_trip(conn, req=req, rules=rules, graph=murino_graph, actor=actor, now=NOW)

    first = psycopg.connect(api.db_url)
    second = psycopg.connect(api.db_url)
    outcome: list[BaseException | object] = []
    try:
        book(first)  # books the 4th trip; its transaction is still open
        thread = threading.Thread(target=lambda: _run(book, second, outcome))
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
