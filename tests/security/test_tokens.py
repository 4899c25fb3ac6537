"""Hole 2: a non-ASCII bearer token was a 500 (TypeError in hmac.compare_digest). Any malformed
header, cookie or token is a 401 now, never a 5xx — fuzzed with Hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from web.auth import COOKIE_NAME
from web.credentials import TokenInvalid, new_token, parse_token

pytestmark = pytest.mark.integration

_FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@_FUZZ
@given(st.one_of(st.text(), st.binary().map(lambda b: b.decode("latin-1")), st.none()))
def test_parser_refuses_anything_but_a_token(raw):
    try:
        assert parse_token(raw) == raw
    except TokenInvalid:
        pass


def test_the_reported_token_is_a_401(api):
    for header in ("Bearer v1.тест.подпись", "Bearer тест", "bearer " + "я" * 5000):
        r = api.client.get("/api/v1/auth/me", headers={"Authorization": header.encode("utf-8")})
        assert r.status_code == 401, (header[:40], r.status_code)
    cookie = f"{COOKIE_NAME}=v1.тест.подпись".encode()
    assert api.client.get("/api/v1/auth/me", headers={"Cookie": cookie}).status_code == 401


# Header values: any bytes except the ones HTTP itself forbids (CR, LF, NUL).
_header_bytes = st.binary(max_size=300).filter(lambda b: not set(b) & {0, 10, 13})
_prefixes = st.sampled_from([b"", b"Bearer ", b"bearer ", b"Basic ", b"Bearer  ", b"Bearer st_"])


@_FUZZ
@given(prefix=_prefixes, value=_header_bytes)
def test_fuzzed_authorization_header_is_401(api, prefix, value):
    r = api.client.get("/api/v1/auth/me", headers={"Authorization": prefix + value})
    assert r.status_code == 401, r.text


@_FUZZ
@given(value=_header_bytes)
def test_fuzzed_cookie_is_401(api, value):
    r = api.client.get(
        "/api/v1/trips", headers={"Cookie": f"{COOKIE_NAME}=".encode() + value.replace(b";", b"")}
    )
    assert r.status_code == 401, r.text


def test_a_well_formed_unknown_token_is_401(api):
    r = api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {new_token()}"})
    assert r.status_code == 401
