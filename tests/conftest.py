"""Shared fixtures.

``tests/unit`` needs no services. ``tests/integration`` talks to the real PostgreSQL
(``SOCIALTAXI_TEST_PG``, default the local server) and Mosquitto; each test gets its own database,
cloned from a template that has every migration applied, so tests never disturb each other.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

# Production is the default mode (it refuses the development key); the tests run as development,
# set here before any settings are read. A test of production sets the mode itself.
os.environ["SOCIALTAXI_MODE"] = "development"

import psycopg  # noqa: E402
import pytest  # noqa: E402

from config.rules import Rules, load_rules  # noqa: E402
from config.settings import DEFAULT_RULES_FILE  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SOCIALTAXI_SHARED_DATA", REPO.parent / "shared" / "data"))
PG_SERVER = os.environ.get("SOCIALTAXI_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
MQTT_HOST = os.environ.get("SOCIALTAXI_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("SOCIALTAXI_TEST_MQTT_PORT", "1883"))


def pg_url(dbname: str) -> str:
    return f"{PG_SERVER}/{dbname}"


@pytest.fixture(scope="session")
def rules() -> Rules:
    return load_rules(DEFAULT_RULES_FILE)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared data not found at {SHARED_DATA}; it must sit beside the repository")
    return SHARED_DATA


@pytest.fixture(scope="session")
def template_db(rules: Rules) -> Iterator[str]:
    """A database with all migrations and the seed applied; cloned per test."""
    from db import migrate
    from db.seed import sync_rules

    name = f"st_tmpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = pg_url(name)
    migrate.upgrade(url)
    with psycopg.connect(url) as conn:
        sync_rules(conn, rules)
    yield name
    _drop(name)


def _drop(name: str) -> None:
    with psycopg.connect(pg_url("postgres"), autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture
def db_url(template_db: str) -> Iterator[str]:
    """URL of a fresh, migrated and seeded database of this test's own."""
    name = f"st_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield pg_url(name)
    _drop(name)


@pytest.fixture
def db(db_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to this test's own database."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def empty_db_url() -> Iterator[str]:
    """URL of a database name that does not exist yet (dropped afterwards)."""
    name = f"st_empty_{uuid.uuid4().hex[:12]}"
    yield pg_url(name)
    _drop(name)


@pytest.fixture
def mqtt_prefix() -> str:
    """A topic prefix of this test's own, so tests never see each other's messages."""
    return f"test-{uuid.uuid4().hex[:10]}/socialtaxi/v1"


# --- documents that really are what they claim (uploads are parsed, issue 9) ------------------
def sample_pdf() -> bytes:
    """A one-page PDF."""
    import io

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def sample_image(fmt: str = "PNG", size: tuple[int, int] = (8, 8)) -> bytes:
    """A small PNG or JPEG."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format=fmt)
    return out.getvalue()
