"""Registries through the API: create, update, deactivate, CSV import with bad rows."""

from __future__ import annotations

from tests.integration.api.conftest import CLINIC, passenger_body, seed_basics


def test_passenger_create_normalises_and_reads_back(api):
    p = api.ok(
        "POST",
        "passengers",
        201,
        json=passenger_body(phones=["8 921 123-45-67", "+7(812)555-00-11"]),
    )
    assert p["phones"] == ["79211234567", "78125550011"]
    assert p["snils"] == "11223344595"
    assert p["benefits"][0]["category"] == "disabled_2"
    got = api.ok("GET", f"passengers/{p['id']}")
    assert got["last_name"] == "Семёнова" and got["home_lat"] == p["home_lat"]


def test_passenger_refusals_are_russian_422(api):
    r = api.post("passengers", json=passenger_body(snils="112-233-445 96"))
    assert r.status_code == 422 and "СНИЛС" in r.json()["detail"]
    r = api.post("passengers", json=passenger_body(phones=["12345"]))
    assert r.status_code == 422 and "телефон" in r.json()["detail"]
    r = api.post(
        "passengers",
        json=passenger_body(benefits=[{"category": "nobody", "valid_from": "2025-01-01"}]),
    )
    assert r.status_code == 422 and "категория" in r.json()["detail"]
    r = api.post("passengers", json={"first_name": "Мария"})
    body = r.json()
    assert r.status_code == 422 and "Фамилия: обязательное поле" in body["detail"]
    assert {"field": "last_name", "message": "Фамилия: обязательное поле"} in body["errors"]


def test_passenger_update_and_deactivate(api):
    p = api.ok("POST", "passengers", 201, json=passenger_body())
    upd = api.ok(
        "PATCH",
        f"passengers/{p['id']}",
        json={"last_name": "Семенова-Иванова", "wheelchair": True, "phones": ["89110000000"]},
    )
    assert (
        upd["last_name"] == "Семенова-Иванова"
        and upd["wheelchair"]
        and upd["phones"] == ["79110000000"]
    )
    assert upd["first_name"] == "Мария"
    off = api.ok("POST", f"passengers/{p['id']}/deactivate", role="operator")
    assert off["active"] is False
    assert api.get(f"passengers/{p['id'] + 1000}").status_code == 404


def test_duplicate_snils_is_409(api):
    api.ok("POST", "passengers", 201, json=passenger_body())
    r = api.post("passengers", json=passenger_body(phones=[]))
    assert r.status_code == 409 and "СНИЛС" in r.json()["detail"]


def test_fleet_registries(api):
    ids = seed_basics(api)
    v = api.ok("PATCH", f"vehicles/{ids['car']}", json={"seats": 3})
    assert v["seats"] == 3 and v["plate"] == "А123ВС47"
    assert api.ok("POST", f"vehicles/{ids['car']}/deactivate")["active"] is False
    assert [x["id"] for x in api.ok("GET", "vehicles?active=true")] == [ids["van"]]
    r = api.post(
        "vehicles",
        json={
            "carrier_id": ids["carrier"],
            "plate": "Е001КХ47",
            "vehicle_type": "bus",
            "seats": 4,
            "mqtt_id": "bus-1",
        },
    )
    assert r.status_code == 422 and "Неизвестный тип" in r.json()["detail"]
    r = api.post(
        "vehicles",
        json={
            "carrier_id": 9999,
            "plate": "Е001КХ47",
            "vehicle_type": "car",
            "seats": 4,
            "mqtt_id": "car-9",
        },
    )
    assert r.status_code == 422 and "Перевозчик не найден" in r.json()["detail"]
    r = api.post(
        "vehicles",
        json={
            "carrier_id": ids["carrier"],
            "plate": "Е001КХ47",
            "vehicle_type": "car",
            "seats": 4,
            "mqtt_id": "car-1",
        },
    )
    assert r.status_code == 409 and "MQTT" in r.json()["detail"]
    d = api.ok("PATCH", f"drivers/{ids['driver']}", json={"phone": "+79990001122"})
    assert d["phone"] == "+79990001122"
    assert api.ok("POST", f"drivers/{ids['driver']}/deactivate")["active"] is False
    c = api.ok("PATCH", f"carriers/{ids['carrier']}", json={"contract_no": "СТ-2026/1"})
    assert c["contract_no"] == "СТ-2026/1"
    assert api.ok("POST", f"carriers/{ids['carrier']}/deactivate")["active"] is False


def test_social_object_geofence_and_type(api):
    fence = {
        "type": "Polygon",
        "coordinates": [
            [
                [30.469, 60.059],
                [30.471, 60.059],
                [30.471, 60.061],
                [30.469, 60.061],
                [30.469, 60.059],
            ]
        ],
    }
    o = api.ok(
        "POST",
        "social-objects",
        201,
        json={
            "name": "Поликлиника",
            "object_type": "medical",
            "address": "ул. Оборонная, 2",
            "lat": CLINIC[0],
            "lon": CLINIC[1],
            "geofence": fence,
        },
    )
    assert o["geofence"]["type"] == "Polygon"
    bad = {
        **fence,
        "coordinates": [
            [
                [30.469, 60.059],
                [30.471, 60.061],
                [30.471, 60.059],
                [30.469, 60.061],
                [30.469, 60.059],
            ]
        ],
    }
    r = api.post(
        "social-objects",
        json={
            "name": "X",
            "object_type": "medical",
            "address": "a",
            "lat": 60.06,
            "lon": 30.47,
            "geofence": bad,
        },
    )
    assert r.status_code == 422 and "Геозона" in r.json()["detail"]
    r = api.post(
        "social-objects",
        json={"name": "X", "object_type": "casino", "address": "a", "lat": 60.06, "lon": 30.47},
    )
    assert r.status_code == 422 and "тип социального объекта" in r.json()["detail"]
    upd = api.ok("PATCH", f"social-objects/{o['id']}", json={"geofence": None, "radius_m": 80})
    assert upd["geofence"] is None and upd["radius_m"] == 80
    assert api.ok("POST", f"social-objects/{o['id']}/deactivate")["active"] is False


PASSENGERS_CSV = """\
Фамилия;Имя;Отчество;Дата рождения;Телефон;СНИЛС;Адрес;Широта;Долгота;Коляска;Категория;Льгота с
Иванов;Иван;Иванович;12.03.1941;+7 921 000-00-01;112-233-445 95;Мурино;60,049;30,443;нет;disabled_1;01.01.2025
Петров;Пётр;;1950-01-01;8 (921) 000-00-02;;Мурино;;;да;age_80_plus;2025-01-01
Сидоров;;Сидорович;01.01.1940;;;;;;;;
Кузнецов;Семён;;31.02.1945;;;;;;;;
Смирнова;Анна;;01.01.1930;12345;;;;;;;
Орлов;Олег;;01.01.1930;;112-233-445 95;;;;;;
Волков;Виктор;;01.01.1935;;;;;;;unknown_cat;
"""  # noqa: E501


def test_passenger_csv_import_keeps_good_rows_and_reports_bad_ones(api):
    r = api.post(
        "passengers/import",
        role="operator",
        files={"file": ("p.csv", PASSENGERS_CSV.encode("utf-8"), "text/csv")},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["created"] == 2
    errors = {e["line"]: e["message"] for e in body["errors"]}
    assert set(errors) == {4, 5, 6, 7, 8}
    assert "Имя" in errors[4]
    assert "дата" in errors[5]
    assert "телефон" in errors[6]
    assert "СНИЛС" in errors[7]  # duplicate of line 2, refused by the database
    assert "категория" in errors[8]
    people = api.ok("GET", "passengers")
    assert {p["last_name"] for p in people} == {"Иванов", "Петров"}


def test_vehicle_csv_import_cp1251_comma(api):
    ids = seed_basics(api)
    csv_text = (
        "carrier_id,plate,vehicle_type,seats,wheelchair_places,mqtt_id\n"
        f"{ids['carrier']},М777ММ47,car,4,0,car-7\n"
        f"{ids['carrier']},М778ММ47,car,four,0,car-8\n"
        f"{ids['carrier']},М779ММ47,car,4,0,car-1\n"
    )
    r = api.post(
        "vehicles/import", files={"file": ("v.csv", csv_text.encode("cp1251"), "text/csv")}
    )
    body = r.json()
    assert body["created"] == 1, body
    assert [e["line"] for e in body["errors"]] == [3, 4]
    assert "целое" in body["errors"][0]["message"] and "MQTT" in body["errors"][1]["message"]


def test_fleet_writes_need_admin_or_supervisor(api):
    r = api.post("carriers", role="operator", json={"name": "ООО Тест"})
    assert r.status_code == 403 and "Недостаточно прав" in r.json()["detail"]
    assert api.post("carriers", role="supervisor", json={"name": "ООО Тест"}).status_code == 201


def test_social_object_and_driver_csv_import(api):
    ids = seed_basics(api)
    objects = (
        "name;type;address;lat;lon;radius_m\n"
        "Поликлиника №2;medical;Мурино, ул. Тихая, 2;60,051;30,445;150\n"
        "Кафе;restaurant;Мурино;60.05;30.44;\n"
        "МФЦ Девяткино;mfc;Мурино;91;30.44;\n"
    )
    out = api.ok(
        "POST", "social-objects/import", files={"file": ("o.csv", objects.encode(), "text/csv")}
    )
    assert out["created"] == 1 and [e["line"] for e in out["errors"]] == [3, 4]
    assert "Неизвестный тип" in out["errors"][0]["message"]
    got = api.ok("GET", f"social-objects/{out['ids'][0]}")
    assert (got["lat"], got["lon"], got["object_type"]) == (60.051, 30.445, "medical")
    drivers = (
        "carrier_id,full_name,license_no,phone\n"
        f"{ids['carrier']},Сидоров Сидор,47 00 000001,\n"
        f"{ids['carrier']},Двойник,47 12 345678,\n"  # the seeded driver's licence
        "9999,Нет Перевозчика,47 00 000002,\n"
    )
    out = api.ok("POST", "drivers/import", files={"file": ("d.csv", drivers.encode(), "text/csv")})
    assert out["created"] == 1 and [e["line"] for e in out["errors"]] == [3, 4]
    assert "удостоверения" in out["errors"][0]["message"]
    assert "Перевозчик не найден" in out["errors"][1]["message"]
