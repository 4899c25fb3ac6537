"""Assignment through the API: propose, assign with conflicts, plan a day, positions."""

from __future__ import annotations

import pytest

from tests.integration.api.conftest import (
    CLINIC,
    HOME,
    MFC,
    other_passenger,
    pickup,
    seed_basics,
    set_position,
    trip_body,
)


@pytest.fixture
def ids(api):
    ids = seed_basics(api)
    set_position(api.db_url, ids["car"], *MFC)
    set_position(api.db_url, ids["van"], *CLINIC)
    return ids


def test_propose_ranks_fitting_vehicles(api, ids):
    t = api.ok("POST", "trips", 201, json=trip_body(ids))
    c = api.ok("GET", f"trips/{t['id']}/candidates", role="dispatcher")
    assert [x["vehicle_id"] for x in c] == [ids["car"]]  # the van is another type
    assert c[0]["plate"] == "А123ВС47" and c[0]["empty_m"] > 0 and c[0]["lateness_s"] == 0
    # a second car nearer to the pickup comes first
    car2 = api.ok(
        "POST",
        "vehicles",
        201,
        json={
            "carrier_id": ids["carrier"],
            "plate": "К001КК47",
            "vehicle_type": "car",
            "seats": 4,
            "mqtt_id": "car-2",
        },
    )
    set_position(api.db_url, car2["id"], *HOME)
    c = api.ok("GET", f"trips/{t['id']}/candidates", role="dispatcher")
    assert [x["vehicle_id"] for x in c] == [car2["id"], ids["car"]]


def test_assign_detects_conflicts_and_allows_override(api, ids):
    # three trips at the same time for one car: the third cannot be reached in time
    t1, t2, t3 = (
        api.ok("POST", "trips", 201,
               json=trip_body(ids, pickup_at=pickup(1, 10, 0), passenger_id=pid))
        for pid in (ids["passenger"], other_passenger(api, 1), other_passenger(api, 2))
    )  # fmt: skip
    a = api.ok(
        "POST",
        f"trips/{t1['id']}/assign",
        json={"vehicle_id": ids["car"], "driver_id": ids["driver"]},
        role="dispatcher",
    )
    assert (
        a["trip"]["status"] == "assigned"
        and a["trip"]["vehicle_id"] == ids["car"]
        and a["conflicts"] == []
    )
    assert a["trip"]["driver_id"] == ids["driver"] and a["trip"]["carrier_id"] == ids["carrier"]
    api.ok(
        "POST",
        f"trips/{t2['id']}/assign",
        json={"vehicle_id": ids["car"], "force": True},
        role="dispatcher",
    )
    r = api.post(f"trips/{t3['id']}/assign", json={"vehicle_id": ids["car"]}, role="dispatcher")
    assert r.status_code == 409 and r.json()["code"] == "assignment_conflict"
    assert r.json()["conflicts"] and r.json()["conflicts"][0]["kind"] in ("overlap", "unreachable")
    assert "Назначение конфликтует" in r.json()["detail"]
    assert api.ok("GET", f"trips/{t3['id']}")["status"] == "booked"
    forced = api.ok(
        "POST",
        f"trips/{t3['id']}/assign",
        json={"vehicle_id": ids["car"], "force": True},
        role="dispatcher",
    )
    assert forced["forced"] and forced["conflicts"] and forced["trip"]["vehicle_id"] == ids["car"]
    ev = api.ok("GET", f"trips/{t3['id']}/events")[-1]
    assert (
        ev["event_type"] == "assign"
        and ev["payload"]["forced"] is True
        and ev["payload"]["conflicts"]
    )
    r = api.post(f"trips/{t1['id']}/assign", json={"vehicle_id": ids["van"]}, role="dispatcher")
    assert r.status_code == 409 and r.json()["conflicts"][0]["kind"] == "type_mismatch"
    r = api.post(
        f"trips/{t1['id']}/assign",
        json={"vehicle_id": ids["car"], "driver_id": 999},
        role="dispatcher",
    )
    assert r.status_code == 404 and r.json()["detail"] == "Водитель не найден"


def test_plan_day_assigns_the_fleet(api, ids):
    car2 = api.ok(
        "POST",
        "vehicles",
        201,
        json={
            "carrier_id": ids["carrier"],
            "plate": "К001КК47",
            "vehicle_type": "car",
            "seats": 4,
            "mqtt_id": "car-2",
        },
    )
    set_position(api.db_url, car2["id"], *HOME)
    # two passengers wanting overlapping trips: two cars needed
    other = api.ok(
        "POST",
        "passengers",
        201,
        json={
            "last_name": "Орлов",
            "first_name": "Олег",
            "birth_date": "1940-01-01",
            "home_lat": MFC[0],
            "home_lon": MFC[1],
            "home_address": "Мурино",
            "benefits": [{"category": "disabled_1", "valid_from": "2025-01-01"}],
        },
    )
    t1 = api.ok("POST", "trips", 201, json=trip_body(ids, pickup_at=pickup(1, 10, 0)))
    t2 = api.ok(
        "POST",
        "trips",
        201,
        json=trip_body(ids, passenger_id=other["id"], pickup_at=pickup(1, 10, 0)),
    )
    t3 = api.ok("POST", "trips", 201, json=trip_body(ids, pickup_at=pickup(1, 14, 0)))
    preview = api.ok("POST", "plan/day", json={"day": "2026-03-17"}, role="dispatcher")
    assert set(preview["assignments"]) == {str(t1["id"]), str(t2["id"]), str(t3["id"])}
    assert preview["assignments"][str(t1["id"])] != preview["assignments"][str(t2["id"])]
    assert preview["unassigned"] == [] and preview["applied"] is False
    assert api.ok("GET", f"trips/{t1['id']}")["status"] == "booked"
    done = api.ok("POST", "plan/day", json={"day": "2026-03-17", "apply": True}, role="dispatcher")
    assert done["applied"]
    trips = {t["id"]: t for t in api.ok("GET", "trips")}
    assert all(trips[t["id"]]["status"] == "assigned" for t in (t1, t2, t3))
    assert trips[t1["id"]]["vehicle_id"] == done["assignments"][str(t1["id"])]


def test_positions_for_the_map(api, ids):
    pos = api.ok("GET", "fleet/positions", role="controller")
    assert [(p["vehicle_id"], p["plate"]) for p in pos] == [
        (ids["car"], "А123ВС47"),
        (ids["van"], "В456ОР47"),
    ]
    assert pos[0]["lat"] == MFC[0]
    assert api.get("fleet/positions", role="operator").status_code == 403


def test_plan_day_starts_vehicles_without_position_from_depot_or_first_pickup(api):
    """A morning plan before shifts begin: no vehicle has reported a position yet."""
    ids = seed_basics(api)  # no positions
    # the carrier's depot is near the passenger's home
    c = api.ok(
        "PATCH",
        f"carriers/{ids['carrier']}",
        json={"depot_address": "Мурино, база", "depot_lat": HOME[0], "depot_lon": HOME[1]},
    )
    assert (c["depot_lat"], c["depot_lon"]) == HOME
    r = api.patch(f"carriers/{ids['carrier']}", json={"depot_lat": HOME[0]})
    assert r.status_code == 422 and "парой" in r.json()["detail"]
    # a second carrier without a depot and its car
    other = api.ok("POST", "carriers", 201, json={"name": "ООО Без базы"})
    car3 = api.ok(
        "POST",
        "vehicles",
        201,
        json={
            "carrier_id": other["id"],
            "plate": "М777ММ47",
            "vehicle_type": "car",
            "seats": 4,
            "mqtt_id": "car-3",
        },
    )
    t1 = api.ok("POST", "trips", 201, json=trip_body(ids, pickup_at=pickup(1, 10, 0)))
    plan = api.ok("POST", "plan/day", json={"day": "2026-03-17"}, role="dispatcher")
    assert plan["vehicle_starts"] == {
        str(ids["car"]): "depot",
        str(ids["van"]): "depot",
        str(car3["id"]): "first_pickup",
    }
    assert sorted(plan["vehicles_without_position"]) == sorted([ids["car"], ids["van"], car3["id"]])
    assert plan["unassigned"] == [] and str(t1["id"]) in plan["assignments"]
    # a trip already assigned to a vehicle without a position stays with it
    api.ok("POST", f"trips/{t1['id']}/assign", json={"vehicle_id": ids["car"]}, role="dispatcher")
    set_position(api.db_url, car3["id"], *HOME)  # car3 now reports, right at the pickup
    plan = api.ok("POST", "plan/day", json={"day": "2026-03-17"}, role="dispatcher")
    assert plan["assignments"] == {str(t1["id"]): ids["car"]}
    assert plan["vehicle_starts"][str(car3["id"])] == "position"


def test_carrier_depot_in_csv_import(api):
    csv = (
        "name,inn,depot_address,depot_lat,depot_lon\n"
        "ООО Такси,7801234567,Мурино,60.05,30.44\n"
        "ООО Половина,7801234568,Мурино,60.05,\n"
    ).encode()
    out = api.ok("POST", "carriers/import", files={"file": ("c.csv", csv, "text/csv")})
    assert out["created"] == 1 and [e["line"] for e in out["errors"]] == [3]
    got = api.ok("GET", f"carriers/{out['ids'][0]}")
    assert (got["depot_lat"], got["depot_lon"], got["depot_address"]) == (60.05, 30.44, "Мурино")


def test_a_vehicle_of_unknown_whereabouts_is_proposed_after_located_ones(api, ids):
    """Its zero empty driving to a first pickup is not real: it must not outrank a located car."""
    other = api.ok("POST", "carriers", 201, json={"name": "ООО Без базы"})
    nowhere = api.ok(
        "POST",
        "vehicles",
        201,
        json={
            "carrier_id": other["id"],
            "plate": "М777ММ47",
            "vehicle_type": "car",
            "seats": 4,
            "mqtt_id": "car-3",
        },
    )
    t = api.ok("POST", "trips", 201, json=trip_body(ids))
    c = api.ok("GET", f"trips/{t['id']}/candidates", role="dispatcher")
    assert [(x["vehicle_id"], x["start"]) for x in c] == [
        (ids["car"], "position"),
        (nowhere["id"], "first_pickup"),
    ]
    assert c[0]["empty_m"] > 0 and c[1]["empty_m"] == 0
