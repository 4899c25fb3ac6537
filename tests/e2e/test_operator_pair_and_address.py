"""The wizard's return trip and typed pickup address (issue 13), in the browser against the real
app and database: a trip and its return booked on one confirmation screen, linked, with the
co-payment the quote showed; a pickup address chosen from the offline index as it is typed (by
keyboard), and one the index cannot place refused next to the field naming the candidates."""

from __future__ import annotations

import psycopg
import pytest
from playwright.sync_api import expect

from routing.address_store import replace_addresses
from routing.addresses import address_entries
from tests.e2e.test_operator import _to_destination_step
from tests.integration.api.conftest import seed_basics
from web.pages.render import rub

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"

# A house and its street in Murino, near roads of the map (the Murino extract has no addr:* tags)
HOUSE = (60.0545, 30.4590)
STREET = (60.0530, 30.4560)


def test_a_trip_and_its_return_booked_on_the_confirmation_screen(pages, live_app):
    ids = seed_basics(live_app.api)
    pages.login("operator")
    _to_destination_step(pages, ids, time="10:00")
    page = pages.page
    page.check(f"#objects input[value='{ids['clinic']}']")
    # the return is offered on this screen, three hours later by default, off until ticked
    assert (page.input_value("#return_date"), page.input_value("#return_time")) == (
        "2026-03-17", "13:00")  # fmt: skip
    expect(page.locator("#return_time")).to_be_disabled()
    page.click("#to-quote")
    page.wait_for_selector("#confirm")
    assert page.locator("#return-quote").count() == 0
    # ticking it quotes again, with the return's route, ETA and fare and the pair's totals
    page.check("#return_trip")
    page.wait_for_selector("#return-quote")
    page.fill("#return_time", "13:30")
    page.locator("#return_time").dispatch_event("change")
    expect(page.locator("#return-pickup")).to_have_text("17.03.2026 13:30")
    assert page.inner_text("#return-eta").startswith("13:")
    assert page.inner_text("#return-to").startswith("Мурино, ул. Шоссе в Лаврики, 1")
    expect(page.locator("#return-map")).to_have_attribute("data-drawn", "route")
    pair_copay = page.inner_text("#pair-copay")
    assert page.inner_text("#quota-after") == "в месяце 3 из 4"
    assert page.inner_text("#pair-counts") == "туда и обратно — одна поездка"
    assert page.evaluate(OVERFLOW) <= 0  # both legs on a 1366×768 screen
    page.click("#book")
    page.wait_for_selector("#booked")
    outward_id = int(page.url.split("/operator/trips/")[1].split("?")[0])
    with psycopg.connect(live_app.api.db_url) as conn:
        rows = conn.execute(
            "SELECT id, direction, pair_id, return_trip_id, copay_share_pct, copay_kop, fare_kop"
            " FROM trips WHERE passenger_id = %s ORDER BY id",
            (ids["passenger"],),
        ).fetchall()
    assert len(rows) == 2
    out, back = rows
    assert out[:4] == (outward_id, "to_object", outward_id, back[0])
    assert back[1:4] == ("from_object", outward_id, None)
    assert out[4] == back[4] == 25  # the band of the pair's total distance (under 150 km)
    assert rub(out[5] + back[5]) == pair_copay
    assert page.inner_text("#booked") == (
        f"Поездки № {outward_id} (туда) и № {back[0]} (обратно) забронированы."
    )
    assert page.inner_text("#pair-copay") == pair_copay
    # the pair is one trip of the quota
    pages.goto(f"/operator/book/{ids['passenger']}")
    assert page.inner_text("#quota-month") == "использовано 1 из 4, осталось 3"


def _seed_addresses(db_url: str) -> None:
    entries = address_entries(
        {"addr:street": "Воронцовский бульвар", "addr:housenumber": "5"}, *HOUSE, osm_ref="n1"
    ) + address_entries(
        {"highway": "residential", "name": "Воронцовский бульвар"}, *STREET, osm_ref="w2",
        is_road=True,
    )  # fmt: skip
    with psycopg.connect(db_url) as conn:
        replace_addresses(conn, source="test.osm", entries=entries)


def test_a_pickup_address_typed_and_chosen_from_the_index(pages, live_app):
    ids = seed_basics(live_app.api)
    _seed_addresses(live_app.api.db_url)
    pages.login("operator")
    pages.goto(f"/operator/book/{ids['passenger']}/pickup")
    page = pages.page
    page.fill("#pickup_time", "11:00")
    page.fill("#pickup_address", "воронцовский б-р 5")  # abbreviated, lower case
    first = page.locator("#addr-hits button.addr-hit").first
    expect(first).to_have_text("Воронцовский бульвар, 5")
    assert page.is_checked("input[name=pickup_kind][value=address]")
    assert page.evaluate(OVERFLOW) <= 0
    # by keyboard: ↓ to the list, Enter chooses; the point is the address's, shown on the map
    page.focus("#pickup_address")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    assert page.input_value("#pickup_address") == "Воронцовский бульвар, 5"
    assert (float(page.input_value("#pickup_lat")), float(page.input_value("#pickup_lon"))) == HOUSE
    expect(page.locator("#pick-map")).to_have_attribute("data-point", "60.054500,30.459000")
    assert page.locator("#addr-hits button").count() == 0
    page.click("#to-dest")
    page.wait_for_selector("#book-form")
    assert "Воронцовский бульвар, 5" in page.inner_text(".summary")
    page.check(f"#objects input[value='{ids['clinic']}']")
    page.click("#to-quote")
    page.wait_for_selector("#confirm")
    expect(page.locator("#route-map")).to_have_attribute("data-from", "60.0545,30.459")


def test_a_pickup_address_the_index_cannot_place_is_refused_next_to_the_field(pages, live_app):
    ids = seed_basics(live_app.api)
    _seed_addresses(live_app.api.db_url)
    pages.login("operator")
    pages.goto(f"/operator/book/{ids['passenger']}/pickup")
    page = pages.page
    page.fill("#pickup_time", "11:00")
    # a house the map does not have, submitted without choosing from the list
    page.fill("#pickup_address", "Воронцовский бульвар, 7")
    page.wait_for_selector("#addr-hits button.addr-hit")
    page.click("#to-dest")
    error = page.inner_text("#err-pickup_address")
    assert error.startswith("Адрес подачи не найден на карте: «Воронцовский бульвар, 7».")
    assert "Похожие адреса: «Воронцовский бульвар»" in error
    assert "«Воронцовский бульвар, 5»" in error
    assert page.input_value("#pickup_address") == "Воронцовский бульвар, 7"  # kept as typed
    # typed in full and sent without choosing, a house the index has is placed by the server
    page.fill("#pickup_address", "Воронцовский бульвар, 5")
    page.click("#to-dest")
    page.wait_for_selector("#book-form")
    assert "Воронцовский бульвар, 5" in page.inner_text(".summary")
    assert page.locator("#book-form input[name=pickup_lat]").input_value() == "60.0545000"
