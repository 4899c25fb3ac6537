"""The operator's five-step booking, refusals next to their fields, escaping, the trip list and
cancellation — in the browser, against the real app and database."""

from __future__ import annotations

import psycopg
import pytest
from playwright.sync_api import expect

from tests.conftest import sample_pdf
from tests.integration.api.conftest import passenger_body, seed_basics

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]


def _to_destination_step(pages, ids, *, time="10:00", day=None, query="Семёнова") -> None:
    page = pages.page
    pages.goto("/operator/book")
    page.fill("#q", query)
    page.wait_for_selector("#hit-table")
    page.click("#hit-table a.button")
    # step 2: the card
    page.wait_for_selector("#passenger-card")
    assert "Инвалид II группы" in page.inner_text("#category")
    assert page.inner_text("#quota-month") == "использовано 0 из 4, осталось 4"
    page.click("#to-pickup")
    # step 3: pickup at home, tomorrow (the form's default day)
    assert page.input_value("#pickup_date") == "2026-03-17"
    if day:
        page.fill("#pickup_date", day)
    page.fill("#pickup_time", time)
    page.click("#to-dest")
    page.wait_for_selector("#book-form")


def test_book_a_trip_through_all_five_steps(pages, live_app, tmp_path):
    ids = seed_basics(live_app.api)
    pages.login("operator")
    assert pages.page.url.endswith("/operator/book")
    _to_destination_step(pages, ids)
    page = pages.page
    # step 4: search the registry, pick on the list (the map shows the same objects)
    page.fill("#dest-q", "поликлин")
    expect(page.locator("#objects input[name=destination_id]")).to_have_count(1)
    assert "Муринская поликлиника" in page.inner_text("#objects")
    page.check("#objects input[name=destination_id]")
    expect(page.locator("#dest-map")).to_have_attribute("data-markers", "1")
    referral = tmp_path / "направление.pdf"
    referral.write_bytes(sample_pdf())
    page.set_input_files("#referral", str(referral))
    # step 5: the quote
    page.click("#to-quote")
    page.wait_for_selector("#confirm")
    assert page.inner_text("#distance").endswith("км")
    fare = page.inner_text("#fare")
    assert fare.endswith("₽") and fare != "0,00\u00a0₽"
    assert page.inner_text("#quota-after") == "в месяце 3 из 4"
    expect(page.locator("#route-map")).to_have_attribute("data-drawn", "route")
    page.click("#book")
    page.wait_for_selector("#booked")
    assert page.inner_text("#trip-status") == "забронирована"
    assert "направление.pdf" in page.inner_text("main")
    trip_id = int(page.url.split("/operator/trips/")[1].split("?")[0])
    with psycopg.connect(live_app.api.db_url) as conn:
        row = conn.execute(
            "SELECT t.passenger_id, t.dest_object_id, t.status, count(d.id)"
            " FROM trips t LEFT JOIN documents d ON d.trip_id = t.id WHERE t.id = %s"
            " GROUP BY t.id",
            (trip_id,),
        ).fetchone()
    assert row == (ids["passenger"], ids["clinic"], "booked", 1)
    # the trip list shows it; cancelling needs a reason, shown next to the field
    pages.goto("/operator/trips?status=booked")
    assert page.locator("#trip-table tbody tr[data-status=booked]").count() == 1
    page.click(f"#trip-table a:text-is('{trip_id}')")
    page.click("#cancel")  # the browser's own check stops an empty reason ...
    page.locator("#reason").evaluate("el => el.removeAttribute('required')")
    page.click("#cancel")  # ... and without it the server refuses, next to the field
    assert page.inner_text("#err-reason") == "Укажите причину отмены"
    page.fill("#reason", "Пассажир в больнице")
    page.click("#cancel")
    page.wait_for_selector("#trip-status:text-is('отменена')")


def test_refusals_are_shown_next_to_their_fields(pages, live_app):
    ids = seed_basics(live_app.api)
    pages.login("operator")
    # a pickup already past (the region's service runs round the clock)
    _to_destination_step(pages, ids, day="2026-03-15", time="10:00")
    page = pages.page
    page.check(f"#objects input[value='{ids['clinic']}']")
    page.click("#to-quote")
    page.wait_for_selector("#err-pickup_time")
    assert page.inner_text("#err-pickup_time") == "Время подачи уже прошло"
    assert page.locator("#confirm").count() == 0
    # no destination chosen: the refusal is next to the list
    for radio in page.locator("[name=destination_id]").all():
        radio.evaluate("r => { r.checked = false; }")
    page.click("#to-quote")
    page.wait_for_selector("#err-destination_id")
    assert page.inner_text("#err-destination_id") == "Выберите место назначения из реестра"
    # step 3 refusals: another address without a point on the map, no time
    pages.goto(f"/operator/book/{ids['passenger']}/pickup")
    page.check("input[name=pickup_kind][value=address]")
    page.fill("#pickup_time", "")
    page.click("#to-dest")
    assert page.inner_text("#err-pickup_address") == "Введите адрес подачи"
    assert page.inner_text("#err-pickup_time") == "Укажите время подачи (ЧЧ:ММ)"
    # the point is chosen on the map
    page.fill("#pickup_address", "Мурино, Воронцовский бульвар, 5")
    page.fill("#pickup_time", "11:00")
    page.focus("#pick-map")  # by keyboard: the map's centre
    page.keyboard.press("Enter")
    keyed = page.input_value("#pickup_lat")
    assert keyed != ""
    box = page.locator("#pick-map").bounding_box()  # and by a click elsewhere
    page.mouse.click(box["x"] + box["width"] / 4, box["y"] + box["height"] / 4)
    assert page.input_value("#pickup_lat") not in ("", keyed)
    page.click("#to-dest")
    page.wait_for_selector("#book-form")
    assert "Воронцовский бульвар" in page.inner_text(".summary")


def test_a_script_in_a_passenger_name_is_shown_as_text(pages, live_app):
    api = live_app.api
    seed_basics(api)
    api.ok(
        "POST",
        "passengers",
        201,
        json=passenger_body(
            last_name="<script>alert(1)</script>",
            first_name="Ива<b>н</b>",
            snils=None,
            phones=["+7 921 555-00-11"],
        ),
    )
    dialogs: list[str] = []
    pages.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pages.login("operator")
    pages.goto("/operator/book")
    pages.page.fill("#q", "+7 921 555")
    pages.page.wait_for_selector("#hit-table")
    cell = pages.page.locator("#hit-table tbody td").first
    assert cell.inner_text().startswith("<script>alert(1)</script> Ива<b>н</b>")
    assert pages.page.locator("#hit-table script, #hit-table b").count() == 0
    pages.page.click("#hit-table a.button")
    assert "<script>alert(1)</script>" in pages.page.inner_text("#passenger-card h2")
    assert dialogs == []
