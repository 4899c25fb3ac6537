"""Hole 1: a 500 wrote a passenger's whole row into both logs (``PATCH /passengers/5
{"wheelchair": null}`` → NOT NULL violation → ``Failing row contains (5, <surname>, ...)`` in the
PostgreSQL log and in the web traceback). Now the schema refuses the null (422 naming the field),
a database constraint error is mapped to 4xx without its DETAIL, every log record is masked, and
the pool's connections log errors to PostgreSQL tersely without the statement."""

from __future__ import annotations

import glob
import io
import json
import logging
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.integration.api.conftest import SECRET, passenger_body, session_tokens
from web.deps import Conn

pytestmark = pytest.mark.integration

# Values of the passenger used here; none of them may appear in any log.
SURNAME, NAME, PATRONYMIC = "Шереметьева", "Евдокия", "Прокофьевна"
SNILS, SNILS_DIGITS, BIRTH = "112-233-445 95", "11223344595", "1939-07-21"
ADDRESS = "Мурино, Охтинская аллея, 17"
SECRETS = (SURNAME, NAME, PATRONYMIC, SNILS_DIGITS, "112-233-445", BIRTH, "Охтинская")
NON_NULLABLE = ("wheelchair", "needs_companion", "visually_impaired", "walker", "last_name",
                "first_name", "birth_date")  # fmt: skip


def _body() -> dict:
    return passenger_body(
        last_name=SURNAME, first_name=NAME, middle_name=PATRONYMIC, snils=SNILS,
        birth_date=BIRTH, home_address=ADDRESS,
    )  # fmt: skip


def _pg_log() -> Path:
    """The PostgreSQL server log this machine writes (stderr of the Debian cluster)."""
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres") as conn:
        current = conn.execute("SELECT pg_current_logfile()").fetchone()[0]
        data_dir = conn.execute("SHOW data_directory").fetchone()[0]
    if current:
        return Path(current if current.startswith("/") else f"{data_dir}/{current}")
    found = sorted(glob.glob("/var/log/postgresql/postgresql-*-main.log"))
    if not found:
        pytest.fail("PostgreSQL server log not found (pg_current_logfile, /var/log/postgresql)")
    return Path(found[-1])


class LogTail:
    def __init__(self, path: Path) -> None:
        self.path, self.start = path, path.stat().st_size

    def text(self) -> str:
        with self.path.open("rb") as f:
            f.seek(self.start)
            return f.read().decode("utf-8", "replace")


def _assert_clean(text: str, where: str) -> None:
    for s in SECRETS:
        assert s not in text, f"{s!r} in the {where}"


def test_null_for_a_non_nullable_field_is_422_naming_it(api, caplog):
    caplog.set_level(logging.DEBUG)
    pid = api.ok("POST", "passengers", 201, json=_body())["id"]
    for field in NON_NULLABLE:
        r = api.patch(f"passengers/{pid}", json={field: None})
        assert r.status_code == 422, (field, r.status_code, r.text)
        assert r.json()["errors"][0]["field"] == field
        _assert_clean(r.text, "response")
    _assert_clean(caplog.text, "web log")


def test_a_constraint_error_the_schema_missed_is_4xx_without_detail(api, caplog):
    """Second line: a NOT NULL the schema let through is mapped by ``web.errors``."""
    from fastapi import APIRouter

    caplog.set_level(logging.DEBUG)
    pid = api.ok("POST", "passengers", 201, json=_body())["id"]
    router = APIRouter()

    @router.post("/probe-null")
    def probe(conn: Conn) -> None:
        conn.execute("UPDATE passengers SET wheelchair = NULL WHERE id = %s", (pid,))

    api.client.app.include_router(router)
    r = api.client.post("/probe-null")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "wheelchair", r.text
    _assert_clean(r.text, "response")
    _assert_clean(caplog.text, "web log")


def test_tracebacks_and_exception_text_are_masked(db):
    """Whatever still logs a database exception (uvicorn's "Exception in ASGI application",
    ``log.exception``) writes it masked."""
    from web import logmask

    logmask.install()
    db.execute("CREATE TABLE t (id int, surname text, snils text, flag boolean NOT NULL)")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("uvicorn.error.probe")
    logger.addHandler(handler)
    try:
        try:
            db.execute("INSERT INTO t VALUES (1, %s, %s, NULL)", (SURNAME, SNILS_DIGITS))
        except psycopg.errors.NotNullViolation as exc:
            assert SURNAME in str(exc)  # the client sees the DETAIL: it must not be logged
            logger.exception("Exception in ASGI application")
            logger.error("failed: %s", exc)
            logger.error(exc)
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "NotNullViolation" in out and "DETAIL:  ***" in out
    _assert_clean(out, "traceback")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(db_url, password_hash):
    """``socialtaxi web`` in its own process, as in production; its stderr is the web log."""
    from tests.integration.api.conftest import add_users

    ids = add_users(db_url, password_hash)
    port = _free_port()
    env = {
        **os.environ,
        "SOCIALTAXI_MODE": "development",
        "SOCIALTAXI_DATABASE_URL": db_url,
        "SOCIALTAXI_SECRET_KEY": SECRET,
        "SOCIALTAXI_MAP_SOURCE": "",
        "SOCIALTAXI_LOG_LEVEL": "DEBUG",
    }
    log = io.BytesIO()
    proc = subprocess.Popen(
        [sys.executable, "-m", "socialtaxi", "web", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            pytest.fail("web server did not start")
        tokens = session_tokens(db_url, ids, now=datetime.now(UTC))
        yield base, tokens, lambda: log.getvalue().decode("utf-8", "replace")
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
        log.write(out)


def test_bad_inputs_leave_both_logs_clean(live_server):
    base, tokens, web_log = live_server
    pg = LogTail(_pg_log())
    h = {"Authorization": f"Bearer {tokens['admin']}"}
    with httpx.Client(base_url=base, headers=h, timeout=30) as c:
        r = c.post("/api/v1/passengers", json=_body())
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        for field in NON_NULLABLE:
            r = c.patch(f"/api/v1/passengers/{pid}", json={field: None})
            assert r.status_code == 422, (field, r.text)
        # (a duplicate СНИЛС is found before the INSERT, never as a unique violation)
        r = c.post("/api/v1/passengers", json=_body())
        assert r.status_code == 409, r.text
        r = c.post("/api/v1/passengers/search", json={"phone": SURNAME})
        assert r.status_code in (200, 422)
        r = c.get(f"/api/v1/passengers?purpose={SURNAME}&phone={SNILS_DIGITS}")
        assert r.status_code in (200, 422)
    # the other bad inputs of the issue, carrying the passenger's values
    with httpx.Client(base_url=base, timeout=30) as c:
        r = c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer v1.{SURNAME}.{NAME}"
                                              .encode()})  # fmt: skip
        assert r.status_code == 401
        body = json.dumps({"login": SURNAME, "password": SNILS_DIGITS * 200_000}).encode()
        r = c.post("/api/v1/auth/login", content=body,
                   headers={"Content-Type": "application/json"})  # fmt: skip
        assert r.status_code == 413
        for _ in range(6):  # wrong passwords up to the lockout: security events, no password
            r = c.post("/api/v1/auth/login", json={"login": "admin", "password": SNILS_DIGITS})
        assert r.status_code == 429
    _assert_clean(pg.text(), "PostgreSQL log")
    _assert_clean(web_log(), "web log")


def test_the_pools_connections_log_errors_without_the_row(db_url):
    """Whatever error still reaches the database from the web's pool is logged tersely: no
    ``DETAIL: Failing row contains``/``Key (snils)=(...)``, no ``STATEMENT`` with values."""
    from psycopg_pool import ConnectionPool

    from web.app import log_privacy

    pg = LogTail(_pg_log())
    marker = f"privacy-probe-{os.getpid()}"
    with ConnectionPool(db_url, min_size=1, max_size=1, configure=log_privacy) as pool:
        with pool.connection() as conn:
            conn.execute(
                "CREATE TABLE probe (surname text, snils text UNIQUE, flag boolean NOT NULL)"
            )
            conn.execute("INSERT INTO probe VALUES ('x', %s, true)", (SNILS_DIGITS,))
        for sql in (
            f"INSERT INTO probe VALUES ('{SURNAME}', '{SNILS_DIGITS}', NULL) -- {marker}",
            f"INSERT INTO probe VALUES ('{SURNAME}', '{SNILS_DIGITS}', true) -- {marker}",
        ):
            with pytest.raises(psycopg.IntegrityError), pool.connection() as conn:
                conn.execute(sql)
    text = pg.text()
    for _ in range(50):  # the server writes its log asynchronously
        if "duplicate key value" in text:
            break
        time.sleep(0.1)
        text = pg.text()
    assert "violates not-null constraint" in text and "duplicate key value" in text
    assert marker not in text  # no STATEMENT line
    _assert_clean(text, "PostgreSQL log")


def test_mask_text_cuts_what_postgresql_quotes():
    from web.logmask import mask_text

    cases = {
        'DETAIL:  Failing row contains (5, Шереметьева, Евдокия, 1939-07-21, 11223344595).':
            "DETAIL:  ***",
        "Failing row contains (5, Шереметьева, null).": "Failing row contains (***)",
        'Key (snils)=(11223344595) already exists.': "Key (snils)=(***) already exists.",
        'invalid input syntax for type date: "Шереметьева"':
            'invalid input syntax for type date: "***"',
    }  # fmt: skip
    for raw, masked in cases.items():
        assert mask_text(raw) == masked, raw
