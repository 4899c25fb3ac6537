"""Booking through the API: every refusal, quota (Moscow months, override), co-payment, planned
route, quote preview, documents, recurring series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.conftest import sample_image, sample_pdf
from tests.integration.api.conftest import (
    NOW,
    OUTSIDE,
    pickup,
    seed_basics,
    trip_body,
)


@pytest.fixture
def ids(api):
    return seed_basics(api)


def _refusal_codes(r):
    assert r.status_code == 422, r.text
    return {x["code"] for x in r.json()["refusals"]}


def test_book_stores_fare_copay_route_and_event(api, ids):
    t = api.ok("POST", "trips", 201, json=trip_body(ids), role="operator")
    assert t["status"] == "booked" and t["category"] == "disabled_2" and t["vehicle_type"] == "car"
    assert t["planned_route"]["type"] == "Feature"
    assert t["planned_route"]["geometry"]["type"] == "LineString"
    assert t["planned_dist_m"] > 500 and t["planned_duration_s"] > 30
    pickup_at = datetime.fromisoformat(t["pickup_at"])
    dropoff = datetime.fromisoformat(t["planned_dropoff_at"])
    assert dropoff - pickup_at == pytest.approx(
        timedelta(seconds=t["planned_duration_s"]), abs=timedelta(seconds=1)
    )
    # car: 250 ₽ + 30 ₽/km; 25 % co-payment under 150 km
    km = t["planned_dist_m"] / 1000
    assert abs(t["fare_kop"] - (25000 + 3000 * km)) <= 1
    assert t["copay_share_pct"] == 25 and abs(t["copay_kop"] - t["fare_kop"] * 0.25) <= 1
    assert t["rules_version"] == "2026.1"
    ev = api.ok("GET", f"trips/{t['id']}/events")
    assert [(e["event_type"], e["to_status"], e["actor_user_id"]) for e in ev] == [
        ("booked", "booked", api.user_ids["operator"])
    ]


def test_quote_previews_without_booking(api, ids):
    q = api.ok("POST", "trips/quote", json=trip_body(ids), role="operator")
    assert (
        q["quota"]["month_left"] == 4
        and q["quota"]["month_limit"] == 4
        and not q["override_required"]
    )
    assert q["copay_kop"] > 0 and q["planned_route"]["geometry"]["coordinates"]
    assert datetime.fromisoformat(q["planned_dropoff_at"]) > datetime.fromisoformat(q["pickup_at"])
    assert api.ok("GET", "trips") == []


def test_time_refusals(api, ids):
    assert _refusal_codes(
        api.post("trips", json=trip_body(ids, pickup_at=(NOW - timedelta(hours=1)).isoformat()))
    ) == {"pickup_in_past"}
    assert _refusal_codes(
        api.post("trips", json=trip_body(ids, pickup_at=(NOW + timedelta(minutes=30)).isoformat()))
    ) == {"too_soon"}
    # The region's service runs round the clock: a 03:00 pickup is booked.
    assert api.post("trips", json=trip_body(ids, pickup_at=pickup(1, 3))).status_code == 201
    assert _refusal_codes(api.post("trips", json=trip_body(ids, pickup_at=pickup(40)))) == {
        "too_far_ahead"
    }
    r = api.post("trips", json=trip_body(ids, pickup_at=pickup(40)))
    assert "не более чем за 30 дн." in r.json()["detail"]


def test_vehicle_and_companion_refusals(api):
    ids = seed_basics(api, wheelchair=True, needs_companion=True)
    codes = _refusal_codes(api.post("trips", json=trip_body(ids, vehicle_type="car")))
    assert codes == {"vehicle_not_fit", "companion_required"}
    codes = _refusal_codes(api.post("trips", json=trip_body(ids, companions=2)))
    assert "too_many_companions" in codes
    t = api.ok("POST", "trips", 201, json=trip_body(ids, companions=1))
    assert t["vehicle_type"] == "wheelchair_van" and t["wheelchair"] and t["fare_kop"] > 45000


def test_destination_refusals(api, ids):
    legal = api.ok(
        "POST",
        "social-objects",
        201,
        json={
            "name": "Нотариус",
            "object_type": "legal_aid",
            "address": "Мурино",
            "lat": 60.055,
            "lon": 30.46,
        },
    )
    api.ok(
        "PATCH",
        f"passengers/{ids['passenger']}",
        json={"benefits": [{"category": "disabled_child", "valid_from": "2025-01-01"}]},
    )
    r = api.post("trips", json=trip_body(ids, destination_id=legal["id"]))
    assert _refusal_codes(r) == {"destination_not_allowed"}
    assert "Нотариус" not in r.json()["detail"] and "не даёт права" in r.json()["detail"]
    api.ok("POST", f"social-objects/{ids['mfc']}/deactivate")
    assert _refusal_codes(api.post("trips", json=trip_body(ids, destination_id=ids["mfc"]))) == {
        "destination_inactive"
    }
    assert api.post("trips", json=trip_body(ids, destination_id=99999)).status_code == 404


def test_no_benefit_on_the_date(api):
    ids = seed_basics(
        api,
        benefits=[{"category": "disabled_2", "valid_from": "2025-01-01", "valid_to": "2026-03-16"}],
    )
    assert _refusal_codes(api.post("trips", json=trip_body(ids))) == {"no_benefit"}


def test_out_of_service_area(api, ids):
    body = trip_body(
        ids, pickup_address="Санкт-Петербург", pickup_lat=OUTSIDE[0], pickup_lon=OUTSIDE[1]
    )
    r = api.post("trips", json=body)
    assert _refusal_codes(r) == {"out_of_service_area"}
    assert "вне зоны обслуживания" in r.json()["detail"]
    far = api.ok(
        "POST",
        "social-objects",
        201,
        json={
            "name": "Больница СПб",
            "object_type": "medical",
            "address": "СПб",
            "lat": OUTSIDE[0],
            "lon": OUTSIDE[1],
        },
    )
    r = api.post("trips/quote", json=trip_body(ids, destination_id=far["id"]))
    assert _refusal_codes(r) == {"out_of_service_area"}
    assert r.json()["refusals"][0]["field"] == "destination"


def _insert_trip(db_url, passenger_id, dest_id, pickup_at, status="completed"):
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO trips (passenger_id, category, status, vehicle_type, pickup_at,"
            " pickup_address,"
            " pickup_lat, pickup_lon, dest_object_id, dest_lat, dest_lon)"
            " VALUES (%s, 'disabled_2', %s, 'car', %s, 'Мурино', 60.049, 30.443, %s, 60.06, 30.47)",
            (passenger_id, status, pickup_at, dest_id),
        )


def test_quota_month_boundary_in_moscow_time(api, ids):
    # 1 March 01:00 Moscow is still 28 February in UTC: it counts for March.
    _insert_trip(
        api.db_url, ids["passenger"], ids["clinic"], datetime(2026, 2, 28, 22, 0, tzinfo=UTC)
    )
    _insert_trip(
        api.db_url, ids["passenger"], ids["clinic"], datetime(2026, 3, 5, 8, 0, tzinfo=UTC)
    )
    _insert_trip(
        api.db_url,
        ids["passenger"],
        ids["clinic"],
        datetime(2026, 3, 6, 8, 0, tzinfo=UTC),
        "cancelled",
    )
    # 28 February 20:59 Moscow: February.
    _insert_trip(
        api.db_url, ids["passenger"], ids["clinic"], datetime(2026, 2, 28, 17, 59, tzinfo=UTC)
    )
    q = api.ok("POST", "trips/quote", json=trip_body(ids))
    assert (q["quota"]["month_used"], q["quota"]["month_left"], q["quota"]["year_used"]) == (
        2,
        2,
        3,
    )
    api.ok("POST", "trips", 201, json=trip_body(ids, pickup_at=pickup(1)))
    api.ok("POST", "trips", 201, json=trip_body(ids, pickup_at=pickup(2)))
    q = api.ok("POST", "trips/quote", json=trip_body(ids, pickup_at=pickup(3)))
    assert q["quota"]["month_left"] == 0 and q["override_required"]
    r = api.post("trips", json=trip_body(ids, pickup_at=pickup(3)), role="operator")
    assert r.status_code == 409 and r.json()["code"] == "quota_exceeded"
    assert (
        "Исчерпан лимит поездок на март 2026" in r.json()["detail"]
        and r.json()["quota"]["month_used"] == 4
    )
    # 31 March 20:30 Moscow is March; 1 April 07:30 Moscow is April and fine
    assert (
        api.post("trips", json=trip_body(ids, pickup_at="2026-03-31T17:30:00+00:00")).status_code
        == 409
    )
    april = api.ok("POST", "trips", 201, json=trip_body(ids, pickup_at="2026-04-01T07:30:00+03:00"))
    assert april["over_quota"] is False


def test_quota_override_needs_supervisor_and_reason(api, ids):
    for d in (1, 2, 3, 4):
        api.ok("POST", "trips", 201, json=trip_body(ids, pickup_at=pickup(d)))
    body = trip_body(
        ids, pickup_at=pickup(5), override_reason="Направление на гемодиализ, решение комиссии"
    )
    r = api.post("trips", json=body, role="operator")
    assert r.status_code == 403 and "старший смены" in r.json()["detail"]
    t = api.ok("POST", "trips", 201, json=body, role="supervisor")
    assert t["over_quota"] and t["override_by"] == api.user_ids["supervisor"]
    assert t["override_reason"] == "Направление на гемодиализ, решение комиссии"
    ev = api.ok("GET", f"trips/{t['id']}/events")
    assert ev[0]["payload"]["override_reason"] == t["override_reason"]


def test_exempt_category_pays_nothing(api):
    ids = seed_basics(api, benefits=[{"category": "veteran_wwii", "valid_from": "2025-01-01"}])
    t = api.ok("POST", "trips", 201, json=trip_body(ids))
    assert t["copay_share_pct"] == 0 and t["copay_kop"] == 0 and t["fare_kop"] > 0


PDF = sample_pdf()
PNG = sample_image("PNG")


def test_documents_checked_by_content(api, ids):
    import hashlib

    t = api.ok("POST", "trips", 201, json=trip_body(ids))
    d = api.ok(
        "POST",
        f"trips/{t['id']}/documents",
        201,
        role="operator",
        files={"file": ("направление.pdf", PDF, "image/png")},
        data={"kind": "referral"},
    )
    assert d["content_type"] == "application/pdf" and d["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert d["size_bytes"] == len(PDF) and d["passenger_id"] == ids["passenger"]
    r = api.post(
        f"trips/{t['id']}/documents", files={"file": ("photo.png", b"MZ\x90\x00evil", "image/png")}
    )
    assert r.status_code == 422 and "PDF, JPEG и PNG" in r.json()["detail"]
    r = api.post(
        f"trips/{t['id']}/documents",
        files={"file": ("big.png", PNG + b"\x00" * (10 * 1024 * 1024), "image/png")},
    )
    assert r.status_code == 422 and "10 МБ" in r.json()["detail"]
    assert [x["id"] for x in api.ok("GET", f"trips/{t['id']}/documents")] == [d["id"]]
    got = api.get(f"documents/{d['id']}/content")
    assert got.content == PDF and got.headers["content-type"] == "application/pdf"


def test_recurring_series_books_each_date_and_reports_refusals(api):
    ids = seed_basics(api, benefits=[{"category": "hemodialysis", "valid_from": "2025-01-01"}])
    dialysis = api.ok(
        "POST",
        "social-objects",
        201,
        json={
            "name": "Центр диализа",
            "object_type": "hemodialysis",
            "address": "Мурино",
            "lat": 60.055,
            "lon": 30.46,
        },
    )
    # Mon/Wed/Fri 08:00 Moscow, 16 March – 20 April: today 08:00 has passed (it is 09:00), the
    # horizon ends on 15 April (17 and 20 April pending: the daily job books them later);
    # booked: 6 in March, 7 in April.
    body = {
        "passenger_id": ids["passenger"],
        "destination_id": dialysis["id"],
        "weekdays": [0, 2, 4],
        "local_time": "08:00",
        "start": "2026-03-16",
        "until": "2026-04-20",
    }
    res = api.ok("POST", "trips/recurring", 201, json=body, role="operator")
    booked = [datetime.fromisoformat(t["pickup_at"]) for t in res["booked"]]
    refused = {datetime.fromisoformat(x["pickup_at"]).date().isoformat(): x for x in res["refused"]}
    assert "2026-03-16" in refused and refused["2026-03-16"]["codes"] == ["pickup_in_past"]
    assert set(refused) == {"2026-03-16"}
    pending = [datetime.fromisoformat(t).date().isoformat() for t in res["pending"]]
    assert pending == ["2026-04-17", "2026-04-20"]
    listed = api.ok("GET", f"trips/recurring/{res['recurrence_id']}/refused", role="operator")
    assert [x["codes"] for x in listed] == [["pickup_in_past"]]
    assert len(booked) == 13 and all(t.astimezone(UTC).hour == 5 for t in booked)
    trips = api.ok("GET", "trips?limit=100")
    assert len(trips) == 13 and {t["recurrence_id"] for t in trips} == {res["recurrence_id"]}
    assert all(t["planned_route"] is not None and t["fare_kop"] for t in trips)


def test_recurring_refuses_over_quota_dates(api):
    ids = seed_basics(api)
    body = {
        "passenger_id": ids["passenger"],
        "destination_id": ids["clinic"],
        "weekdays": [0, 1, 2, 3, 4],
        "local_time": "10:00",
        "start": "2026-03-17",
        "until": "2026-03-27",
    }
    res = api.ok("POST", "trips/recurring", 201, json=body)
    assert len(res["booked"]) == 4
    assert len(res["refused"]) == 5 and all(
        x["codes"] == ["quota_exceeded"] for x in res["refused"]
    )
    assert "Исчерпан лимит" in res["refused"][0]["reasons"][0]


def test_passenger_card_shows_trips_left(api, ids):
    api.ok("POST", "trips", 201, json=trip_body(ids, pickup_at=pickup(1)))
    q = api.ok("GET", f"passengers/{ids['passenger']}/quota", role="operator")
    assert (
        q["category"] == "disabled_2"
        and q["quota"]["month_left"] == 3
        and q["quota"]["month_used"] == 1
    )
    q = api.ok(
        "GET", f"passengers/{ids['passenger']}/quota", params={"at": "2026-04-02T10:00:00+03:00"}
    )
    assert q["quota"]["month_left"] == 4 and q["quota"]["year_used"] == 1
    r = api.get(f"passengers/{ids['passenger']}/quota", params={"object_type": "casino"})
    assert r.status_code == 422


def test_recurring_with_half_a_pickup_is_refused_as_a_whole(api):
    """A pickup latitude without a longitude is a bad request, not a series of refused dates
    (nor a recurrence row with no trips)."""
    ids = seed_basics(api)
    body = {
        "passenger_id": ids["passenger"],
        "destination_id": ids["clinic"],
        "weekdays": [1],
        "local_time": "10:00",
        "start": "2026-03-17",
        "until": "2026-03-24",
        "pickup_lat": 60.05,
    }
    r = api.post("trips/recurring", json=body)
    assert r.status_code == 422 and r.json()["code"] == "bad_coords"
    body |= {"pickup_lon": 30.44}  # coordinates without an address
    r = api.post("trips/recurring", json=body)
    assert r.status_code == 422 and r.json()["code"] == "pickup_address_required"
    with psycopg.connect(api.db_url) as conn:
        assert conn.execute("SELECT count(*) FROM recurrences").fetchone() == (0,)
