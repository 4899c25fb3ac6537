"""Fixtures for the JSON API tests: the Murino road graph (loaded once per session), a frozen
clock, users of every role with tokens, and an ``Api`` helper around FastAPI's TestClient.

Times: the clock stands at Monday 2026-03-16 09:00 Moscow (06:00 UTC); pickups are booked for
the following days within the service hours (07:00–21:00 Moscow).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from config.settings import Settings

MURINO = "murino_lo_osmnx.osm"
NOW = datetime(2026, 3, 16, 6, 0, tzinfo=UTC)  # Monday 09:00 in Moscow
SECRET = "test-secret-key-for-socialtaxi-api-tests-0123456789"
ROLES = ("operator", "dispatcher", "controller", "supervisor", "admin")
PASSWORD = "correct horse battery staple"

# Points in Murino near roads (lat, lon) and one far outside the map.
HOME = (60.0490, 30.4430)
CLINIC = (60.0600, 30.4700)
MFC = (60.0550, 30.4600)
OUTSIDE = (59.9000, 30.3000)


@pytest.fixture(scope="session")
def murino_graph(shared_data):
    from routing import load_graph

    return load_graph(shared_data / "osm" / MURINO, cache_dir=Settings().map_cache_dir)


@pytest.fixture(scope="session")
def password_hash() -> str:
    from web.auth import hash_password

    return hash_password(PASSWORD)


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Api:
    """A TestClient with a token per role; ``api.post(url, role="operator", json=...)``."""

    client: TestClient
    tokens: dict[str, str]
    user_ids: dict[str, int]
    clock: Clock
    db_url: str
    ids: dict[str, Any] = field(default_factory=dict)

    def headers(self, role: str | None) -> dict[str, str]:
        return {} if role is None else {"Authorization": f"Bearer {self.tokens[role]}"}

    def request(self, method: str, url: str, *, role: str | None = "admin", **kw: Any):
        url = url if url.startswith("/") else f"/api/v1/{url}"
        return self.client.request(method, url, headers=self.headers(role), **kw)

    def get(self, url: str, **kw: Any):
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any):
        return self.request("POST", url, **kw)

    def patch(self, url: str, **kw: Any):
        return self.request("PATCH", url, **kw)

    def ok(self, method: str, url: str, status: int = 200, **kw: Any) -> Any:
        r = self.request(method, url, **kw)
        assert r.status_code == status, (r.status_code, r.text)
        return r.json() if r.content else None


def add_users(db_url: str, password_hash: str) -> dict[str, int]:
    """One user per role (login = role) plus ``boss`` with every role; returns login → id."""
    ids: dict[str, int] = {}
    with psycopg.connect(db_url, autocommit=True) as conn:
        for login, roles in [*((r, (r,)) for r in ROLES), ("boss", ROLES)]:
            uid = conn.execute(
                "INSERT INTO users (login, full_name, password_hash) VALUES (%s, %s, %s)"
                " RETURNING id",
                (login, f"Test {login}", password_hash),
            ).fetchone()[0]
            for r in roles:
                conn.execute("INSERT INTO user_roles (user_id, role) VALUES (%s, %s)", (uid, r))
            ids[login] = uid
    return ids


def session_tokens(db_url: str, user_ids: dict[str, int], *, now: datetime = NOW) -> dict[str, str]:
    """A server-side session per user, opened at ``now`` (the frozen clock) for ten years."""
    from web.auth import open_session

    with psycopg.connect(db_url, autocommit=True) as conn:
        return {
            login: open_session(conn, user_id=uid, now=now, lifetime=timedelta(days=3650))[0]
            for login, uid in user_ids.items()
        }


def fresh_sessions(db_url: str, *, now: datetime = NOW) -> dict[str, str]:
    """Undo what fuzzed requests did to the accounts (deactivated users, replaced roles, locked
    logins; their sessions ended) and open a new session for every user: login → token.

    Roles come back as :func:`add_users` made them, plus any kept in ``user_roles_backup``."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS user_roles_backup AS TABLE user_roles")
        conn.execute("UPDATE users SET active = true")
        conn.execute("DELETE FROM user_roles")
        conn.execute("INSERT INTO user_roles SELECT * FROM user_roles_backup")
        conn.execute("DELETE FROM login_failures")
        users = dict(conn.execute("SELECT login, id FROM users").fetchall())
    return session_tokens(db_url, users, now=now)


def api_settings(db_url: str, **over: Any) -> Settings:
    """Test settings: a year of idle lifetime, so tests that move the clock keep their sessions."""
    values: dict[str, Any] = {
        "database_url": db_url,
        "secret_key": SECRET,
        "db_pool_min": 1,
        "db_pool_max": 4,
        "session_idle_minutes": 365 * 24 * 60,
        **over,
    }
    return Settings(**values)


def make_api(db_url: str, graph: Any, password_hash: str, **settings_over: Any) -> Iterator[Api]:
    from web.app import create_app

    ids = add_users(db_url, password_hash)
    clock = Clock()
    app = create_app(api_settings(db_url, **settings_over), graph=graph, clock=clock)
    tokens = session_tokens(db_url, ids)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, tokens, ids, clock, db_url)


@pytest.fixture
def api(db_url, murino_graph, password_hash) -> Iterator[Api]:
    yield from make_api(db_url, murino_graph, password_hash)


# --- data helpers ----------------------------------------------------------------------------
def passenger_body(**over: Any) -> dict[str, Any]:
    body = {
        "last_name": "Семёнова",
        "first_name": "Мария",
        "middle_name": "Петровна",
        "birth_date": "1941-03-12",
        "phones": ["+7 (921) 123-45-67"],
        "snils": "112-233-445 95",
        "home_address": "Мурино, ул. Шоссе в Лаврики, 1",
        "home_lat": HOME[0],
        "home_lon": HOME[1],
        "benefits": [{"category": "disabled_2", "valid_from": "2025-01-01"}],
    }
    body.update(over)
    return body


def seed_basics(api: Api, **passenger: Any) -> dict[str, int]:
    """A passenger, a clinic, an МФЦ, a carrier with a car and a wheelchair van, a driver."""
    p = api.ok("POST", "passengers", 201, json=passenger_body(**passenger))
    clinic = api.ok(
        "POST",
        "social-objects",
        201,
        json={
            "name": "Муринская поликлиника",
            "object_type": "medical",
            "address": "Мурино, ул. Оборонная, 2",
            "lat": CLINIC[0],
            "lon": CLINIC[1],
            "radius_m": 120,
        },
    )
    mfc = api.ok(
        "POST",
        "social-objects",
        201,
        json={
            "name": "МФЦ Мурино",
            "object_type": "mfc",
            "address": "Мурино, Привокзальная пл., 1",
            "lat": MFC[0],
            "lon": MFC[1],
        },
    )
    carrier = api.ok("POST", "carriers", 201, json={"name": "ООО Соцтранс", "inn": "4703123456"})
    car = api.ok(
        "POST",
        "vehicles",
        201,
        json={
            "carrier_id": carrier["id"],
            "plate": "А123ВС 47",
            "vehicle_type": "car",
            "seats": 4,
            "mqtt_id": "car-1",
        },
    )
    van = api.ok(
        "POST",
        "vehicles",
        201,
        json={
            "carrier_id": carrier["id"],
            "plate": "В456ОР47",
            "vehicle_type": "wheelchair_van",
            "seats": 3,
            "wheelchair_places": 1,
            "mqtt_id": "van-1",
        },
    )
    driver = api.ok(
        "POST",
        "drivers",
        201,
        json={
            "carrier_id": carrier["id"],
            "full_name": "Петров Пётр",
            "license_no": "47 12 345678",
        },
    )
    return {
        "passenger": p["id"],
        "clinic": clinic["id"],
        "mfc": mfc["id"],
        "carrier": carrier["id"],
        "car": car["id"],
        "van": van["id"],
        "driver": driver["id"],
    }


def other_passenger(api: Api, k: int) -> int:
    """A second, third... passenger (distinct name, birth date, phone) for same-time trips: one
    passenger cannot have two overlapping trips."""
    body = passenger_body(
        last_name=["Кузнецова", "Орлова", "Лебедева", "Соколова"][k % 4],
        first_name="Анна",
        birth_date=f"19{40 + k}-05-0{1 + k % 9}",
        phones=[f"+7 921 555-0{k % 10}-{10 + k}"],
        snils=None,
    )
    return int(api.ok("POST", "passengers", 201, json=body)["id"])


def pickup(days: int = 1, hour: int = 10, minute: int = 0) -> str:
    """ISO time ``days`` after the frozen today at ``hour:minute`` Moscow time."""
    local = NOW + timedelta(hours=3)
    day = (local + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, hour - 3, minute, tzinfo=UTC).isoformat()


def trip_body(ids: dict[str, int], **over: Any) -> dict[str, Any]:
    body = {
        "passenger_id": ids["passenger"],
        "destination_id": ids["clinic"],
        "pickup_at": pickup(),
    }
    body.update(over)
    return body


def set_position(db_url: str, vehicle_id: int, lat: float, lon: float, ts: datetime = NOW) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO vehicle_last_position (vehicle_id, ts, lat, lon, speed_kmh)"
            " VALUES (%s, %s, %s, %s, 0) ON CONFLICT (vehicle_id) DO UPDATE"
            " SET ts = EXCLUDED.ts, lat = EXCLUDED.lat, lon = EXCLUDED.lon",
            (vehicle_id, ts, lat, lon),
        )


def add_fix(db_url: str, vehicle_id: int, lat: float, lon: float, ts: datetime) -> None:
    """One GPS fix in ``vehicle_positions`` (its day partition created when missing)."""
    from db.timeseries import positions_spec, store_for

    with psycopg.connect(db_url, autocommit=True) as conn:
        spec = positions_spec()
        store_for(conn, spec).ensure_range(conn, ts, ts)
        conn.execute(
            "INSERT INTO vehicle_positions (vehicle_id, ts, lat, lon) VALUES (%s, %s, %s, %s)",
            (vehicle_id, ts, lat, lon),
        )
