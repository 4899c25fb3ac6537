"""Hole 3: a dispatcher created with ``--carrier-id 1`` saw every carrier's vehicles and all
passengers and trips, assigned a trip to another carrier's vehicle, and booked a trip.

Carrier scoping is in the services now (``dispatch.services.scope``). Here carrier A's staff —
once as a plain dispatcher, once with every role (the services must hold whatever the roles
say) — walk every route of the app aimed at carrier B's objects: nothing of B (nor of a
passenger no carrier drives) comes back, nothing of B changes, and no route answers 5xx."""

from __future__ import annotations

import re

import psycopg
import pytest
from fastapi.routing import APIRoute

from tests.conftest import sample_pdf
from tests.integration.api.conftest import (
    CLINIC,
    ROLES,
    passenger_body,
    seed_basics,
    session_tokens,
    set_position,
    trip_body,
)

pytestmark = pytest.mark.integration

# Everything that identifies carrier B's side or the unassigned passenger.
B_MARKERS = ("ООО Чужой", "Х999ХХ47", "Чужаков", "Чужая", "112-233-445 95", "Ничейная", "alien-1")


def _routes(routes):
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from _routes(route.original_router.routes)


@pytest.fixture
def world(api):
    return build_world(api)


def build_world(api) -> dict:
    """Carrier A (seed_basics) and carrier B, each with a trip assigned; a third passenger's
    trip unassigned; a document on each trip; positions of every vehicle; carrier A's staff
    ``a_disp`` (dispatcher) and ``a_all`` (every role) with sessions in ``api.tokens``."""
    a = seed_basics(api, snils=None, phones=["+7 921 000-00-01"], last_name="Своя")
    b_carrier = api.ok("POST", "carriers", 201, json={"name": "ООО Чужой", "inn": "4703999999"})
    b_car = api.ok("POST", "vehicles", 201, json={
        "carrier_id": b_carrier["id"], "plate": "Х999ХХ47", "vehicle_type": "car", "seats": 4,
        "mqtt_id": "alien-1"})  # fmt: skip
    b_driver = api.ok("POST", "drivers", 201, json={
        "carrier_id": b_carrier["id"], "full_name": "Чужаков Пётр",
        "license_no": "47 99 999999"})  # fmt: skip
    b_pass = api.ok("POST", "passengers", 201, json=passenger_body(
        last_name="Чужая", home_address="Мурино, Чужая улица, 5"))["id"]  # fmt: skip
    none_pass = api.ok("POST", "passengers", 201, json=passenger_body(
        last_name="Ничейная", snils=None, phones=[]))["id"]  # fmt: skip
    for vid in (a["car"], a["van"], b_car["id"]):
        set_position(api.db_url, vid, *CLINIC)
    t_a = api.ok("POST", "trips", 201, json=trip_body(a))["id"]
    t_b = api.ok("POST", "trips", 201, json=trip_body(a, passenger_id=b_pass))["id"]
    t_none = api.ok("POST", "trips", 201, json=trip_body(a, passenger_id=none_pass))["id"]
    api.ok("POST", f"trips/{t_a}/assign", json={"vehicle_id": a["car"]})
    api.ok("POST", f"trips/{t_b}/assign", json={"vehicle_id": b_car["id"],
                                               "driver_id": b_driver["id"]})  # fmt: skip
    docs = {}
    pdf = {"file": ("a.pdf", sample_pdf(), "application/pdf")}
    for t in (t_a, t_b, t_none):
        docs[t] = api.ok("POST", f"trips/{t}/documents", 201, files=pdf)["id"]
    # carrier A's staff: a dispatcher, and one holding every role (set in the database directly)
    with psycopg.connect(api.db_url, autocommit=True) as conn:
        uids = {}
        for login, roles in (("a_disp", ("dispatcher",)), ("a_all", ROLES)):
            uid = conn.execute(
                "INSERT INTO users (login, full_name, password_hash, carrier_id)"
                " VALUES (%s, %s, 'x', %s) RETURNING id",
                (login, login, a["carrier"]),
            ).fetchone()[0]
            for r in roles:
                conn.execute("INSERT INTO user_roles VALUES (%s, %s)", (uid, r))
            uids[login] = uid
    api.tokens.update(session_tokens(api.db_url, uids))
    return {
        "a": a, "t_a": t_a, "t_b": t_b, "t_none": t_none, "docs": docs,
        "b_carrier": b_carrier["id"], "b_car": b_car["id"], "b_driver": b_driver["id"],
        "b_pass": b_pass, "none_pass": none_pass,
    }  # fmt: skip


def _snapshot(db_url: str, w) -> tuple:
    with psycopg.connect(db_url) as conn:
        return (
            conn.execute("SELECT * FROM trips WHERE id <> %s ORDER BY id", (w["t_a"],)).fetchall(),
            conn.execute("SELECT * FROM vehicles ORDER BY id").fetchall(),
            conn.execute("SELECT * FROM drivers ORDER BY id").fetchall(),
            conn.execute("SELECT * FROM carriers ORDER BY id").fetchall(),
            conn.execute("SELECT * FROM passengers ORDER BY id").fetchall(),
            conn.execute("SELECT id, trip_id FROM documents ORDER BY id").fetchall(),
            conn.execute("SELECT count(*) FROM trips").fetchone(),
        )


def _bodies(w) -> dict[tuple[str, str], dict]:
    """Realistic bodies for the operations that write (aimed at B or at the region's jobs)."""
    a = w["a"]
    trip = trip_body(a, passenger_id=w["b_pass"])
    rec = {**trip_body(a), "local_time": "09:00", "weekdays": [2], "start": "2026-03-18",
           "until": "2026-03-18"}  # fmt: skip
    rec.pop("pickup_at")
    return {
        ("POST", "/api/v1/trips"): trip,
        ("POST", "/api/v1/trips/quote"): trip,
        ("POST", "/api/v1/trips/recurring"): rec,
        ("POST", "/api/v1/trips/{trip_id}/assign"): {"vehicle_id": w["b_car"], "force": True},
        ("POST", "/api/v1/plan/day"): {"day": "2026-03-17", "apply": True},
        ("POST", "/api/v1/passengers"): passenger_body(last_name="Новая", snils=None),
        ("PATCH", "/api/v1/passengers/{passenger_id}"): {"notes": "изменено"},
        ("POST", "/api/v1/passengers/search"): {"query": "Чужая Мария"},
        ("POST", "/api/v1/trips/{trip_id}/cancel"): {"reason": "проверка"},
        ("POST", "/api/v1/trips/{trip_id}/no-show"): {"reason": "проверка"},
        ("PATCH", "/api/v1/vehicles/{row_id}"): {"seats": 5},
        ("PATCH", "/api/v1/drivers/{row_id}"): {"full_name": "Изменён"},
        ("PATCH", "/api/v1/carriers/{row_id}"): {"name": "Изменён"},
        ("PUT", "/api/v1/users/{user_id}/roles"): {"roles": ["admin"]},
        ("POST", "/api/v1/auth/password"): None,  # own account: not a carrier question
    }


def _path_ids(path: str, w) -> str:
    """``path`` with every parameter set to one of B's (or nobody's) objects."""
    table = path.split("/")[3] if path.count("/") >= 3 else ""
    by_table = {"vehicles": w["b_car"], "drivers": w["b_driver"], "carriers": w["b_carrier"],
                "social-objects": 1}  # fmt: skip
    values = {
        "trip_id": w["t_b"],
        "passenger_id": w["b_pass"],
        "document_id": w["docs"][w["t_b"]],
        "row_id": by_table.get(table, 1),
        "user_id": 1,
    }
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), 1)), path)


@pytest.mark.parametrize("who", ["a_disp", "a_all"])
def test_every_route_as_a_carriers_staff_shows_and_changes_nothing_of_another(api, world, who):
    w = world
    bodies = _bodies(w)
    before = _snapshot(api.db_url, w)
    seen: list[tuple[str, str, int]] = []
    # every route of app.routes, by the paths the client calls (the OpenAPI document)
    spec = api.client.get("/api/v1/openapi.json").json()
    operations = [(m.upper(), p) for p, item in spec["paths"].items() for m in item]
    routes = list(_routes(api.client.app.routes))
    assert len(operations) == sum(len(r.methods) for r in routes) - 1 >= 45  # (- /health)
    skip = {("POST", "/api/v1/auth/logout"), ("POST", "/api/v1/auth/login"),
            ("POST", "/api/v1/auth/password")}  # fmt: skip
    for method, path in operations:
        if (method, path) in skip:
            continue
        url = _path_ids(path, w)
        kw: dict = {}
        if (method, path) in bodies:
            kw["json"] = bodies[(method, path)]
        elif path.endswith("/documents") and method == "POST":
            kw["files"] = {"file": ("x.pdf", sample_pdf(), "application/pdf")}
        elif path.endswith("/import"):
            kw["files"] = {"file": ("x.csv", "plate\nХ1\n".encode(), "text/csv")}
        elif method in ("POST", "PATCH", "PUT"):
            kw["json"] = {}
        r = api.request(method, url, role=who, **kw)
        seen.append((method, path, r.status_code))
        assert r.status_code < 500, (method, url, r.status_code, r.text[:300])
        text = r.content.decode("utf-8", "replace")
        for marker in B_MARKERS:
            assert marker not in text, (method, url, marker, text[:300])
        # no write aimed at B or at the region's jobs succeeds
        assert not (200 <= r.status_code < 300 and method != "GET"), (method, url, r.text[:300])
    assert _snapshot(api.db_url, w) == before
    codes = {(m, p): c for m, p, c in seen}
    # the reported cases, explicitly
    assert codes[("POST", "/api/v1/trips/{trip_id}/assign")] == 404  # B's trip
    assert codes[("POST", "/api/v1/trips")] == 403  # booking is the operator's job
    assert codes[("GET", "/api/v1/passengers")] == 403
    assert codes[("GET", "/api/v1/vehicles/{row_id}")] == 404


def test_a_carriers_staff_sees_its_own_and_cannot_use_anothers_vehicle(api, world):
    w, who = world, "a_disp"
    trips = api.ok("GET", "trips", role=who)
    assert [t["id"] for t in trips] == [w["t_a"]]
    assert [v["id"] for v in api.ok("GET", "vehicles", role=who)] == [w["a"]["car"], w["a"]["van"]]
    assert [c["id"] for c in api.ok("GET", "carriers", role=who)] == [w["a"]["carrier"]]
    assert {v["carrier_id"] for v in api.ok("GET", "drivers", role=who)} == {w["a"]["carrier"]}
    pos = api.ok("GET", "fleet/positions", role=who)
    assert {p["vehicle_id"] for p in pos} == {w["a"]["car"], w["a"]["van"]}
    assert api.get(f"fleet/positions?carrier_id={w['b_carrier']}", role=who).json() == []
    p = api.ok("GET", f"passengers/{w['a']['passenger']}", role=who)
    assert p["last_name"] == "Своя"
    assert api.get(f"passengers/{w['none_pass']}", role=who).status_code == 404
    assert api.get(f"documents/{w['docs'][w['t_a']]}/content", role=who).status_code == 200
    assert api.get(f"documents/{w['docs'][w['t_none']]}/content", role=who).status_code == 404
    # its own trip, another carrier's vehicle: refused; its own other vehicle: fine
    r = api.post(f"trips/{w['t_a']}/assign", role=who, json={"vehicle_id": w["b_car"]})
    assert r.status_code == 404
    r = api.post(f"trips/{w['t_a']}/assign", role=who,
                 json={"vehicle_id": w["a"]["car"], "driver_id": w["b_driver"]})  # fmt: skip
    assert r.status_code == 404
    cands = api.ok("GET", f"trips/{w['t_a']}/candidates", role=who)
    assert w["b_car"] not in {c["vehicle_id"] for c in cands}
    assert api.post(f"trips/{w['t_a']}/start", role=who).status_code == 200
    # the region's own dispatcher still sees everything
    assert len(api.ok("GET", "trips", role="dispatcher")) == 3
