"""The admin registry forms (form text → service model, refusals by field) and the geofence's
fit to its object's point: pure, no services."""

from __future__ import annotations

import pytest

from dispatch.geofence import area_m2, geofence_problem
from dispatch.models import PassengerPatch, SocialObjectIn
from web.pages.admin_forms import parse, parse_ring, ring_text, values_of

# about 111 m × 222 m around the point (60.06, 30.47)
SQUARE = "60.059, 30.469\n60.059, 30.471\n60.061, 30.471\n60.061, 30.469"
OBJECT = {"name": "Поликлиника", "object_type": "medical", "address": "ул. Оборонная, 2",
          "lat": "60,06", "lon": "30.47", "radius_m": "150"}  # fmt: skip
PASSENGER = {"last_name": "Иванова", "first_name": "Анна", "birth_date": "09.05.1944",
             "phones": "+7 921 123-45-67; 8 813 700 00 01", "snils": "112-233-445 95",
             "benefit_category_0": "disabled_1", "benefit_from_0": "2025-01-01"}  # fmt: skip


def test_ring_round_trip_and_area():
    poly, err = parse_ring(SQUARE)
    assert err is None and poly is not None
    ring = poly["coordinates"][0]
    assert ring[0] == ring[-1] == [30.469, 60.059] and len(ring) == 5  # closed, lon-lat
    assert ring_text(poly).splitlines()[0] == "60.059000, 30.469000"
    assert 24_000 < area_m2(poly) < 25_500  # 111 m × 222 m, measured in UTM 36N
    assert parse_ring("60,059, 30,469\n60,059, 30,471\n60,061, 30,471")[1] is None
    assert parse_ring("60.059, 30.469\n60.059, 30.471")[1] == "Геозона: нужно не меньше трёх вершин"
    assert "строка 2" in (parse_ring("60.059, 30.469\nсевер\n60.061, 30.471")[1] or "")
    assert parse_ring("  \n") == (None, None)


def test_geofence_must_hold_the_point_and_be_of_sane_size():
    poly, _ = parse_ring(SQUARE)
    assert poly is not None
    assert geofence_problem(poly, lat=60.06, lon=30.47) is None
    assert "внутри" in (geofence_problem(poly, lat=60.07, lon=30.47) or "")
    tiny, _ = parse_ring("60.06, 30.47\n60.06, 30.47003\n60.06003, 30.47003")
    assert tiny is not None and "меньше" in (
        geofence_problem(tiny, lat=60.06001, lon=30.47002) or ""
    )
    huge, _ = parse_ring("59.9, 30.2\n59.9, 30.8\n60.2, 30.8\n60.2, 30.2")
    assert huge is not None and "больше" in (geofence_problem(huge, lat=60.06, lon=30.47) or "")
    # the API's model refuses the same
    with pytest.raises(ValueError, match="внутри"):
        SocialObjectIn(name="x", object_type="medical", address="a", lat=60.07, lon=30.47,
                       geofence=poly)  # fmt: skip


def test_object_form_polygon_and_circle():
    model, errors = parse("objects", {**OBJECT, "zone_kind": "polygon", "geofence": SQUARE},
                          editing=False)  # fmt: skip
    assert not errors and isinstance(model, SocialObjectIn)
    assert model.lat == 60.06 and model.geofence is not None
    bow_tie = "60.059, 30.469\n60.061, 30.471\n60.059, 30.471\n60.061, 30.469"
    model, errors = parse("objects", {**OBJECT, "zone_kind": "polygon", "geofence": bow_tie},
                          editing=False)  # fmt: skip
    assert model is None and "самопересекающийся" in errors.fields["geofence"]
    model, errors = parse("objects", {**OBJECT, "zone_kind": "polygon"}, editing=False)
    assert model is None and "нарисуйте контур" in errors.fields["geofence"]
    # a circle ignores a leftover outline; editing sends every field, so the polygon is cleared
    model, errors = parse("objects", {**OBJECT, "zone_kind": "circle", "geofence": SQUARE},
                          editing=True)  # fmt: skip
    assert not errors and model is not None
    assert model.model_dump(exclude_unset=True)["geofence"] is None
    model, errors = parse("objects", {**OBJECT, "lat": "север", "radius_m": "0"}, editing=False)
    assert set(errors.fields) == {"lat", "radius_m"} and not errors.general


def test_passenger_form_fields_and_refusals():
    model, errors = parse("passengers", PASSENGER, editing=False)
    assert not errors and model is not None
    dumped = model.model_dump()
    assert dumped["phones"] == ["79211234567", "78137000001"]
    assert dumped["birth_date"].isoformat() == "1944-05-09"
    assert dumped["benefits"][0]["category"] == "disabled_1"
    bad = {**PASSENGER, "phones": "+7 921 123-45-6", "snils": "112-233-445 96",
           "birth_date": "31.02.1944", "benefit_from_0": "", "home_lat": "60.05"}  # fmt: skip
    model, errors = parse("passengers", bad, editing=False)
    assert model is None
    assert "не хватает цифры" in errors.fields["phones"]
    assert errors.fields["snils"].startswith("Неверный СНИЛС")  # no label repeated before it
    assert "ДД.ММ.ГГГГ" in errors.fields["birth_date"]
    assert "дату начала" in errors.fields["benefit_0"]
    # editing: a PassengerPatch of every field, cleared optional ones included
    model, errors = parse("passengers", {**PASSENGER, "middle_name": ""}, editing=True)
    assert isinstance(model, PassengerPatch)
    assert "middle_name" in model.model_fields_set and model.middle_name is None


def test_vehicle_form_and_values_round_trip():
    form = {"carrier_id": "3", "plate": "к777мм 47", "vehicle_type": "wheelchair_van",
            "seats": "3", "wheelchair_places": "", "mqtt_id": "van-7"}  # fmt: skip
    model, errors = parse("vehicles", form, editing=False)
    assert not errors and model is not None
    assert (
        model.model_dump()["plate"] == "К777ММ47" and model.model_dump()["wheelchair_places"] == 0
    )
    model, errors = parse("vehicles", {**form, "carrier_id": "", "seats": "x"}, editing=False)
    assert errors.fields["carrier_id"] == "Перевозчик: выберите из списка"
    assert errors.fields["seats"] == "Мест: ожидается целое число"

    from dispatch.models import Vehicle

    record = Vehicle(id=1, carrier_id=3, plate="К777ММ47", vehicle_type="wheelchair_van", seats=3,
                     wheelchair_places=1, model=None, mqtt_id="van-7", active=True)  # fmt: skip
    values = values_of("vehicles", record)
    assert values["model"] == "" and values["seats"] == "3"
    again, errors = parse("vehicles", values, editing=True)
    assert not errors and again is not None and again.model_dump()["plate"] == "К777ММ47"


def test_every_registry_page_needs_the_role_and_every_form_the_csrf_token():
    from fastapi.routing import APIRoute

    from web.pages import admin
    from web.pages.session import check_csrf

    def deps(dependant):
        for d in dependant.dependencies:
            yield d.call
            yield from deps(d)

    def walk(routes):  # FastAPI keeps an included router as one entry (original_router)
        for r in routes:
            if isinstance(r, APIRoute):
                yield r
            elif hasattr(r, "original_router"):
                yield from walk(r.original_router.routes)

    routes = list(walk(admin.router.routes))
    kinds = ("passengers", "objects", "carriers", "vehicles", "drivers")
    # the included router's paths are kept without the /admin prefix
    registry = [r for r in routes if (r.path.removeprefix("/admin") + "/").split("/")[1] in kinds]
    assert len(registry) == 5 * 6 + 1  # new, edit (GET, POST), deactivate, activate; search
    for r in registry:
        calls = set(deps(r.dependant))
        roles = {getattr(c, "required_roles", None) for c in calls} - {None}
        assert roles == {("supervisor", "admin")}, r.path
        assert (check_csrf in calls) == ("POST" in r.methods), (r.path, r.methods)


def test_a_nul_character_is_refused_next_to_its_field():
    model, errors = parse("drivers", {"carrier_id": "1", "full_name": "Иванов\x00",
                                      "license_no": "47 00 1"}, editing=False)  # fmt: skip
    assert model is None and errors.fields == {"full_name": "ФИО: недопустимые символы"}


def test_an_edit_keeps_every_stored_benefit():
    """A passenger with more benefits than the form's default rows loses none on an edit."""
    from web.pages.admin_forms import benefit_rows

    seven = {f"benefit_category_{i}": "disabled_1" for i in range(7)}
    seven |= {f"benefit_from_{i}": f"2026-0{i + 1}-01" for i in range(7)}
    rows = benefit_rows(seven)
    assert len(rows) == 9  # the seven stored rows and two blank ones
    assert len(benefit_rows({})) == 5
    model, errors = parse("passengers", {**PASSENGER, **seven}, editing=True)
    assert not errors and model is not None
    assert len(model.model_dump()["benefits"]) == 7
