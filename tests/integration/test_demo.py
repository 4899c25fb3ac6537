"""``socialtaxi demo`` seeds a working data set on a real map (web/ingest start is not awaited)."""

import os
import subprocess
import sys

import psycopg
import pytest


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


def _children(pid: int) -> set[int]:
    """Every descendant process of ``pid`` (from /proc)."""
    import pathlib

    parent: dict[int, int] = {}
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(stat.parent.name)] = int(fields[1])
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        kids = {c for c, pp in parent.items() if pp == p}
        out |= kids
        todo.extend(kids)
    return out


def _alive(pid: int) -> bool:
    import pathlib

    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_demo_without_argument_drives_trips_to_completed_and_ctrl_c_stops_everything(
    empty_db_url, tmp_path
):
    """The README's run command: no argument (the shipped map); the fleet replays its recent
    history first, so trips reach ``completed`` within seconds, and is live when the demo says
    it is ready; Ctrl-C (SIGINT) leaves no process behind."""
    import signal
    import socket
    import time
    import uuid

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "SOCIALTAXI_DATABASE_URL": empty_db_url,
        "SOCIALTAXI_MAP_CACHE_DIR": str(tmp_path),
        "SOCIALTAXI_MQTT_TOPIC_PREFIX": f"test-{uuid.uuid4().hex[:10]}/socialtaxi/v1",
    }
    log = open(tmp_path / "demo.log", "w+")  # noqa: SIM115 (read back below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "socialtaxi", "demo", "--port", str(port), "--catch-up", "10"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    kids: set[int] = set()
    try:
        deadline = time.monotonic() + 240
        done = positions = 0
        while time.monotonic() < deadline and proc.poll() is None:
            kids |= _children(proc.pid)
            try:
                with psycopg.connect(empty_db_url, connect_timeout=2) as conn:
                    done = conn.execute(
                        "SELECT count(*) FROM trips WHERE status = 'completed'"
                    ).fetchone()[0]
                    positions = conn.execute("SELECT count(*) FROM vehicle_positions").fetchone()[0]
            except psycopg.Error:
                pass  # not created yet
            # read through a file object of our own: the children write through ``log``'s
            ready = "Остановить: Ctrl-C" in (tmp_path / "demo.log").read_text()
            if done >= 2 and positions > 0 and ready:
                break
            time.sleep(1)
        kids |= _children(proc.pid)
        assert proc.poll() is None, open(tmp_path / "demo.log").read()[-3000:]
        assert done >= 2 and positions > 0, open(tmp_path / "demo.log").read()[-3000:]
        assert len(kids) >= 3  # web, ingest, fleet
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, open(tmp_path / "demo.log").read()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    time.sleep(0.5)
    assert [k for k in kids if _alive(k)] == []
    out = open(tmp_path / "demo.log").read()
    assert "Логины:" in out and "Остановить: Ctrl-C" in out
    # it starts at now: when it says it is ready, every vehicle is live on the map and today's
    # trips are there (the replayed history: some completed already)
    import re

    live = re.search(r"на линии машин (\d+) из (\d+); поездок сегодня (\d+)", out)
    assert live is not None, out[-3000:]
    assert int(live[1]) == int(live[2]) == 12 and int(live[3]) > 0, live[0]
    with psycopg.connect(empty_db_url) as conn:
        events = conn.execute(
            "SELECT count(*) FROM trip_events WHERE source = 'vehicle'"
        ).fetchone()[0]
        paid = conn.execute("SELECT count(*) FROM payments").fetchone()[0]
    assert events >= 10 and paid >= 0


def test_a_second_demo_run_does_not_replay_over_the_first_runs_fixes(db):
    """History already driven by an earlier run (fixes in the database) is not replayed again:
    a vehicle would report two places at the same moments (a starburst on the finding map)."""
    from datetime import UTC, datetime, timedelta

    from socialtaxi.demo import _history_to_replay

    assert _history_to_replay(db, 360) == 360  # no fixes yet: the whole history
    db.execute("CREATE TEMP TABLE vehicle_positions (ts timestamptz)")  # shadows the real one
    db.execute(
        "INSERT INTO vehicle_positions VALUES (%s)", (datetime.now(UTC) - timedelta(minutes=30),)
    )
    assert 29.5 < _history_to_replay(db, 360) < 31
    assert _history_to_replay(db, 10) == 10
    db.execute(
        "INSERT INTO vehicle_positions VALUES (now() + interval '1 hour')"
    )  # future: ignored
    assert 29.5 < _history_to_replay(db, 360) < 31
