"""The audit API: findings list with filters and paging, one finding with GeoJSON and its
review history, reviews, carrier scoping, access log and the monthly report downloads."""

from __future__ import annotations

import io
from datetime import timedelta

import psycopg
import pytest

from tests.integration.test_audit_store import BOOKED, add_trip, batch, due_copay, make_world

pytestmark = pytest.mark.integration


@pytest.fixture
def audited(api, rules):
    with psycopg.connect(api.db_url, autocommit=True) as conn:
        w = make_world(conn)
        dev = add_trip(conn, w, detour_m=1500, payment_kop=due_copay(rules))
        pay = add_trip(conn, w, booked=BOOKED + timedelta(hours=3), payment_kop=0)
    batch(api.db_url, rules)
    return w, dev, pay


def test_roles(api, audited):
    assert api.get("audit/findings", role=None).status_code == 401
    r = api.get("audit/findings", role="operator")
    assert r.status_code == 403 and r.json()["detail"]
    assert api.get("audit/findings", role="controller").status_code == 200


def test_list_filters_and_paging(api, audited):
    w, dev, pay = audited
    everything = api.ok("GET", "audit/findings", role="controller")
    assert everything["total"] == 2
    assert {(f["trip_id"], f["rule"]) for f in everything["items"]} == {
        (dev, "route_deviation"),
        (pay, "improper_copayment"),
    }
    item = next(f for f in everything["items"] if f["rule"] == "route_deviation")
    assert item["rule_name"] == "Отклонение от маршрута" and item["status"] == "new"
    assert item["at_stake_km"] > 1 and item["vehicle_plate"] == "А001АА47"
    one = api.ok("GET", "audit/findings", role="controller", params={"rule": "route_deviation"})
    assert [f["trip_id"] for f in one["items"]] == [dev]
    page = api.ok("GET", "audit/findings", role="controller", params={"limit": 1, "offset": 1})
    assert page["total"] == 2 and len(page["items"]) == 1
    assert page["items"][0]["trip_id"] == dev  # newest pickup first: the later trip is first
    other = api.ok(
        "GET", "audit/findings", role="controller", params={"carrier_id": w.other_carrier_id}
    )
    assert other["total"] == 0
    by_vehicle = api.ok(
        "GET", "audit/findings", role="controller", params={"vehicle_id": w.vehicle_id}
    )
    assert by_vehicle["total"] == 2
    period = api.ok(
        "GET",
        "audit/findings",
        role="controller",
        params={
            "date_from": (BOOKED + timedelta(hours=1)).isoformat(),
            "date_to": (BOOKED + timedelta(hours=5)).isoformat(),
        },
    )
    assert [f["trip_id"] for f in period["items"]] == [pay]
    r = api.get("audit/findings", role="controller", params={"date_from": "2026-03-10T00:00:00"})
    assert r.status_code == 422
    assert api.get("audit/findings", role="controller", params={"rule": "x"}).status_code == 422


def test_detail_review_and_history(api, audited):
    _, dev, _ = audited
    fid = api.ok("GET", "audit/findings", role="controller", params={"rule": "route_deviation"})[
        "items"
    ][0]["id"]
    one = api.ok("GET", f"audit/findings/{fid}", role="controller")
    assert one["geometry"]["type"] == "FeatureCollection"
    roles = {f["properties"]["role"] for f in one["geometry"]["features"]}
    assert {"planned", "actual", "off_route"} <= roles
    assert one["evidence"]["off_route"] and one["reviews"] == []
    with psycopg.connect(api.db_url) as conn:
        logged = conn.execute(
            "SELECT user_id, detail->>'finding_id' FROM access_log WHERE action = 'read'"
        ).fetchall()
    assert (api.user_ids["controller"], str(fid)) in logged

    r = api.post(f"audit/findings/{fid}/review", role="controller", json={"action": "confirm"})
    assert r.status_code == 422
    r = api.post(
        f"audit/findings/{fid}/review",
        role="controller",
        json={"action": "confirm", "comment": " "},
    )
    assert r.status_code == 422 and r.json()["code"] == "comment_required"
    done = api.ok(
        "POST",
        f"audit/findings/{fid}/review",
        role="controller",
        json={"action": "confirm", "comment": "Крюк через промзону"},
    )
    assert done["status"] == "confirmed"
    assert [(h["from_status"], h["to_status"], h["reviewer"]) for h in done["reviews"]] == [
        ("new", "confirmed", "controller")
    ]
    again = api.post(
        f"audit/findings/{fid}/review",
        role="supervisor",
        json={"action": "dismiss", "comment": "нет"},
    )
    assert again.status_code == 409 and again.json()["code"] == "illegal_review"
    reopened = api.ok(
        "POST",
        f"audit/findings/{fid}/review",
        role="supervisor",
        json={"action": "reopen", "comment": "Перевозчик прислал объяснение"},
    )
    assert reopened["status"] == "new" and len(reopened["reviews"]) == 2
    assert api.get("audit/findings/999999", role="controller").status_code == 404


def test_carrier_staff_see_only_their_carrier(api, audited):
    w, _, _ = audited
    fid = api.ok("GET", "audit/findings", role="controller")["items"][0]["id"]
    with psycopg.connect(api.db_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE users SET carrier_id = %s WHERE login = 'controller'", (w.other_carrier_id,)
        )
    assert api.ok("GET", "audit/findings", role="controller")["total"] == 0
    mine = api.ok("GET", "audit/findings", role="controller", params={"carrier_id": w.carrier_id})
    assert mine["total"] == 0
    assert api.get(f"audit/findings/{fid}", role="controller").status_code == 404
    r = api.post(
        f"audit/findings/{fid}/review",
        role="controller",
        json={"action": "confirm", "comment": "x"},
    )
    assert r.status_code == 404
    r = api.get("audit/reports/2026-03.csv", role="controller")
    assert r.status_code == 200
    assert len(r.content.decode("utf-8-sig").splitlines()) == 1  # headers only: not their trips


def test_report_downloads(api, audited):
    from openpyxl import load_workbook

    r = api.get("audit/reports/2026-03.xlsx", role="controller")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(r.content))
    rows = list(wb["Сводка"].iter_rows(values_only=True))
    assert rows[1][0] == "ООО Перевозчик" and rows[1][1] == 2
    assert len(list(wb["Нарушения"].iter_rows(min_row=2))) == 2
    c = api.get("audit/reports/2026-03.csv", role="supervisor")
    assert c.status_code == 200 and c.headers["content-type"].startswith("text/csv")
    assert api.get("audit/reports/2026-13.xlsx", role="controller").status_code == 422
    assert api.get("audit/reports/0000-01.csv", role="controller").status_code == 422
    assert api.get("audit/reports/2026-03.xlsx", role="dispatcher").status_code == 403
