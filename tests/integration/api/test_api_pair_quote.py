"""A there-and-back quote is what the booking charges (issue 13): the API quote of a trip with
``return_pickup_at`` prices both legs — the return's route, ETA and fare, the co-payment band of
the pair's total distance, the quota with the pair counted once — and booking the same request
stores exactly those figures. On the real database and the Murino graph."""

from __future__ import annotations

import psycopg
import pytest

from config.rules import CopayBand
from dispatch.models import TripRequest, User
from dispatch.services import BookingRefused, booking
from tests.integration.api.conftest import NOW, pickup, seed_basics, trip_body

pytestmark = pytest.mark.integration

LEG_FIGURES = ("fare_kop", "copay_share_pct", "copay_kop", "planned_dist_m")


def _operator(api) -> User:
    return User(id=api.user_ids["operator"], login="operator", full_name="Оператор",
                roles=frozenset({"operator"}), carrier_id=None, active=True)  # fmt: skip


def test_the_api_quote_of_a_pair_is_what_booking_it_stores(api):
    ids = seed_basics(api)
    body = trip_body(ids, pickup_at=pickup(1, 10), return_pickup_at=pickup(1, 13))
    q = api.ok("POST", "trips/quote", json=body, role="operator")
    back = q["return_trip"]
    assert back is not None and back["planned_route"]["type"]
    assert back["pickup_at"] > q["planned_dropoff_at"]
    assert back["planned_dropoff_at"] > back["pickup_at"]
    assert (back["dropoff_lat"], back["dropoff_lon"]) == (q["pickup_lat"], q["pickup_lon"])
    assert q["band_km"] == pytest.approx((q["planned_dist_m"] + back["planned_dist_m"]) / 1000)
    assert q["total_fare_kop"] == q["fare_kop"] + back["fare_kop"]
    assert q["total_copay_kop"] == q["copay_kop"] + back["copay_kop"] > 0
    # the pair is one trip of the quota: 4 a month, 3 left after it
    assert (q["quota"]["month_left"], q["quota_after"]["month_left"]) == (4, 3)
    assert back["quota"]["over"] is False and q["override_required"] is False

    out = api.ok("POST", "trips", 201, json=body, role="operator")
    ret = api.ok("GET", f"trips/{out['return_trip_id']}")
    for name in LEG_FIGURES:
        assert out[name] == pytest.approx(q[name]), name
        assert ret[name] == pytest.approx(back[name]), name
    assert out["planned_dropoff_at"] == q["planned_dropoff_at"]
    assert ret["planned_dropoff_at"] == back["planned_dropoff_at"]
    after = api.ok("GET", f"passengers/{ids['passenger']}/quota", params={"at": pickup(1, 15)})
    assert after["quota"]["month_left"] == q["quota_after"]["month_left"]


def test_the_pair_band_changes_the_quote_and_the_booking_alike(api, murino_graph, rules):
    """With a band boundary between one leg's length and the pair's, the pair's co-payment share
    is the longer band's — in the quote and in the stored trips; one leg alone stays below it."""
    ids = seed_basics(api)
    single = TripRequest.model_validate(trip_body(ids, pickup_at=pickup(1, 10)))
    pair = TripRequest.model_validate(
        trip_body(ids, pickup_at=pickup(1, 10), return_pickup_at=pickup(1, 13))
    )
    with psycopg.connect(api.db_url) as conn:
        leg_km = booking.quote_trip(conn, req=single, rules=rules, graph=murino_graph,
                                    actor=_operator(api), now=NOW).distance_km  # fmt: skip
    # 25 % below 1.5 legs' length, 10 % from there: a pair of ~2 legs is in the 10 % band
    bands = (CopayBand(min_km=0, share_pct=25), CopayBand(min_km=leg_km * 1.5, share_pct=10))
    two_bands = rules.model_copy(
        update={"co_payment": rules.co_payment.model_copy(update={"bands": bands})}
    )
    with psycopg.connect(api.db_url) as conn:
        alone = booking.quote_trip(conn, req=single, rules=two_bands, graph=murino_graph,
                                   actor=_operator(api), now=NOW)  # fmt: skip
        q = booking.quote_trip(conn, req=pair, rules=two_bands, graph=murino_graph,
                               actor=_operator(api), now=NOW)  # fmt: skip
        trip = booking.book_trip(conn, req=pair, rules=two_bands, graph=murino_graph,
                                 actor=_operator(api), now=NOW)  # fmt: skip
        back = conn.execute(
            "SELECT fare_kop, copay_share_pct, copay_kop FROM trips WHERE id = %s",
            (trip.return_trip_id,),
        ).fetchone()
    assert alone.copay_share_pct == 25 and alone.return_trip is None
    assert q.return_trip is not None
    assert q.copay_share_pct == q.return_trip.copay_share_pct == 10
    assert q.fare_kop == alone.fare_kop and q.copay_kop < alone.copay_kop
    assert (trip.fare_kop, trip.copay_share_pct, trip.copay_kop) == (
        q.fare_kop, q.copay_share_pct, q.copay_kop)  # fmt: skip
    assert back == (q.return_trip.fare_kop, q.return_trip.copay_share_pct, q.return_trip.copay_kop)


def test_a_return_before_the_outward_arrives_is_refused_by_the_quote_too(api, murino_graph, rules):
    ids = seed_basics(api)
    req = TripRequest.model_validate(
        trip_body(ids, pickup_at=pickup(2, 10), return_pickup_at=pickup(2, 10, 1))
    )
    with psycopg.connect(api.db_url) as conn, pytest.raises(BookingRefused) as exc:
        booking.quote_trip(conn, req=req, rules=rules, graph=murino_graph, actor=_operator(api),
                           now=NOW)  # fmt: skip
    assert [(r.field, r.code) for r in exc.value.refusals] == [
        ("return_pickup_at", "overlapping_trip")
    ]
    assert exc.value.refusals[0].message.startswith(
        "Обратная поездка: подача раньше, чем поездка туда прибудет"
    )


def test_from_the_object_and_back_is_quoted_as_booked(api):
    ids = seed_basics(api)
    body = trip_body(ids, direction="from_object", pickup_at=pickup(1, 10),
                     return_pickup_at=pickup(1, 14))  # fmt: skip
    q = api.ok("POST", "trips/quote", json=body, role="operator")
    clinic = api.ok("GET", f"social-objects/{ids['clinic']}")
    back = q["return_trip"]
    assert (back["dropoff_lat"], back["dropoff_lon"]) == (clinic["lat"], clinic["lon"])
    out = api.ok("POST", "trips", 201, json=body, role="operator")
    ret = api.ok("GET", f"trips/{out['return_trip_id']}")
    assert ret["direction"] == "to_object"
    assert (ret["dest_lat"], ret["dest_lon"]) == (back["dropoff_lat"], back["dropoff_lon"])
    assert [ret[n] for n in LEG_FIGURES] == pytest.approx([back[n] for n in LEG_FIGURES])
