"""Authentication and authorisation: login, tokens, cookie, roles, every route protected."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import psycopg
from fastapi.routing import APIRoute

from tests.integration.api.conftest import NOW, PASSWORD, SECRET, passenger_body, seed_basics
from web.auth import COOKIE_NAME, current_user

PUBLIC = {("POST", "/api/v1/auth/login")}


def _deps(dependant):
    for d in dependant.dependencies:
        yield d.call
        yield from _deps(d)


def _api_routes(routes):
    """Every APIRoute, also inside included routers (FastAPI includes them lazily)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from _api_routes(route.original_router.routes)
        else:
            assert route.path in (
                "/api/v1/openapi.json",
                "/api/v1/docs",
                "/api/v1/docs/oauth2-redirect",
            ), route


def test_every_route_requires_authentication(api):
    app = api.client.app
    routes = [r for r in _api_routes(app.routes) if r.path != "/health"]
    guarded = [r for r in routes if current_user in set(_deps(r.dependant))]
    public = [(m, r.path) for r in routes if r not in guarded for m in r.methods]
    assert public == [("POST", "/auth/login")]
    # and over HTTP: every operation of the OpenAPI document answers 401 without a token
    spec = api.client.get("/api/v1/openapi.json").json()
    operations = [(m.upper(), p) for p, item in spec["paths"].items() for m in item]
    assert len(operations) == sum(len(r.methods) for r in routes) >= 45
    for method, path in operations:
        if (method, path) in PUBLIC:
            continue
        url = re.sub(r"\{[^}]+\}", "1", path)
        r = api.client.request(method, url)
        assert r.status_code == 401, (method, url, r.status_code)
        assert r.json()["detail"] == "Требуется вход в систему"
        assert r.headers["www-authenticate"] == "Bearer"
    assert api.client.get("/health").status_code == 200


def test_login_issues_token_and_cookie(api):
    r = api.client.post("/api/v1/auth/login", json={"login": "operator", "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"]["roles"] == ["operator"] and body["token_type"] == "bearer"
    cookie = r.headers["set-cookie"]
    assert (
        cookie.startswith(f"{COOKIE_NAME}=")
        and "HttpOnly" in cookie
        and "samesite=lax" in cookie.lower()
    )
    me = api.client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.json()["login"] == "operator"
    # the cookie alone authenticates too (the pages)
    api.client.cookies.set(COOKIE_NAME, body["access_token"])
    try:
        assert api.client.get("/api/v1/auth/me").json()["login"] == "operator"
        assert api.client.post("/api/v1/auth/logout").status_code == 204
    finally:
        api.client.cookies.clear()


def test_login_refusals(api):
    r = api.client.post("/api/v1/auth/login", json={"login": "operator", "password": "wrong"})
    assert r.status_code == 401 and r.json()["detail"] == "Неверный логин или пароль"
    r = api.client.post("/api/v1/auth/login", json={"login": "nobody", "password": PASSWORD})
    assert r.status_code == 401 and r.json()["detail"] == "Неверный логин или пароль"
    with psycopg.connect(api.db_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET active = false WHERE login = 'operator'")
    r = api.client.post("/api/v1/auth/login", json={"login": "operator", "password": PASSWORD})
    assert r.status_code == 401
    # an existing token of a deactivated user stops working at once
    assert api.get("auth/me", role="operator").status_code == 401


def test_bad_expired_and_unknown_tokens(api):
    from web.auth import open_session
    from web.credentials import new_token

    uid = api.user_ids["admin"]
    with psycopg.connect(api.db_url, autocommit=True) as conn:
        expired, _ = open_session(
            conn, user_id=uid, now=NOW - timedelta(days=2), lifetime=timedelta(hours=12)
        )
        good, exp = open_session(conn, user_id=uid, now=NOW, lifetime=timedelta(hours=12))
    for token in (expired, new_token(), "garbage", "v1.e30.x", ""):
        r = api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, token
    r = api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {good}"})
    assert r.status_code == 200 and exp == NOW + timedelta(hours=12)


def test_roles_are_enforced(api):
    ids = seed_basics(api)
    assert (
        api.post(
            "passengers", role="dispatcher", json=passenger_body(snils=None, phones=[])
        ).status_code
        == 403
    )
    assert (
        api.post(
            "passengers", role="controller", json=passenger_body(snils=None, phones=[])
        ).status_code
        == 403
    )
    assert api.get(f"passengers/{ids['passenger']}", role="controller").status_code == 200
    assert api.post("plan/day", role="operator", json={"day": "2026-03-17"}).status_code == 403
    assert (
        api.post(
            "trips",
            role="controller",
            json={"passenger_id": 1, "destination_id": 1, "pickup_at": "2026-03-17T10:00:00+03:00"},
        ).status_code
        == 403
    )
    r = api.post("vehicles", role="dispatcher", json={})
    assert (
        r.status_code == 403
        and r.json()["detail"] == "Недостаточно прав: нужна роль старший смены или администратор"
    )


def test_user_add_cli(db_url, monkeypatch):
    from typer.testing import CliRunner

    from config.settings import get_settings
    from socialtaxi.cli import app

    monkeypatch.setenv("SOCIALTAXI_DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        r = runner.invoke(
            app,
            [
                "user",
                "add",
                "ivanova",
                "--role",
                "operator",
                "--role",
                "controller",
                "--name",
                "Иванова А. А.",
                "--password-stdin",
            ],
            input="s3cret-pass\n",
        )
        assert r.exit_code == 0, r.output
        assert "роли controller, operator" in r.output
        r = runner.invoke(app, ["user", "add", "x", "--role", "king", "--password", "s3cret-pass"])
        assert r.exit_code == 1 and "неизвестная роль" in r.output
        r = runner.invoke(app, ["user", "add", "x", "--role", "admin", "--password", "short"])
        assert r.exit_code == 1
    finally:
        get_settings.cache_clear()
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT password_hash FROM users WHERE login = 'ivanova'").fetchone()
    assert row[0].startswith("$argon2id$") and "s3cret" not in row[0]


def test_access_log_rows_for_reads(api):
    ids = seed_basics(api)
    api.ok("GET", f"passengers/{ids['passenger']}?purpose=проверка обращения", role="controller")
    api.ok("GET", f"passengers/{ids['passenger']}", role="operator")
    api.ok("GET", "passengers", role="operator")
    with psycopg.connect(api.db_url) as conn:
        rows = conn.execute(
            "SELECT user_id, action, passenger_id, purpose FROM access_log ORDER BY id"
        ).fetchall()
    assert rows[0] == (api.user_ids["admin"], "create", ids["passenger"], "registry")
    assert (api.user_ids["controller"], "read", ids["passenger"], "проверка обращения") in rows
    assert (api.user_ids["operator"], "read", ids["passenger"], "view") in rows
    assert (api.user_ids["operator"], "list", ids["passenger"], "registry") in rows


def test_personal_data_never_reaches_the_logs(api, caplog):
    caplog.set_level(logging.DEBUG)
    body = passenger_body(
        last_name="Шереметьева", phones=["+7 (921) 765-43-21"], snils="112-233-445 95"
    )
    p = api.ok("POST", "passengers", 201, json=body)
    api.ok("POST", "passengers/search", json={"phone": "765-43-21"})
    api.ok("POST", "passengers/search", json={"query": "Шереметьева Мария"})
    api.ok("GET", f"passengers/{p['id']}")
    api.post("passengers", json=passenger_body(last_name="Шереметьева", snils="112-233-445 99"))
    api.post("passengers/search", json={"phone": "Шереметьева"})
    text = caplog.text
    for secret in (
        "Шереметьева",
        "7654321",
        "765-43-21",
        "79217654321",
        "11223344595",
        "112-233-445",
    ):
        assert secret not in text
    from web.logmask import mask_text

    assert mask_text('"GET /api/v1/x?phone=89217654321&name=Иванов HTTP/1.1"') == (
        '"GET /api/v1/x?phone=***&name=*** HTTP/1.1"'
    )
    assert "7654321" not in mask_text("call +7 921 765-43-21 now")


def test_database_down_is_503_not_500(murino_graph):
    from fastapi.testclient import TestClient

    from config.settings import Settings
    from web.app import create_app
    from web.credentials import new_token

    settings = Settings(database_url="postgresql://postgres@127.0.0.1:1/nowhere", secret_key=SECRET)
    app = create_app(settings, graph=murino_graph)
    with TestClient(app, raise_server_exceptions=False) as client:
        app.state.pool.timeout = 1.0
        token = new_token()
        r = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 503 and r.json()["code"] == "db_unavailable"


def test_every_trip_response_is_an_access_log_row(api):
    """A trip shown back (its pickup is usually the passenger's home) is a read of personal
    data: booking, its preview, lifecycle actions, assignment, events and documents are logged."""
    from tests.integration.api.conftest import CLINIC, set_position, trip_body

    ids = seed_basics(api)
    set_position(api.db_url, ids["car"], *CLINIC)
    pid = ids["passenger"]

    def actions(user: str) -> list[str]:
        with psycopg.connect(api.db_url) as conn:
            rows = conn.execute(
                "SELECT action FROM access_log WHERE user_id = %s AND passenger_id = %s"
                " ORDER BY id",
                (api.user_ids[user], pid),
            ).fetchall()
        return [r[0] for r in rows]

    api.ok("POST", "trips/quote", json=trip_body(ids), role="operator")
    t = api.ok("POST", "trips", 201, json=trip_body(ids), role="operator")
    body = trip_body(ids, local_time="09:00", weekdays=[2], start="2026-03-18", until="2026-03-18")
    body.pop("pickup_at")
    api.ok("POST", "trips/recurring", 201, json=body, role="operator")
    from tests.conftest import sample_pdf

    pdf = sample_pdf()
    api.ok(
        "POST",
        f"trips/{t['id']}/documents",
        201,
        files={"file": ("referral.pdf", pdf, "application/pdf")},
        role="operator",
    )
    assert actions("operator") == ["quote", "book", "book_recurring", "attach_document"]
    api.ok("POST", f"trips/{t['id']}/assign", json={"vehicle_id": ids["car"]}, role="dispatcher")
    api.ok("POST", f"trips/{t['id']}/start", role="dispatcher")
    api.ok("GET", f"trips/{t['id']}/events", role="dispatcher")
    api.ok("GET", f"trips/{t['id']}/documents", role="dispatcher")
    assert actions("dispatcher") == ["assign", "start", "read_events", "list_documents"]
