"""Hole 6: a 100 MB JSON body to the unauthenticated login endpoint was parsed in full.
Hole 7: an executable with ``%PDF-1.4`` prepended was stored as a PDF.

Now bodies over the limit (settings: 1 MB JSON, the document limit for uploads) are refused
with 413 before they are parsed — by a declared Content-Length without reading, and a streamed
body as soon as it passes the limit — and an upload must parse as what its first bytes claim."""

from __future__ import annotations

import pytest

from tests.conftest import sample_image, sample_pdf
from tests.integration.api.conftest import seed_basics, trip_body
from web.middleware import BodyLimit

pytestmark = pytest.mark.integration

MB = 1024 * 1024


def test_a_huge_login_body_is_413_before_parsing(api, monkeypatch):
    parsed: list[int] = []
    import json as json_module

    real_loads = json_module.loads

    def counting_loads(s, *a, **kw):
        parsed.append(len(s))
        return real_loads(s, *a, **kw)

    monkeypatch.setattr(json_module, "loads", counting_loads)
    body = b'{"login": "admin", "password": "' + b"x" * (100 * MB) + b'"}'
    r = api.client.post(
        "/api/v1/auth/login", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["detail"].startswith("Слишком большой запрос")
    assert not [n for n in parsed if n > MB]  # never handed to the JSON parser


def test_a_streamed_body_is_cut_off_at_the_limit(api):
    """A chunked body (no Content-Length), driven at the ASGI level to count what is read."""
    import asyncio

    app = api.client.app.build_middleware_stack()  # security headers → ... → BodyLimit → app
    pulled: list[int] = []
    sent: list[dict] = []

    async def receive():
        pulled.append(1)
        more = len(pulled) < 200  # 200 × 64 KiB = 12.5 MiB on offer
        return {"type": "http.request", "body": b"x" * 65536, "more_body": more}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/api/v1/auth/login", "raw_path": b"/api/v1/auth/login",
        "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1), "server": ("t", 80),
        "headers": [(b"content-type", b"application/json"), (b"host", b"t")],
        "state": {},
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 413
    assert len(pulled) <= 17  # stopped at about 1 MiB
    assert (b"x-content-type-options", b"nosniff") in start["headers"]


def test_json_just_under_the_limit_is_parsed_and_uploads_get_the_document_limit(api):
    r = api.client.post(
        "/api/v1/auth/login",
        content=b'{"login": "admin", "password": "' + b"x" * (MB - 100) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422  # parsed, refused by the schema (password too long)
    ids = seed_basics(api)
    t = api.ok("POST", "trips", 201, json=trip_body(ids))
    # 3 MB of real image: over the JSON limit, under the document limit
    big = sample_image("PNG", size=(1200, 900))
    big = big + b"\0" * max(0, 3 * MB - len(big))  # trailing bytes after IEND are ignored
    r = api.post(f"trips/{t['id']}/documents", files={"file": ("scan.png", big, "image/png")})
    assert r.status_code == 201, r.text
    r = api.post(
        f"trips/{t['id']}/documents",
        files={"file": ("huge.pdf", b"%PDF-1.4" + b"0" * (11 * MB), "application/pdf")},
    )
    assert r.status_code == 413


def test_limit_is_chosen_by_content_type():
    from web.middleware import body_limit_for

    multipart = {"headers": [(b"content-type", b"multipart/form-data; boundary=x")]}
    assert body_limit_for(multipart, json_bytes=MB, upload_bytes=10 * MB) > 10 * MB
    assert body_limit_for({"headers": []}, json_bytes=MB, upload_bytes=10 * MB) == MB
    assert BodyLimit  # the middleware of web.app


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("evil.pdf", b"%PDF-1.4\n" + b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200),
        ("evil.pdf", b"MZ\x90\x00" + b"%PDF-1.4\n" + sample_pdf()),  # polyglot: junk first
        ("evil.png", b"\x89PNG\r\n\x1a\n" + b"MZ\x90\x00" * 50),
        ("evil.jpg", b"\xff\xd8\xff\xe0" + b"MZ\x90\x00" * 50),
        ("empty-pages.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"),
        ("cut.png", sample_image("PNG", size=(64, 64))[:-40]),
    ],
)
def test_uploads_must_parse_as_what_they_claim(api, name, content):
    ids = seed_basics(api)
    t = api.ok("POST", "trips", 201, json=trip_body(ids))
    r = api.post(f"trips/{t['id']}/documents", files={"file": (name, content, "application/pdf")})
    assert r.status_code == 422, (name, r.text)
    assert "PDF, JPEG и PNG" in r.json()["detail"]
    assert api.ok("GET", f"trips/{t['id']}/documents") == []


def test_real_documents_are_accepted(api):
    ids = seed_basics(api)
    t = api.ok("POST", "trips", 201, json=trip_body(ids))
    for name, content, ctype in (
        ("a.pdf", sample_pdf(), "application/pdf"),
        ("a.png", sample_image("PNG"), "image/png"),
        ("a.jpg", sample_image("JPEG"), "image/jpeg"),
    ):
        d = api.ok("POST", f"trips/{t['id']}/documents", 201, files={"file": (name, content)})
        assert d["content_type"] == ctype
