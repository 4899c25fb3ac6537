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
    from routing.matching import match_track

    # numba compiles the matcher (or loads its cache) on the first call: here, not within the
    # finding page's first load (the page matches the trip's track)
    match_track(live_app.app.state.graph, [60.04, 60.041], [30.45, 30.45], [0.0, 10.0])
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
    # planned route and the off-route stretch from the finding; the actual track twice: every
    # fix of the trip (raw) and the audit matcher's road geometry, as two layers
    fmap = page.locator("#finding-map")
    expect(fmap).to_have_attribute("data-roles", "off_route,planned")
    expect(fmap).to_have_attribute("data-events", "2")  # with their times
    with psycopg.connect(pages.live.api.db_url) as conn:
        fixes = conn.execute(
            "SELECT count(*) FROM vehicle_positions p JOIN trips t ON t.vehicle_id = p.vehicle_id"
            " WHERE t.id = %s AND p.ts BETWEEN t.started_at AND t.completed_at",
            (audited["trip"],),
        ).fetchone()[0]
    assert fixes > 100
    expect(fmap).to_have_attribute("data-raw-points", str(fixes))
    matched = int(fmap.get_attribute("data-matched-points") or 0)
    assert matched >= 2, "no matched track drawn"
    expect(page.locator("#track-summary")).to_contain_text(f"GPS-отметок: {fixes}")
    expect(page.locator("#track-summary")).to_contain_text("по дорогам с пассажиром")
    # two toggles: the raw layer off and on again, the matched one stays
    raw_toggle = page.locator(".leaflet-control-layers-overlays label", has_text="сырой трек")
    raw_toggle.locator("input").uncheck()
    expect(fmap).to_have_attribute("data-raw-visible", "0")
    expect(fmap).to_have_attribute("data-matched-visible", "1")
    raw_toggle.locator("input").check()
    expect(fmap).to_have_attribute("data-raw-visible", "1")

    # replay: the local time (+03:00), speed and time on the way, stepped and played
    clock = page.locator("#replay-clock")
    expect(clock).to_contain_text("(+03:00)")
    first = clock.inner_text()
    page.click("#replay-next")
    expect(clock).not_to_have_text(first)
    expect(page.locator("#replay-index")).to_have_text(f"отметка 2 из {fixes}")
    expect(page.locator("#replay-speed")).to_contain_text("км/ч")
    page.locator("#replay-slider").focus()
    page.keyboard.press("ArrowRight")  # the keyboard steps fix by fix too
    expect(page.locator("#replay-index")).to_have_text(f"отметка 3 из {fixes}")
    stepped = clock.inner_text()
    page.click("#replay-play")
    expect(page.locator("#replay-play")).to_have_attribute("aria-pressed", "true")
    expect(clock).not_to_have_text(stepped)
    expect(page.locator("#replay-elapsed")).to_contain_text("в пути")
    page.click("#replay-play")
    expect(page.locator("#replay-play")).to_have_attribute("aria-pressed", "false")
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
