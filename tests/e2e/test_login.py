"""Login, logout, the role of each page, CSRF, expired sessions and the offline rule."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

PAGES = (
    "/",
    "/operator/book",
    "/operator/trips",
    "/dispatcher",
    "/admin",
    "/admin?kind=passengers",
    "/admin?kind=vehicles",
    "/admin/rules",
    "/api/v1/docs",
    "/api/v1/redoc",
)


def test_only_the_login_page_without_a_session(pages):
    for path in PAGES:
        pages.goto(path)
        assert pages.page.url.startswith(pages.url("/login")), path
        assert pages.page.locator("h1").inner_text() == "Вход в систему"
    # and straight over HTTP: a page answers with a redirect to the login, never content
    r = pages.context.request.get(pages.url("/dispatcher"), max_redirects=0)
    assert r.status == 303 and r.headers["location"].startswith("/login?next=/dispatcher")
    assert pages.context.request.get(pages.url("/static/app.css")).status == 200


def test_login_refusal_then_login_and_back_to_the_page_asked_for(pages):
    pages.goto("/operator/trips")
    pages.page.fill("input[name=login]", "operator")
    pages.page.fill("input[name=password]", "wrong")
    pages.page.click("button[type=submit]")
    assert pages.page.locator("#login-error").inner_text() == "Неверный логин или пароль"
    assert pages.page.input_value("input[name=login]") == "operator"
    pages.page.fill("input[name=password]", "correct horse battery staple")
    pages.page.click("button[type=submit]")
    pages.page.wait_for_url("**/operator/trips")
    assert pages.page.locator("h1").inner_text() == "Поездки"
    pages.page.click("text=Выйти")
    pages.page.wait_for_url("**/login?reason=logout")
    pages.goto("/operator/trips")
    assert "/login" in pages.page.url


def test_each_role_sees_its_pages_only(pages):
    pages.login("dispatcher")
    assert pages.page.url.endswith("/dispatcher")
    pages.goto("/operator/book")
    assert pages.page.locator("h1").inner_text() == "Нет доступа"
    r = pages.context.request.get(pages.url("/admin"))
    assert r.status == 403
    nav = pages.page.locator("header nav a").all_inner_texts()
    assert "Реестры" not in nav and "Карта и назначение" in nav


def test_a_form_without_the_csrf_token_is_refused(pages):
    pages.login("operator")
    r = pages.context.request.post(
        pages.url("/operator/book/search"), form={"q": "Семёнова"}, max_redirects=0
    )
    assert r.status == 303 and "/login" in r.headers["location"]
    token = pages.page.locator("body").get_attribute("data-csrf")
    r = pages.context.request.post(
        pages.url("/operator/book/search"), form={"q": "Семёнова"}, headers={"X-CSRF-Token": token}
    )
    assert r.status == 200
    # a token of another session is no good either
    r = pages.context.request.post(
        pages.url("/operator/book/search"),
        form={"q": "Семёнова"},
        headers={"X-CSRF-Token": "0" * 64},
        max_redirects=0,
    )
    assert r.status == 303


def test_every_page_of_the_admin_loads_only_from_the_app(pages):
    pages.login("boss")
    for path in PAGES:
        pages.goto(path)
        pages.page.wait_for_load_state("networkidle")
        assert pages.page.locator("h1, #api-docs").count() >= 1, path
    # Swagger UI really rendered from the vendored bundle (not a blank page)
    pages.goto("/api/v1/docs")
    pages.page.wait_for_selector(".swagger-ui .info", timeout=20_000)
    assert pages.foreign_requests() == []
    assert any("/static/vendor/swagger-ui/swagger-ui-bundle.js" in u for u in pages.requests)


@pytest.mark.parametrize("size", [(1366, 768), (1024, 768), (768, 1024)])
def test_pages_fit_the_screen_and_tablets(pages, size):
    pages.page.set_viewport_size({"width": size[0], "height": size[1]})
    pages.login("boss")
    for path in PAGES[:-2]:  # the API docs are the vendors' layout
        pages.goto(path)
        pages.page.wait_for_load_state("networkidle")
        overflow = pages.page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, (path, size, overflow)


def test_the_keyboard_alone_logs_in_and_searches(pages):
    page = pages.page
    pages.goto("/login")
    # the login field has the focus on arrival
    assert page.evaluate("() => document.activeElement.name") == "login"
    page.keyboard.type("operator")
    page.keyboard.press("Tab")
    page.keyboard.type("correct horse battery staple")
    page.keyboard.press("Enter")
    page.wait_for_url("**/operator/book")
    # the search box has the focus; typing shows the hint as you type
    assert page.evaluate("() => document.activeElement.id") == "q"
    page.keyboard.type("Се")
    page.wait_for_selector("#hits .hint")
