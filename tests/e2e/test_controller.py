"""The controller's pages: a finding of a real audit run is listed (with the weekly chart), opened
on its map, replayed and confirmed with a comment; the monthly report is downloaded and opened."""

from __future__ import annotations

import csv
import io

import psycopg
import pytest
from playwright.sync_api import expect

from tests.integration.test_audit_store import add_trip, batch, due_copay, make_world

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def audited(live_app, rules) -> dict[str, int]:
    """A trip with a 1.5 km detour (and a clean one), audited by the real batch run."""
    url = live_app.api.db_url
    with psycopg.connect(url, autocommit=True) as conn:
        w = make_world(conn)
        trip = add_trip(conn, w, detour_m=1500, payment_kop=due_copay(rules))
        # the vehicle's events carry where they were sent from
        conn.execute(
            "UPDATE trip_events SET lat = pickup_lat, lon = pickup_lon FROM trips"
            " WHERE trips.id = trip_events.trip_id AND trips.id = %s",
            (trip,),
        )
    batch(url, rules)
    with psycopg.connect(url) as conn:
        finding = conn.execute(
            "SELECT id FROM audit_findings WHERE trip_id = %s AND rule = 'route_deviation'",
            (trip,),
        ).fetchone()[0]
    return {"trip": trip, "finding": finding, "carrier": w.carrier_id}


def test_open_a_finding_on_its_map_and_confirm_it(pages, audited):
    pages.login("controller")
    page = pages.page
    assert page.url.endswith("/controller")
    expect(page.locator("#weekly-chart rect.bar")).not_to_have_count(0)
    page.select_option("select[name=rule]", "route_deviation")
    page.click("form.filters button[type=submit]")
    row = page.locator("#findings tbody tr[data-rule=route_deviation]")
    expect(row).to_have_count(1)
    row.locator("a").click()
    page.wait_for_url(f"**/controller/findings/{audited['finding']}")
    # planned route, actual track and the off-route stretch, each drawn
    expect(page.locator("#finding-map")).to_have_attribute("data-roles", "actual,off_route,planned")
    expect(page.locator("#finding-map")).to_have_attribute("data-events", "2")  # with their times
    page.click("#replay")
    expect(page.locator("#replay-state")).to_contain_text("точка")
    # a decision needs a comment: the server says so next to the field
    page.locator("#comment").evaluate("el => el.removeAttribute('required')")
    page.click("#confirm")
    expect(page.locator("#err-comment")).to_have_text("Комментарий к решению обязателен")
    page.fill("#comment", "Крюк 1,5 км без причины, подтверждаю")
    page.click("#confirm")
    expect(page.locator("#review-notice")).to_have_text("Нарушение подтверждено")
    expect(page.locator("#finding-status")).to_have_text("подтверждено")
    with psycopg.connect(pages.live.api.db_url) as conn:
        status = conn.execute(
            "SELECT status FROM audit_findings WHERE id = %s", (audited["finding"],)
        ).fetchone()[0]
    assert status == "confirmed"


def test_download_the_monthly_report_and_open_it(pages, audited, tmp_path):
    from openpyxl import load_workbook

    pages.login("controller")
    page = pages.page
    pages.goto("/controller/report?month=2026-03")
    with page.expect_download() as info:
        page.click("#csv")
    text = info.value.path().read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert any("ООО Перевозчик" in cell for row in rows for cell in row)
    with page.expect_download() as info:
        page.click("#xlsx")
    target = tmp_path / "report.xlsx"
    info.value.save_as(target)
    book = load_workbook(target)
    assert {"Сводка", "Нарушения"} <= set(book.sheetnames)
    values = [c for row in book["Нарушения"].iter_rows(values_only=True) for c in row]
    assert any(isinstance(v, str) and "маршрут" in v.lower() for v in values)
