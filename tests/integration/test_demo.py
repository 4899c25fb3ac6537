"""``socialtaxi demo`` seeds a working data set on a real map (web/ingest start is not awaited)."""

import os
import subprocess
import sys

import psycopg


def _demo(db_url, cache, osm):
    env = {**os.environ, "SOCIALTAXI_DATABASE_URL": db_url, "SOCIALTAXI_MAP_CACHE_DIR": str(cache)}
    return subprocess.run(
        [sys.executable, "-m", "socialtaxi", "demo", "--map", str(osm), "--no-serve"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_demo_seeds_once_and_books_trips(empty_db_url, tmp_path, shared_data):
    osm = shared_data / "osm" / "murino_lo_osmnx.osm"
    first = _demo(empty_db_url, tmp_path, osm)
    assert first.returncode == 0, first.stderr
    assert "Демо-данные: passengers 40" in first.stdout
    with psycopg.connect(empty_db_url) as conn:
        n_trips, n_routed = conn.execute(
            "SELECT count(*), count(planned_route) FROM trips WHERE status = 'booked'"
        ).fetchone()
        roles = {r[0] for r in conn.execute("SELECT role FROM user_roles").fetchall()}
        vehicles = conn.execute("SELECT count(*) FROM vehicles").fetchone()[0]
    assert n_trips >= 10 and n_routed == n_trips
    assert {"operator", "dispatcher", "controller", "supervisor", "admin"} <= roles
    assert vehicles == 12
    second = _demo(empty_db_url, tmp_path, osm)
    assert second.returncode == 0, second.stderr
    assert "уже загружены" in second.stdout


def test_demo_refuses_missing_map(empty_db_url, tmp_path):
    res = _demo(empty_db_url, tmp_path, tmp_path / "nope.osm")
    assert res.returncode == 1
    assert "файл карты не найден" in res.stderr
