"""Admin pages: users (add, refusals next to the field, roles, password, deactivate), the
registries with a social object's geofence on a map, the rules in force; and a session that
ends in the middle of a form: back to the login page, the form's content kept."""

from __future__ import annotations

import psycopg
import pytest
from playwright.sync_api import expect

from tests.integration.api.conftest import seed_basics

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]


def test_add_a_user_then_block_them(pages, browser, live_app):
    pages.login("admin")
    page = pages.page
    pages.goto("/admin/users")
    page.fill("#new-login", "op2")
    page.fill("#new-name", "Оператор <i>Второй</i>")
    page.fill("#new-password", "short")
    page.locator("#new-password").evaluate("el => el.removeAttribute('minlength')")
    page.check("input[name=roles][value=operator]")
    page.click("#add-user")
    expect(page.locator("#err-password")).to_have_text("Пароль: не короче 8 знаков")
    assert page.input_value("#new-login") == "op2"  # kept, the password is not
    page.fill("#new-password", "long enough password")
    page.click("#add-user")
    expect(page.locator("#users-notice")).to_have_text("Пользователь добавлен")
    row = page.locator("#user-op2")
    expect(row).to_contain_text("Оператор <i>Второй</i>")  # shown as text

    other = browser.new_context()
    try:
        p2 = other.new_page()
        p2.goto(live_app.base_url + "/login")
        p2.fill("input[name=login]", "op2")
        p2.fill("input[name=password]", "long enough password")
        p2.click("button[type=submit]")
        p2.wait_for_url("**/operator/book")
        row.locator("button:text-is('Заблокировать')").click()
        expect(page.locator("#users-notice")).to_contain_text("заблокирован")
        p2.goto(live_app.base_url + "/operator/book")  # the session ended with the block
        assert "/login" in p2.url
    finally:
        other.close()


def test_registries_geofence_and_rules(pages, live_app):
    ids = seed_basics(live_app.api)
    pages.login("supervisor")
    page = pages.page
    pages.goto("/admin?kind=vehicles")
    expect(page.locator("#registry tbody tr")).to_have_count(2)
    pages.goto("/admin?kind=objects")
    page.click("#registry a:text-is('Муринская поликлиника')")
    page.wait_for_url(f"**/admin/objects/{ids['clinic']}")
    assert page.is_checked("#zone-circle") and page.input_value("#f-radius_m") == "120"
    expect(page.locator("#geofence-map .leaflet-pane")).not_to_have_count(0)
    pages.goto("/admin/rules")
    expect(page.locator("#rules-version")).to_have_text("2026.1")
    expect(page.locator("#rules-file")).to_contain_text("leningrad_oblast.toml")
    # users are the admin's alone
    assert pages.context.request.get(pages.url("/admin/users")).status == 403


def test_an_expired_session_keeps_the_form(pages, live_app):
    ids = seed_basics(live_app.api)
    pages.login("operator")
    page = pages.page
    pages.goto(f"/operator/book/{ids['passenger']}/pickup")
    page.fill("#pickup_time", "11:30")
    page.fill("textarea[name=comment]", "Третий подъезд, домофон 45")
    with psycopg.connect(live_app.api.db_url, autocommit=True) as conn:
        conn.execute("UPDATE user_sessions SET ended_at = now(), end_reason = 'test'")
    page.click("#to-dest")
    page.wait_for_url("**/login?next=**")
    expect(page.locator("p.notice")).to_contain_text("данные формы сохранены")
    page.fill("input[name=login]", "operator")
    page.fill("input[name=password]", "correct horse battery staple")
    page.click("button[type=submit]")
    page.wait_for_url(f"**/operator/book/{ids['passenger']}/pickup")
    assert page.input_value("#pickup_time") == "11:30"
    assert page.input_value("textarea[name=comment]") == "Третий подъезд, домофон 45"
