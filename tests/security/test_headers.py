"""Item 10: security headers on every response — 2xx, 4xx, the body limit's 413 and a 500 —
with the policy in one place (``web.middleware.CONTENT_SECURITY_POLICY``)."""

from __future__ import annotations

import pytest
from fastapi import APIRouter

from web.middleware import CONTENT_SECURITY_POLICY

pytestmark = pytest.mark.integration


def _check(r) -> None:
    h = r.headers
    assert h["content-security-policy"] == CONTENT_SECURITY_POLICY, r.request.url
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    assert h["x-frame-options"] == "DENY"


def test_every_response_carries_the_headers(api):
    router = APIRouter()

    @router.get("/boom")
    def boom() -> None:
        raise RuntimeError("unexpected")

    api.client.app.include_router(router)
    for r in (
        api.client.get("/health"),
        api.get("auth/me"),
        api.client.get("/api/v1/auth/me"),  # 401
        api.get("passengers/999999"),  # 404
        api.client.get("/api/v1/openapi.json"),
        api.client.post("/api/v1/auth/login", content=b"x" * (2 * 1024 * 1024)),  # 413
        api.client.get("/boom"),  # 500
    ):
        _check(r)
    assert api.client.get("/boom").status_code == 500


def test_policy_forbids_inline_scripts_framing_and_other_hosts():
    directives = dict(
        d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";") if d.strip()
    )
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no CDN
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY and "http" not in CONTENT_SECURITY_POLICY


def test_hsts_only_in_production(db_url, murino_graph):
    from fastapi.testclient import TestClient

    from tests.integration.api.conftest import api_settings
    from web.app import create_app

    for mode, expected in (("development", False), ("production", True)):
        app = create_app(api_settings(db_url, mode=mode), graph=murino_graph)
        with TestClient(app) as client:
            r = client.get("/health")
        assert ("strict-transport-security" in r.headers) is expected, mode
