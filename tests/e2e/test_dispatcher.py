"""The dispatcher's page: a booked trip is listed, a vehicle is assigned from the candidates, and
the vehicle's marker moves on the live map as ingest commits its fixes (real MQTT → ingest →
PostgreSQL → server-sent events → Leaflet)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from tests.integration.api.conftest import CLINIC, HOME, seed_basics, trip_body

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]


def _marker(page, vehicle_id: int):
    return page.evaluate(
        "id => { const m = window.socialtaxiFleet && window.socialtaxiFleet.markers[id];"
        " if (!m) return null; const p = m.getLatLng();"
        " return {lat: p.lat, lon: p.lng, status: m.vehicle.status, trip: m.vehicle.trip}; }",
        vehicle_id,
    )


def _wait_marker(page, vehicle_id: int, pred, what: str, timeout_s: float = 20.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        m = _marker(page, vehicle_id)
        if m is not None and pred(m):
            return m
        page.wait_for_timeout(100)
    raise AssertionError(
        f"marker of vehicle {vehicle_id}: {what}; last {_marker(page, vehicle_id)}"
    )


def _fix(lat: float, lon: float, age_s: float = 0) -> dict:
    ts = datetime.now(UTC).timestamp() - age_s
    return {"ts": int(ts * 1000), "lat": lat, "lon": lon, "speed_kmh": 30}


def test_assign_a_trip_and_watch_the_vehicle_move(
    pages, live_app, ingest_factory, publisher_factory, mqtt_prefix
):
    api = live_app.api
    ids = seed_basics(api)
    trip = api.ok("POST", "trips", 201, json=trip_body(ids))
    ingest_factory()
    pub = publisher_factory()
    topic = f"{mqtt_prefix}/vehicles/car-1/position"
    # five minutes ago at home; the next fix 2 km on is then a plausible 25 km/h
    pub.publish(topic, _fix(*HOME, age_s=300))
    pub.wait_all()

    pages.login("dispatcher")
    page = pages.page
    pages.goto("/dispatcher?day=2026-03-17")
    row = page.locator(f"#trip-{trip['id']}")
    expect(row).to_contain_text("забронирована")
    page.click(f"#cands-{trip['id']}")
    page.click(f"#cand-{trip['id']} button[data-plate='А123ВС47']")
    expect(page.locator("#assign-notice")).to_contain_text(f"Поездка № {trip['id']}")
    expect(page.locator(f"#trip-{trip['id']}")).to_contain_text("назначена машина")

    # the marker is there and knows its trip (the feed joins positions with current trips)
    first = _wait_marker(
        page, ids["car"], lambda m: m["trip"] == trip["id"], "shows the assigned trip"
    )
    assert abs(first["lat"] - HOME[0]) < 1e-6 and first["status"] == "assigned"
    # a new fix moves it without a reload
    page.evaluate("() => { window.__notReloaded = true; }")
    pub.publish(topic, _fix(*CLINIC))
    pub.wait_all()
    moved = _wait_marker(
        page, ids["car"], lambda m: abs(m["lat"] - CLINIC[0]) < 1e-6, "moves to the new fix"
    )
    assert abs(moved["lon"] - CLINIC[1]) < 1e-6
    assert page.evaluate("() => window.__notReloaded === true")

    # a click on the marker shows the vehicle's current trip
    point = page.evaluate(
        "id => { const f = window.socialtaxiFleet; const ll = f.markers[id].getLatLng();"
        " f.map.setView(ll, 15, {animate: false}); const p = f.map.latLngToContainerPoint(ll);"
        " return [p.x, p.y]; }",
        ids["car"],
    )
    box = page.locator("#fleet-map").bounding_box()
    page.mouse.click(box["x"] + point[0], box["y"] + point[1])
    popup = page.locator(".leaflet-popup-content")
    expect(popup).to_contain_text("А123ВС47")
    expect(popup.locator("a")).to_have_text(f"Текущая поездка № {trip['id']}")


def test_plan_the_day_preview_then_apply(pages, live_app):
    api = live_app.api
    ids = seed_basics(api)
    t1 = api.ok("POST", "trips", 201, json=trip_body(ids))
    pages.login("dispatcher")
    page = pages.page
    pages.goto("/dispatcher?day=2026-03-17")
    page.click("#plan-preview")
    expect(page.locator("#plan-result")).to_contain_text("Это предпросмотр")
    expect(page.locator(f"#trip-{t1['id']}")).to_contain_text("забронирована")
    page.click("#plan-apply")
    expect(page.locator("#plan-result")).to_contain_text("Назначения сделаны")
    expect(page.locator("#plan-result")).to_contain_text("назначено 1")
    pages.goto("/dispatcher?day=2026-03-17")
    expect(page.locator(f"#trip-{t1['id']}")).to_contain_text("назначена машина")
