"""``socialtaxi map calibrate`` against the real database: stored drives in, a profile out."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace

import numpy as np
import psycopg
import pytest
from typer.testing import CliRunner

from config.settings import Settings
from tests.integration.api.conftest import MURINO, make_api, pickup, seed_basics, trip_body

KMH = 20.0  # the fleet really drives at 20 km/h everywhere (the model says 20–60)


@pytest.fixture(scope="module")
def graph(shared_data):
    from routing import load_graph

    return load_graph(shared_data / "osm" / MURINO, cache_dir=Settings().map_cache_dir)


@pytest.fixture
def api(db_url, graph):
    from web.auth import hash_password

    yield from make_api(db_url, graph, hash_password("correct horse battery staple"))


def _store_drives(api, graph, ids: dict[str, int] | None = None) -> list[int]:
    """Three completed trips of one car, with their fixes stored (plus fixes to be ignored)."""
    from db.timeseries import positions_spec, store_for
    from routing.tracks import drive, random_route

    ids = ids or seed_basics(api)
    rng = np.random.default_rng(7)
    truth = SimpleNamespace(
        _snapper=graph._snapper,
        edge_length_m=graph.edge_length_m,
        edge_speed_kmh=np.full(graph.edge_count, KMH),
    )
    trips = []
    with psycopg.connect(api.db_url) as conn:
        for hour in (10, 12, 14):
            t = api.ok("POST", "trips", 201, json=trip_body(ids, pickup_at=pickup(1, hour, 0)))
            boarded = datetime.fromisoformat(pickup(1, hour, 2))
            edges = random_route(graph, rng, min_length_m=3000)
            tr = drive(truth, edges, rng, interval_s=2.0, sigma_m=4.0, speed_share=(1.0, 1.0),
                       start_s=boarded.timestamp())  # fmt: skip
            done = boarded + timedelta(seconds=float(tr.t_s[-1] - tr.t_s[0]))
            store_for(conn, positions_spec()).ensure_range(conn, boarded, done)
            rows = [(ids["car"], datetime.fromtimestamp(s, boarded.tzinfo), la, lo, False)
                    for s, la, lo in zip(tr.t_s, tr.lat, tr.lon, strict=True)]  # fmt: skip
            # parked before boarding and an implausible jump: neither is part of the drive
            rows.append((ids["car"], boarded - timedelta(minutes=1), 60.0, 30.0, False))
            rows.append((ids["car"], boarded + timedelta(seconds=1), 59.0, 29.0, True))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO vehicle_positions (vehicle_id, ts, lat, lon, implausible)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    rows,
                )
                # the test stands in for the vehicle's events: the trip was driven and completed
                cur.execute(
                    "UPDATE trips SET status = 'completed', vehicle_id = %s, started_at = %s,"
                    " picked_up_at = %s, completed_at = %s WHERE id = %s",
                    (ids["car"], boarded - timedelta(minutes=5), boarded, done, t["id"]),
                )
            trips.append(t["id"])
        conn.commit()
    return trips


def test_calibrate_stores_a_versioned_profile_the_loader_applies(api, graph, shared_data, tmp_path):
    from routing import load_graph
    from routing.calibration import ALL_HOURS
    from routing.profile_store import completed_trip_tracks, load_profile
    from socialtaxi.cli import app

    trips = _store_drives(api, graph)
    with psycopg.connect(api.db_url) as conn:
        tracks = list(
            completed_trip_tracks(
                conn,
                start=datetime.fromisoformat(pickup(1, 3, 0)),  # 2026-03-17 00:00 UTC
                end=datetime.fromisoformat(pickup(2, 3, 0)),
            )
        )
    assert [t.trip_id for t in tracks] == trips
    assert all(np.all(t.lat > 59.5) and np.all(np.diff(t.t_s) > 0) for t in tracks)

    src = str(shared_data / "osm" / MURINO)
    args = ["map", "calibrate", "--from", "2026-03-17", "--to", "2026-03-18", "--map", src,
            "--cache-dir", str(Settings().map_cache_dir), "--database-url", api.db_url,
            "--min-count", "5"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "Профиль скоростей № 1: поездок 3" in res.output
    with psycopg.connect(api.db_url) as conn:
        p = load_profile(conn)
    assert p is not None and p.version == 1 and p.meta["trips"] == 3 and p.min_count == 5
    assert p.meta["map_digest"] == graph.meta["source_digest"]
    whole = {n: (k, sp) for n, h, k, sp, _ in p.class_table() if h == ALL_HOURS}
    assert any(k >= 30 for k, _ in whole.values())
    assert all(abs(sp / KMH - 1) < 0.15 for n, (k, sp) in whole.items() if k >= 30)
    # Tuesday 10–16 Moscow: hour-of-week rows exist for the hours driven
    assert set(p.class_hour.tolist()) - {ALL_HOURS} <= {24 + 10, 24 + 11, 24 + 12, 24 + 14, 24 + 15}

    # the loader applies it: routes at the fleet's observed 20 km/h
    calibrated = load_graph(src, cache_dir=Settings().map_cache_dir, profile=p, profile_hour=None)
    seen = np.isin(graph.edge_class, [n for n, (k, _) in whole.items() if k >= 30])
    obs_kmh = calibrated.edge_length_m[seen] / calibrated.edge_time_s[seen] * 3.6
    assert np.median(np.abs(obs_kmh / KMH - 1)) < 0.2
    a, b = (60.0490, 30.4430), (60.0600, 30.4700)
    assert calibrated.route(a, b).duration_s > graph.route(a, b).duration_s

    # a second run is a new version; the first stays as it was
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0 and "№ 2" in res.output, res.output
    with psycopg.connect(api.db_url) as conn:
        assert load_profile(conn).version == 2  # type: ignore[union-attr]
        again = load_profile(conn, version=1)
    assert again is not None and np.array_equal(again.class_n, p.class_n)

    # a period without completed trips creates nothing and says so
    empty = [*args[:2], "--from", "2026-04-01", "--to", "2026-04-02", *args[6:]]
    res = CliRunner().invoke(app, empty)
    assert res.exit_code == 1 and "нет завершённых поездок" in res.output
    res = CliRunner().invoke(app, [*args[:2], "--from", "2026-03-18", "--to", "2026-03-17",
                                   *args[6:]])  # fmt: skip
    assert res.exit_code == 1 and "позже начала" in res.output


def test_an_activated_profile_moves_quotes_until_deactivated(api, graph, shared_data):
    """Calibrate on drives at 20 km/h, activate: the running app's quote takes longer at once
    (no restart); deactivate: the model's ETA again. Who switched, and when, is recorded."""
    from socialtaxi.cli import app

    ids = seed_basics(api)
    _store_drives(api, graph, ids)
    db = ["--database-url", api.db_url]
    cli = CliRunner()

    # Tuesday 10:40 Moscow: an hour of the week the drives were in (class × hour buckets);
    # Wednesday 03:00 and 04:00: hours without data (the classes' all-hours speeds)
    when = {"tue10": pickup(1, 10, 40), "wed03": pickup(2, 3, 0), "wed04": pickup(2, 4, 0)}

    def quote(key: str) -> float:
        body = trip_body(ids, pickup_at=when[key])
        return float(api.ok("POST", "trips/quote", json=body)["planned_duration_s"])

    model = {k: quote(k) for k in when}
    res = cli.invoke(app, ["map", "profile", "list", *db])
    assert res.exit_code == 0 and "Профилей скоростей нет" in res.output, res.output
    res = cli.invoke(app, ["map", "calibrate", "--from", "2026-03-17", "--to", "2026-03-18",
                           "--map", str(shared_data / "osm" / MURINO), "--min-count", "5",
                           "--cache-dir", str(Settings().map_cache_dir), *db])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert quote("tue10") == model["tue10"]  # stored, not active: nothing changes

    res = cli.invoke(app, ["map", "profile", "activate", "7", *db])
    assert res.exit_code == 1 and "№ 7 нет" in res.output
    res = cli.invoke(app, ["map", "profile", "activate", "1", *db])
    assert res.exit_code == 0 and "№ 1 включён" in res.output, res.output
    res = cli.invoke(app, ["map", "profile", "list", *db])
    assert "* № 1:" in res.output and "включён " in res.output, res.output
    # the fleet's 20 km/h, well below the model's 20–60 km/h
    slow = {k: quote(k) for k in when}
    assert all(slow[k] > 1.3 * model[k] for k in when), (slow, model)
    state = api.client.app.state.graphs  # type: ignore[attr-defined]
    with psycopg.connect(api.db_url) as conn:
        graphs = state.current(conn)
    # one graph for Tuesday 10:00, one shared by the hours without data of their own
    assert graphs.version == 1 and graphs.builds == 2
    assert slow["wed03"] == slow["wed04"] != slow["tue10"]

    res = cli.invoke(app, ["map", "profile", "deactivate", *db])
    assert res.exit_code == 0 and "выключен" in res.output, res.output
    assert {k: quote(k) for k in when} == model
    res = cli.invoke(app, ["map", "profile", "deactivate", *db])
    assert "не было" in res.output
    with psycopg.connect(api.db_url) as conn:
        rows = conn.execute(
            "SELECT profile_id, changed_by IS NOT NULL FROM speed_profile_activations ORDER BY id"
        ).fetchall()
    assert rows == [(1, True), (None, True)]
