"""Issue 12 booking rules through the API against the real database: category per trip, history
kept on the trip, local times, overlapping trips, minors with a companion, pickup addresses."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from routing.address_store import import_addresses
from tests.integration.api.conftest import pickup, seed_basics, trip_body


def _codes(r) -> set[str]:  # type: ignore[no-untyped-def]
    assert r.status_code == 422, r.text
    return {x["code"] for x in r.json().get("refusals", [])} or {r.json()["code"]}


def test_exempt_veteran_with_group_one_pays_nothing_and_the_reason_is_stored(api):
    ids = seed_basics(api, benefits=[
        {"category": "veteran_wwii", "valid_from": "2020-01-01"},
        {"category": "disabled_1", "valid_from": "2021-01-01"},
    ])  # fmt: skip
    trip = api.ok("POST", "trips", 201, json=trip_body(ids, destination_id=ids["mfc"]))
    assert trip["category"] == "veteran_wwii" and trip["copay_kop"] == 0 and trip["fare_kop"] > 0
    assert "доля оплаты 0 %" in trip["category_reason"]
    assert trip["object_type"] == "mfc"


def test_dialysis_patient_with_group_one_may_go_to_the_mfc(api):
    ids = seed_basics(api, benefits=[
        {"category": "hemodialysis", "valid_from": "2025-01-01"},
        {"category": "disabled_1", "valid_from": "2025-01-01"},
    ])  # fmt: skip
    trip = api.ok("POST", "trips", 201, json=trip_body(ids, destination_id=ids["mfc"]))
    assert trip["category"] == "disabled_1"
    # With dialysis alone, the МФЦ is refused: the dialysis allowance is for dialysis centres.
    api.ok(
        "PATCH",
        f"passengers/{ids['passenger']}",
        json={"benefits": [{"category": "hemodialysis", "valid_from": "2025-01-01"}]},
    )
    r = api.post("trips", json=trip_body(ids, destination_id=ids["mfc"], pickup_at=pickup(2)))
    assert _codes(r) == {"destination_not_allowed"}


def test_reclassifying_an_object_does_not_rewrite_past_quotas(api):
    ids = seed_basics(api)
    trip = api.ok("POST", "trips", 201, json=trip_body(ids))
    assert trip["object_type"] == "medical"
    # The clinic becomes a culture/sport object (capped at 4 a year): the booked trip still
    # counts as a medical one, so the culture cap is untouched.
    api.ok("PATCH", f"social-objects/{ids['clinic']}", json={"object_type": "culture_sport"})
    q = api.ok("GET", f"passengers/{ids['passenger']}/quota",
               params={"at": pickup(3), "object_type": "culture_sport"})  # fmt: skip
    assert q["quota"]["type_year_used"] == 0 and q["quota"]["month_used"] == 1
    assert api.ok("GET", f"trips/{trip['id']}")["object_type"] == "medical"


def test_local_time_without_a_zone_is_the_regions_and_answers_carry_the_offset(api):
    ids = seed_basics(api)
    local = api.ok("POST", "trips", 201, json=trip_body(ids, pickup_at="2026-03-17T10:00:00"))
    assert local["pickup_at"] == "2026-03-17T10:00:00+03:00"
    assert datetime.fromisoformat(local["pickup_at"]) == datetime(2026, 3, 17, 7, tzinfo=UTC)
    sent = api.ok("POST", "trips", 201, json=trip_body(ids, pickup_at="2026-03-18T12:30:00+03:00"))
    assert sent["pickup_at"] == "2026-03-18T12:30:00+03:00"
    utc = api.ok("POST", "trips", 201, json=trip_body(ids, pickup_at="2026-03-19T09:00:00Z"))
    assert utc["pickup_at"] == "2026-03-19T12:00:00+03:00"
    q = api.ok("POST", "trips/quote", json=trip_body(ids, pickup_at="2026-03-20T10:00:00"))
    assert q["pickup_at"] == "2026-03-20T10:00:00+03:00"


def test_the_same_passenger_cannot_have_two_overlapping_trips(api):
    ids = seed_basics(api)
    first = api.ok("POST", "trips", 201, json=trip_body(ids, pickup_at=pickup(1, 10)))
    r = api.post("trips", json=trip_body(ids, pickup_at=pickup(1, 10)))
    assert _codes(r) == {"overlapping_trip"}
    assert f"№{first['id']}" in r.json()["detail"] and "17.03.2026 10:00" in r.json()["detail"]
    # Another time of the day is fine; a cancelled trip no longer blocks its slot.
    api.ok("POST", "trips", 201, json=trip_body(ids, pickup_at=pickup(1, 15)))
    api.ok(
        "POST",
        f"trips/{first['id']}/cancel",
        json={"reason": "Передумал", "initiator": "passenger"},
        role="operator",
    )
    api.ok("POST", "trips", 201, json=trip_body(ids, pickup_at=pickup(1, 10)))
    with psycopg.connect(api.db_url) as c:
        assert c.execute("SELECT count(*) FROM trips").fetchone() == (3,)


def test_a_minor_travels_only_with_a_named_companion(api):
    ids = seed_basics(
        api,
        birth_date="2015-06-01",
        benefits=[{"category": "disabled_child", "valid_from": "2020-01-01"}],
    )
    assert _codes(api.post("trips", json=trip_body(ids))) == {"companion_required_minor"}
    r = api.post("trips", json=trip_body(ids, companions=1))
    assert _codes(r) == {"companion_name_required"}
    trip = api.ok(
        "POST",
        "trips",
        201,
        json=trip_body(ids, companions=1, companion_name="Петрова Анна Ивановна"),
    )
    assert trip["companion_name"] == "Петрова Анна Ивановна" and trip["copay_kop"] == 0


def test_pickup_address_is_resolved_through_the_index_or_refused(api, shared_data):
    ids = seed_basics(api)
    # No index entry for the text: refused, never the home coordinates.
    r = api.post("trips", json=trip_body(ids, pickup_address="Токсовское шоссе"))
    assert _codes(r) == {"pickup_address_unknown"}
    assert "не найден на карте" in r.json()["detail"]
    with psycopg.connect(api.db_url) as c:
        import_addresses(c, shared_data / "osm" / "murino_lo_osmnx.osm")
        street = c.execute(
            "SELECT lat, lon FROM addresses WHERE label = 'Токсовское шоссе'"
        ).fetchone()
    trip = api.ok("POST", "trips", 201, json=trip_body(ids, pickup_address="Токсовское ш."))
    assert trip["pickup_address"] == "Токсовское шоссе"
    assert (trip["pickup_lat"], trip["pickup_lon"]) == street
    # A house number the map does not have: refused, the street offered as a candidate.
    r = api.post("trips", json=trip_body(ids, pickup_address="Токсовское шоссе, 5",
                                         pickup_at=pickup(2)))  # fmt: skip
    assert _codes(r) == {"pickup_address_unknown"} and "«Токсовское шоссе»" in r.json()["detail"]
    # The passenger's own home address uses the home coordinates.
    home = api.ok("GET", f"passengers/{ids['passenger']}")
    t2 = api.ok("POST", "trips", 201, json=trip_body(ids, pickup_address=home["home_address"],
                                                     pickup_at=pickup(3)))  # fmt: skip
    assert (t2["pickup_lat"], t2["pickup_lon"]) == (home["home_lat"], home["home_lon"])


def test_duplicate_passengers_are_refused_naming_the_match(api):
    from tests.integration.api.conftest import passenger_body

    first = api.ok("POST", "passengers", 201, json=passenger_body())
    # The exact same person again (ФИО spelled with ё/е and case differences).
    r = api.post("passengers", json=passenger_body(last_name="СЕМЕНОВА", snils=None))
    assert r.status_code == 409 and r.json()["code"] == "duplicate_passenger"
    assert f"№{first['id']} Семёнова Мария Петровна, 12.03.1941" in r.json()["detail"]
    assert "ФИО, телефон и дата рождения" in r.json()["detail"]
    # The same phone and birth date under another name (a typo in the name).
    r = api.post("passengers", json=passenger_body(last_name="Семенович", snils=None))
    assert r.status_code == 409 and "телефон и дата рождения" in r.json()["detail"]
    # A namesake: same ФИО and birth date, another phone. An operator is refused; a supervisor
    # may create the namesake; nobody may create one sharing the phone.
    namesake = passenger_body(snils=None, phones=["+7 911 000-11-22"], allow_namesake=True)
    r = api.post("passengers", json={**namesake, "allow_namesake": False}, role="operator")
    assert r.status_code == 409 and "однофамильца" in r.json()["detail"]
    assert api.post("passengers", json=namesake, role="operator").status_code == 403
    api.ok("POST", "passengers", 201, json=namesake, role="supervisor")
    shared = passenger_body(snils=None, allow_namesake=True)
    assert api.post("passengers", json=shared, role="supervisor").status_code == 409
    with psycopg.connect(api.db_url) as c:
        assert c.execute("SELECT count(*) FROM passengers").fetchone() == (2,)


def _at_pickup(api, ids, **over):  # type: ignore[no-untyped-def]
    from tests.integration.api.conftest import set_position

    trip = api.ok("POST", "trips", 201, json=trip_body(ids, **over))
    set_position(api.db_url, ids["car"], trip["pickup_lat"], trip["pickup_lon"])
    api.ok("POST", f"trips/{trip['id']}/assign", json={"vehicle_id": ids["car"], "force": True},
           role="dispatcher")  # fmt: skip
    api.ok("POST", f"trips/{trip['id']}/start", role="dispatcher")
    api.ok("POST", f"trips/{trip['id']}/arrive", role="dispatcher")
    return trip


def test_no_show_only_after_the_wait_and_with_the_vehicle_there(api):
    from datetime import timedelta

    from tests.integration.api.conftest import add_fix

    ids = seed_basics(api)
    trip = _at_pickup(api, ids)
    at = datetime.fromisoformat(trip["pickup_at"])
    url = f"trips/{trip['id']}/no-show"
    body = {"reason": "Не вышел"}
    # Before the booked time + 15 min, and no GPS at the pickup: both checks named.
    api.clock.now = at + timedelta(minutes=5)
    r = api.post(url, json=body, role="dispatcher")
    assert r.status_code == 409 and r.json()["code"] == "no_show_too_early"
    assert "не раньше 10:15" in r.json()["detail"] and "GPS" in r.json()["detail"]
    # After the wait, the car was 1 km away: refused, naming the GPS check only.
    add_fix(api.db_url, ids["car"], trip["pickup_lat"] + 0.009, trip["pickup_lon"],
            at + timedelta(minutes=3))  # fmt: skip
    api.clock.now = at + timedelta(minutes=20)
    r = api.post(url, json=body, role="dispatcher")
    assert r.status_code == 409 and r.json()["code"] == "vehicle_not_at_pickup"
    assert "не раньше" not in r.json()["detail"]
    # A fix within 150 m during the wait: accepted, and it counts (rules: no_show.counts).
    add_fix(api.db_url, ids["car"], trip["pickup_lat"] + 0.0005, trip["pickup_lon"],
            at + timedelta(minutes=8))  # fmt: skip
    ns = api.ok("POST", url, json=body, role="dispatcher")
    assert ns["status"] == "no_show" and ns["counts_for_quota"] is True


def test_cancellations_record_initiator_and_count_per_the_rules(api):
    ids = seed_basics(api)
    # Passenger at the door: counts like a no-show. Carrier at the door: never counts.
    door = _at_pickup(api, ids, pickup_at=pickup(1, 10))
    c = api.ok("POST", f"trips/{door['id']}/cancel",
               json={"reason": "Отказался у подъезда", "initiator": "passenger"})  # fmt: skip
    assert (c["cancel_initiator"], c["cancel_timing"], c["counts_for_quota"]) == (
        "passenger", "at_pickup", True)  # fmt: skip
    car = _at_pickup(api, ids, pickup_at=pickup(1, 14))
    c = api.ok("POST", f"trips/{car['id']}/cancel",
               json={"reason": "Сломалась машина", "initiator": "carrier"})  # fmt: skip
    assert (c["cancel_timing"], c["counts_for_quota"]) == ("at_pickup", False)
    early = api.ok("POST", "trips", 201, json=trip_body(ids, pickup_at=pickup(3)))
    c = api.ok("POST", f"trips/{early['id']}/cancel",
               json={"reason": "Заболел", "initiator": "passenger"})  # fmt: skip
    assert (c["cancel_timing"], c["counts_for_quota"]) == ("early", False)
    # The quota: only the passenger's cancellation at the door counts (1 of 4 used).
    q = api.ok("GET", f"passengers/{ids['passenger']}/quota", params={"at": pickup(5)})
    assert q["quota"]["month_used"] == 1
    r = api.post(f"trips/{early['id']}/cancel", json={"reason": "x"})
    assert r.status_code in (409, 422)
    fresh = api.ok("POST", "trips", 201, json=trip_body(ids, pickup_at=pickup(4)))
    r = api.post(f"trips/{fresh['id']}/cancel", json={"reason": "x"})
    assert r.status_code == 422  # who cancels is required


def test_return_trip_booked_with_the_outward_one_and_linked(api):
    ids = seed_basics(api)
    home = api.ok("GET", f"passengers/{ids['passenger']}")
    body = trip_body(ids, pickup_at=pickup(1, 10), return_pickup_at=pickup(1, 12))
    out = api.ok("POST", "trips", 201, json=body)
    back = api.ok("GET", f"trips/{out['return_trip_id']}")
    assert out["pair_id"] == out["id"] == back["pair_id"]
    assert (out["direction"], back["direction"]) == ("to_object", "from_object")
    # The return starts at the clinic and ends at home.
    clinic = api.ok("GET", f"social-objects/{ids['clinic']}")
    assert back["pickup_object_id"] == ids["clinic"] and back["dest_object_id"] == ids["clinic"]
    assert (back["pickup_lat"], back["pickup_lon"]) == (clinic["lat"], clinic["lon"])
    assert (back["dest_lat"], back["dest_lon"]) == (home["home_lat"], home["home_lon"])
    assert back["dest_address"] == home["home_address"] and back["object_type"] == "medical"
    # The pair is one trip of the quota (rules: pair_counts_as = "one").
    q = api.ok("GET", f"passengers/{ids['passenger']}/quota", params={"at": pickup(5)})
    assert q["quota"]["month_used"] == 1
    # The co-payment band comes from the pair's total distance; both legs are under 150 km: 25 %.
    assert out["copay_share_pct"] == back["copay_share_pct"] == 25
    # A return before the outward trip arrives is refused, and the outward is not booked either.
    r = api.post("trips", json=trip_body(ids, pickup_at=pickup(2, 10),
                                         return_pickup_at=pickup(2, 10, 1)))  # fmt: skip
    assert r.status_code == 422
    assert {x["field"] for x in r.json()["refusals"]} == {"return_pickup_at"}
    assert "Обратная поездка" in r.json()["detail"]
    with psycopg.connect(api.db_url) as c:
        assert c.execute("SELECT count(*) FROM trips").fetchone() == (2,)


def test_from_the_clinic_home_alone(api):
    ids = seed_basics(api)
    trip = api.ok("POST", "trips", 201, json=trip_body(ids, direction="from_object"))
    home = api.ok("GET", f"passengers/{ids['passenger']}")
    assert trip["direction"] == "from_object" and trip["pickup_object_id"] == ids["clinic"]
    assert (trip["dest_lat"], trip["dest_lon"]) == (home["home_lat"], home["home_lon"])


def test_a_three_month_series_is_expanded_as_its_dates_come_within_the_horizon(
    api, murino_graph, rules
):
    from datetime import timedelta

    from dispatch.services.booking import expand_series
    from tests.integration.api.conftest import NOW

    ids = seed_basics(api, benefits=[
        {"category": "hemodialysis", "valid_from": "2025-01-01"},
        {"category": "disabled_1", "valid_from": "2025-01-01"},
    ])  # fmt: skip
    centre = api.ok("POST", "social-objects", 201, json={
        "name": "Центр диализа", "object_type": "hemodialysis", "address": "Мурино",
        "lat": 60.055, "lon": 30.46})  # fmt: skip
    body = {"passenger_id": ids["passenger"], "destination_id": centre["id"],
            "weekdays": [0, 2, 4], "local_time": "07:00", "start": "2026-03-18",
            "until": "2026-06-15"}  # fmt: skip
    res = api.ok("POST", "trips/recurring", 201, json=body, role="operator")
    total = len(res["booked"]) + len(res["refused"]) + len(res["pending"])
    assert total == 39 and res["refused"] == []
    # Booked now: 18 March – 15 April (13); was: the other 26 refused as too far ahead.
    assert len(res["booked"]) == 13 and len(res["pending"]) == 26
    # The daily job, run on later days, books each date as it enters the 30-day horizon.
    for days in (10, 35, 61):
        with psycopg.connect(api.db_url) as conn:
            expand_series(conn, rules=rules, graph=murino_graph, now=NOW + timedelta(days=days))
            conn.commit()
    with psycopg.connect(api.db_url) as conn:
        n = conn.execute(
            "SELECT count(*) FROM trips WHERE recurrence_id = %s", (res["recurrence_id"],)
        ).fetchone()
        again = expand_series(conn, rules=rules, graph=murino_graph, now=NOW + timedelta(days=61))
    assert n == (39,) and again == []  # nothing left; a repeated run books nothing twice
    # Every booked date is a dialysis trip under the dialysis category.
    trips = api.ok("GET", "trips?limit=100")
    assert {t["category"] for t in trips} == {"hemodialysis"}


def test_series_dates_over_quota_when_expanded_are_listed_for_the_operator(
    api, murino_graph, rules
):
    from datetime import timedelta

    from dispatch.services.booking import expand_series
    from tests.integration.api.conftest import NOW

    ids = seed_basics(api)  # disabled_2: 4 trips a month
    body = {"passenger_id": ids["passenger"], "destination_id": ids["clinic"],
            "weekdays": [1], "local_time": "10:00", "start": "2026-04-20",
            "until": "2026-05-31"}  # Tuesdays: 21, 28 April; 5, 12, 19, 26 May  # fmt: skip
    res = api.ok("POST", "trips/recurring", 201, json=body, role="operator")
    assert res["booked"] == [] and len(res["pending"]) == 6

    def job(days: int) -> None:  # the daily job, run on day NOW + days
        with psycopg.connect(api.db_url) as conn:
            expand_series(conn, rules=rules, graph=murino_graph, now=NOW + timedelta(days=days))
            conn.commit()

    job(10)  # 21 April enters the horizon
    api.clock.now = NOW + timedelta(days=35)
    for d in (2, 3, 4):  # three May trips booked by hand in between
        api.ok("POST", "trips", 201, json=trip_body(ids, pickup_at=f"2026-05-0{d}T12:00:00"))
    job(40)  # 28 April, 5, 12, 19 May
    job(47)  # 26 May
    refused = api.ok("GET", "trips/recurring/refused", role="operator")
    # May: 3 by hand + 5 May from the series = 4; 12, 19, 26 May are over the quota.
    got = sorted(datetime.fromisoformat(x["pickup_at"]).date().isoformat() for x in refused)
    assert got == ["2026-05-12", "2026-05-19", "2026-05-26"]
    assert all("Исчерпан лимит" in x["reasons"][0] for x in refused)
