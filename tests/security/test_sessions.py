"""Hole 4: sessions could not be ended — after logout and after a password reset the old token
still worked as a header and as a cookie, and the token's own expiry was trusted. Sessions are
server-side now: logout, password change, deactivation and role change end them at once; an
absolute and an idle lifetime apply; the administrator lists a user's sessions."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import psycopg
import pytest
from typer.testing import CliRunner

from tests.integration.api.conftest import NOW, PASSWORD
from web.auth import COOKIE_NAME

pytestmark = pytest.mark.integration


def login(api, who: str = "operator", password: str = PASSWORD) -> str:
    r = api.client.post("/api/v1/auth/login", json={"login": who, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def works_as_header(api, token: str) -> bool:
    r = api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code in (200, 401), r.text
    return r.status_code == 200


def works_as_cookie(api, token: str) -> bool:
    r = api.client.get("/api/v1/auth/me", headers={"Cookie": f"{COOKIE_NAME}={token}"})
    assert r.status_code in (200, 401), r.text
    return r.status_code == 200


def test_logout_ends_the_session_as_header_and_cookie(api):
    token, other = login(api), login(api)
    assert works_as_header(api, token) and works_as_cookie(api, token)
    r = api.client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 204
    assert not works_as_header(api, token) and not works_as_cookie(api, token)
    assert works_as_header(api, other)  # only this session ended


def test_password_change_ends_every_session(api):
    a, b = login(api), login(api)
    r = api.client.post(
        "/api/v1/auth/password",
        headers={"Authorization": f"Bearer {a}"},
        json={"current_password": "wrong-one", "new_password": "new password 1"},
    )
    assert r.status_code == 403 and works_as_header(api, a)
    r = api.client.post(
        "/api/v1/auth/password",
        headers={"Authorization": f"Bearer {a}"},
        json={"current_password": PASSWORD, "new_password": "new password 1"},
    )
    assert r.status_code == 204, r.text
    for t in (a, b, api.tokens["operator"]):
        assert not works_as_header(api, t) and not works_as_cookie(api, t)
    assert works_as_header(api, login(api, password="new password 1"))


def test_deactivation_and_role_change_end_sessions_and_admin_sees_them(api):
    uid = api.user_ids["dispatcher"]
    token = login(api, "dispatcher")
    sessions = api.ok("GET", f"users/{uid}/sessions")
    assert len(sessions) == 2  # the fixture's and this login
    assert {"created_at", "last_seen_at", "expires_at", "client_addr"} <= sessions[0].keys()
    assert "token" not in str(sessions) and token not in str(sessions)
    assert api.get(f"users/{uid}/sessions", role="supervisor").status_code == 403

    r = api.client.put(
        f"/api/v1/users/{uid}/roles",
        headers=api.headers("admin"),
        json={"roles": ["dispatcher", "controller"]},
    )
    assert r.status_code == 200 and r.json()["roles"] == ["controller", "dispatcher"]
    assert not works_as_header(api, token) and api.ok("GET", f"users/{uid}/sessions") == []

    token = login(api, "dispatcher")
    assert api.ok("POST", f"users/{uid}/deactivate")["active"] is False
    assert not works_as_header(api, token) and not works_as_cookie(api, token)
    r = api.client.post("/api/v1/auth/login", json={"login": "dispatcher", "password": PASSWORD})
    assert r.status_code == 401

    api.ok("POST", f"users/{uid}/activate")
    token = login(api, "dispatcher")
    assert api.ok("POST", f"users/{uid}/sessions/end") == {"ended": 1}
    assert not works_as_header(api, token)


def test_absolute_and_idle_lifetimes(api):
    token = login(api)  # absolute lifetime 12 h; the fixture's idle lifetime is a year
    api.clock.now = NOW + timedelta(hours=11, minutes=59)
    assert works_as_header(api, token)
    api.clock.now = NOW + timedelta(hours=12)
    assert not works_as_header(api, token)


def test_idle_lifetime(db_url, murino_graph, password_hash):
    from tests.integration.api.conftest import make_api

    gen = make_api(db_url, murino_graph, password_hash, session_idle_minutes=30)
    api = next(gen)
    try:
        token = login(api)
        api.clock.now = NOW + timedelta(minutes=29)
        assert works_as_header(api, token)  # ... and the request renews it
        api.clock.now = NOW + timedelta(minutes=58)
        assert works_as_header(api, token)
        api.clock.now = NOW + timedelta(minutes=58 + 30)
        assert not works_as_header(api, token)
    finally:
        gen.close()


@pytest.fixture
def cli(db_url, monkeypatch):
    from config.settings import get_settings
    from socialtaxi.cli import app

    monkeypatch.setenv("SOCIALTAXI_DATABASE_URL", db_url)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args, input=None: runner.invoke(app, list(args), input=input)
    get_settings.cache_clear()


def test_user_cli_list_deactivate_passwd_and_add_refuses_existing(api, cli, db_url):
    r = cli("user", "add", "carrierdisp", "--role", "dispatcher", "--carrier-id", "1",
            "--password", "pass-1234")  # fmt: skip
    assert r.exit_code == 1 and "Перевозчик не найден" in r.output
    with psycopg.connect(db_url, autocommit=True) as conn:
        cid = conn.execute(
            "INSERT INTO carriers (name) VALUES ('ООО Перевозчик') RETURNING id"
        ).fetchone()[0]
    r = cli("user", "add", "carrierdisp", "--role", "dispatcher", "--carrier-id", str(cid),
            "--password", "pass-1234")  # fmt: skip
    assert r.exit_code == 0, r.output
    # re-running add does not reset the user (before: the password and carrier were replaced)
    r = cli("user", "add", "carrierdisp", "--role", "admin", "--password", "other-pass-1")
    assert r.exit_code == 1 and "уже существует" in r.output
    with psycopg.connect(db_url) as conn:
        assert conn.execute(
            "SELECT carrier_id FROM users WHERE login = 'carrierdisp'"
        ).fetchone() == (cid,)
    r = cli("user", "add", "carrieradmin", "--role", "admin", "--carrier-id", str(cid),
            "--password", "pass-1234")  # fmt: skip
    assert r.exit_code == 1 and "dispatcher и controller" in r.output

    r = cli("user", "list")
    assert r.exit_code == 0 and "carrierdisp\tdispatcher\tактивен перевозчик" in r.output

    token = login(api)
    r = cli("user", "passwd", "operator", "--password-stdin", input="brand-new-pass\n")
    assert r.exit_code == 0 and "завершено сеансов: 2" in r.output, r.output
    assert not works_as_header(api, token) and not works_as_cookie(api, token)
    token = login(api, password="brand-new-pass")
    r = cli("user", "deactivate", "operator")
    assert r.exit_code == 0, r.output
    assert not works_as_header(api, token)
    assert "заблокирован" in cli("user", "list").output
    assert cli("user", "deactivate", "nobody").exit_code == 1


def _cli_env(**env: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALTAXI_")}
    return {**base, **env}


@pytest.mark.parametrize(
    "env",
    [{}, {"SOCIALTAXI_SECRET_KEY": "change-me-in-production"}, {"SOCIALTAXI_SECRET_KEY": "short"}],
    ids=["no-key", "default-key", "short-key"],
)
def test_production_is_the_default_and_refuses_a_weak_key(env, tmp_path):
    """Hole 4 (end): the default mode was development, so a server started without setting it
    signed with the published key. Now a start without a mode is production and refuses."""
    r = subprocess.run(
        [sys.executable, "-m", "socialtaxi", "web", "--port", "1"],
        env=_cli_env(**env),
        cwd=tmp_path,  # no .env file
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "SOCIALTAXI_SECRET_KEY" in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_demo_alone_sets_development(tmp_path):
    from config.settings import Settings

    assert Settings.model_fields["mode"].default == "production"
    r = subprocess.run(
        [sys.executable, "-m", "socialtaxi", "demo", "--no-serve", "--map", "missing.osm"],
        env=_cli_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # development was chosen (no key complaint); it stops at the missing map file (with no
    # argument at all the demo runs on its shipped map)
    assert "SECRET_KEY" not in r.stderr and "файл карты не найден" in r.stderr, r.stderr
