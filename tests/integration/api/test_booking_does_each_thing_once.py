"""A booking reads its passenger once and snaps each point once — a recurring series too, however
many dates it has (issue 8, item 7). Counted with a recording graph around the real Murino graph
and a counting wrapper around the store's passenger read, on the real database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from typing import Any

import numpy as np
import psycopg
import pytest

from dispatch.models import RecurringRequest, TripRequest, User
from dispatch.services import booking
from dispatch.store import passengers
from tests.integration.api.conftest import NOW, pickup, seed_basics, trip_body

pytestmark = pytest.mark.integration


@dataclass
class RecordingGraph:
    """The real graph, with every snapped point and every route counted."""

    graph: Any
    snapped_points: int = 0
    routes: list[tuple[int, int]] = field(default_factory=list)

    def snap(self, lat: Any, lon: Any, **kw: Any) -> Any:
        self.snapped_points += int(np.atleast_1d(lat).size)
        return self.graph.snap(lat, lon, **kw)

    def route_nodes(self, orig_index: int, dest_index: int) -> Any:
        self.routes.append((orig_index, dest_index))
        return self.graph.route_nodes(orig_index, dest_index)

    def route(self, *args: Any, **kw: Any) -> Any:  # snaps again: booking must not call it
        raise AssertionError("route() snaps its points a second time")


@pytest.fixture
def passenger_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    reads: list[int] = []
    real = passengers.get_passenger

    def counting(conn: psycopg.Connection, *, passenger_id: int, lock: bool = False) -> Any:
        reads.append(passenger_id)
        return real(conn, passenger_id=passenger_id, lock=lock)

    monkeypatch.setattr(passengers, "get_passenger", counting)
    return reads


def _operator(api: Any) -> User:
    return User(id=api.user_ids["operator"], login="operator", full_name="Оператор",
                roles=frozenset({"operator"}), carrier_id=None, active=True)  # fmt: skip


def test_one_booking_reads_the_passenger_once_and_snaps_each_point_once(
    api, murino_graph, rules, passenger_reads
):
    ids = seed_basics(api)
    passenger_reads.clear()  # creating the passenger read it back
    graph = RecordingGraph(murino_graph)
    req = TripRequest.model_validate(trip_body(ids, pickup_at=pickup(1, 10)))
    with psycopg.connect(api.db_url) as conn:
        quote = booking.quote_trip(conn, req=req, rules=rules, graph=graph, actor=_operator(api),
                                   now=NOW)  # fmt: skip
        assert (passenger_reads, graph.snapped_points, len(graph.routes)) == ([ids["passenger"]],
                                                                              2, 1)  # fmt: skip
        trip = booking.book_trip(conn, req=req, rules=rules, graph=graph, actor=_operator(api),
                                 now=NOW)  # fmt: skip
    assert len(passenger_reads) == 2 and graph.snapped_points == 4 and len(graph.routes) == 2
    assert trip.planned_dist_m == pytest.approx(quote.planned_dist_m) and trip.planned_route


def test_a_series_reads_the_passenger_once_and_plans_its_route_once(
    api, murino_graph, rules, passenger_reads
):
    ids = seed_basics(api)
    passenger_reads.clear()  # creating the passenger read it back
    graph = RecordingGraph(murino_graph)
    req = RecurringRequest(
        passenger_id=ids["passenger"],
        destination_id=ids["clinic"],
        weekdays=[0, 2, 4],
        local_time=time(10, 0),
        start=date(2026, 3, 17),
        until=date(2026, 3, 31),
    )
    with psycopg.connect(api.db_url) as conn:
        res = booking.book_recurring(conn, req=req, rules=rules, graph=graph,
                                     actor=_operator(api), now=NOW)  # fmt: skip
    assert len(res.booked) + len(res.refused) == 6 and len(res.booked) >= 3
    assert passenger_reads == [ids["passenger"]]
    assert graph.snapped_points == 2 and len(graph.routes) == 1
