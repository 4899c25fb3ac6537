"""Speed calibration from matched tracks: traversals, pooling with fallbacks, applying a profile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import numpy as np
import pytest

from routing import calibration as cal
from routing import load_graph
from routing.matching import match_track
from routing.tracks import drive, random_route
from tests.unit.conftest_routing import *  # noqa: F403 (session fixtures)

MSK = timezone(timedelta(hours=3))
OFFSET_S = 3 * 3600


def test_hour_of_week_is_local_and_starts_on_monday() -> None:
    ts = [
        datetime(2026, 3, 16, 0, 0, tzinfo=MSK),  # Monday 00:00 Moscow
        datetime(2026, 3, 15, 21, 0, 30, tzinfo=UTC),  # the same hour in UTC
        datetime(2026, 3, 17, 10, 59, tzinfo=MSK),  # Tuesday 10:xx
        datetime(2026, 3, 22, 23, 30, tzinfo=MSK),  # Sunday 23:xx
        datetime(2026, 3, 23, 0, 0, tzinfo=MSK),  # next Monday
    ]
    how = cal.hour_of_week(np.array([t.timestamp() for t in ts]), utc_offset_s=OFFSET_S)
    assert how.tolist() == [0, 0, 24 + 10, 167, 0]


def _drive(g, seed: int, kmh: np.ndarray, *, sigma: float, interval: float, length_m: float):
    rng = np.random.default_rng(seed)
    edges = random_route(g, rng, min_length_m=length_m)
    truth = SimpleNamespace(_snapper=g._snapper, edge_length_m=g.edge_length_m, edge_speed_kmh=kmh)
    start = datetime(2026, 3, 17, 10, 5, tzinfo=MSK).timestamp()
    return edges, drive(truth, edges, rng, interval_s=interval, sigma_m=sigma,
                        speed_share=(1.0, 1.0), start_s=start)  # fmt: skip


def test_traversals_recover_the_true_edge_times(murino) -> None:
    g = murino
    kmh = np.full(g.edge_count, 30.0)  # every street at 30 km/h: an edge takes length / 30
    edges, tr = _drive(g, 3, kmh, sigma=2.0, interval=1.0, length_m=4000)
    m = match_track(g, tr.lat, tr.lon, tr.t_s)
    obs = cal.traversals(g, m, tr.t_s, utc_offset_s=OFFSET_S)
    assert len(obs) >= 0.6 * edges.size  # the first and last (partly seen) edges are left out
    assert set(obs.edge.tolist()) <= set(edges.tolist())
    true_s = g.edge_length_m[obs.edge] / (30 / 3.6)
    long = g.edge_length_m[obs.edge] > 60
    assert np.median(np.abs(obs.time_s[long] / true_s[long] - 1)) < 0.1
    # node times are shared by consecutive edges: the sum is the time between them
    assert obs.time_s.sum() == pytest.approx(true_s.sum(), rel=0.05)
    assert (obs.hour == 24 + 10).all()  # Tuesday 10:xx Moscow
    # nothing to traverse in a track of one fix
    one = match_track(g, tr.lat[:1], tr.lon[:1], tr.t_s[:1])
    assert len(cal.traversals(g, one, tr.t_s[:1], utc_offset_s=OFFSET_S)) == 0


def _classes(g):  # type: ignore[no-untyped-def]
    names, counts = np.unique(g.edge_class, return_counts=True)
    x, y = names[np.argsort(-counts)[:2]]
    return np.flatnonzero(g.edge_class == x), np.flatnonzero(g.edge_class == y)


def _obs(edges, hours, factor, g) -> cal.Traversals:  # type: ignore[no-untyped-def]
    edges = np.asarray(edges, np.int64)
    return cal.Traversals(
        edges, np.asarray(hours, np.int16), g.edge_time_s[edges].astype(float) * factor
    )


def test_pooling_and_the_fallback_chain(murino) -> None:
    g = murino
    xs, ys = _classes(g)
    e0, e1 = ys[0], ys[1]  # e0 has data of its own, e1 only through its class
    obs = cal.concat([
        _obs(np.resize(xs[2:40], 30), [10] * 30, 2.0, g),  # class X at hour 10: twice as slow
        _obs(np.resize(xs[2:40], 30), [20] * 30, 1.0, g),  # class X at hour 20: as modelled
        _obs([e0] * 30, [10] * 30, 3.0, g),  # edge e0 (class Y) at hour 10: 3× the model
    ])  # fmt: skip
    p = cal.calibrate(g, obs, min_count=30)
    assert p.min_count == 30 and p.meta["traversals"] == 90
    t = {h: cal.edge_times(g, p, hour=h) for h in (10, 20, 5, None)}
    base = g.edge_time_s.astype(float)
    x = xs[50]  # an X edge without data of its own
    assert t[10][x] == pytest.approx(2 * base[x], rel=1e-4)  # class × hour
    assert t[20][x] == pytest.approx(base[x], rel=1e-4)
    assert t[5][x] == pytest.approx(1.5 * base[x], rel=1e-4)  # no hour 5: class, all hours
    assert t[None][x] == pytest.approx(1.5 * base[x], rel=1e-4)
    assert t[10][e0] == pytest.approx(3 * base[e0], rel=1e-4)  # the edge's own hour
    assert t[20][e0] == pytest.approx(3 * base[e0], rel=1e-4)  # its all hours (Y: no factor)
    assert t[10][e1] == pytest.approx(3 * base[e1], rel=1e-4)  # class Y from e0's data
    others = np.setdiff1d(np.arange(g.edge_count), np.concatenate([xs, ys]))
    assert np.array_equal(t[10][others], base[others])  # no data, no change
    # a bucket below the minimum count is not kept: everything stays as modelled
    none = cal.calibrate(g, obs, min_count=61)  # class X has 60 over all hours
    assert none.class_name.size == 0 and none.edge_u.size == 0
    assert np.array_equal(cal.edge_times(g, none, hour=10), base)


def test_an_edge_without_its_hour_takes_its_class_hour_factor(murino) -> None:
    g = murino
    xs, _ = _classes(g)
    e0 = xs[0]
    obs = cal.concat([
        _obs([e0] * 20, [20] * 20, 1.5, g),  # e0, only seen at hour 20
        _obs(np.resize(xs[5:30], 20), [10] * 20, 2.0, g),  # class X at 10: 2× the model
        _obs(np.resize(xs[5:30], 20), [20] * 20, 1.0, g),  # class X at 20: as modelled
    ])  # fmt: skip
    p = cal.calibrate(g, obs, min_count=20)
    base = g.edge_time_s.astype(float)
    # all-hours class ratio: X at 20 mixes e0 (1.5×) and the others (1×)
    r = {h: b / s for n, h, _, s, b in p.class_table() if n == str(g.edge_class[e0])}
    want = 1.5 * base[e0] * r[10] / r[cal.ALL_HOURS]
    assert cal.edge_times(g, p, hour=10)[e0] == pytest.approx(want, rel=1e-4)
    assert cal.edge_times(g, p, hour=20)[e0] == pytest.approx(1.5 * base[e0], rel=1e-4)
    with pytest.raises(ValueError, match="0..167"):
        cal.edge_times(g, p, hour=168)
    with pytest.raises(ValueError, match="min_count"):
        cal.calibrate(g, obs, min_count=0)


def test_a_profile_applied_to_the_graph_moves_its_routes(murino, routing_cache, osm_dir) -> None:
    g = murino
    every = np.arange(g.edge_count)
    p = cal.calibrate(g, _obs(every, np.full(every.size, 9), 2.0, g), min_count=1)
    slow = cal.apply_profile(g, p, hour=9)
    assert slow.meta["speed_profile_hour"] == 9
    assert np.allclose(slow.edge_time_s, 2 * g.edge_time_s, rtol=1e-4)
    assert np.array_equal(slow.edge_speed_kmh, g.edge_speed_kmh)  # the tagged free-flow speed
    a, b = (60.0490, 30.4430), (60.0600, 30.4700)
    # edge times double, turn costs stay (a profile observes speeds on edges, not turns)
    r, r2 = g.route(a, b), slow.route(a, b)
    assert slow.edge_time_s[r2.edges].sum() <= r2.duration_s <= 2 * r.duration_s + 1e-6
    assert r2.duration_s > 1.5 * r.duration_s
    # the loader applies it on request and leaves the default path alone
    src = osm_dir / "murino_lo_osmnx.osm"
    loaded = load_graph(src, cache_dir=routing_cache, profile=p, profile_hour=9)
    assert np.allclose(loaded.edge_time_s, slow.edge_time_s)
    plain = load_graph(src, cache_dir=routing_cache)
    assert np.array_equal(plain.edge_time_s, g.edge_time_s) and "speed_profile" not in plain.meta


def test_hourly_graphs_build_each_distinct_hour_once_and_forget_the_oldest(murino) -> None:
    from routing.profiled import HourlyGraphs, graph_at, week_hour

    g = murino
    every = np.arange(g.edge_count)
    # Monday 09:00 twice as slow as modelled, Monday 20:00 as modelled; other hours: all-hours
    p = cal.calibrate(
        g,
        cal.concat([_obs(every, np.full(every.size, 9), 2.0, g),
                    _obs(every, np.full(every.size, 20), 1.0, g)]),
        min_count=1,
    )  # fmt: skip
    assert HourlyGraphs(g, None, timezone="Europe/Moscow").at(datetime.now(UTC)) is g
    built: list[int | None] = []

    class Built(SimpleNamespace):
        def warm_up(self):  # type: ignore[no-untyped-def]
            return self

    def load(profile, hour):  # type: ignore[no-untyped-def]
        built.append(hour)
        return Built(hour=hour)

    hg = HourlyGraphs(g, p, timezone="Europe/Moscow", load=load, max_graphs=2)
    mon = datetime(2026, 3, 16, 6, 30, tzinfo=UTC)  # Monday 09:30 Moscow
    assert week_hour(mon, hg.zone) == 9
    assert hg.at(mon).hour == 9 and hg.at(mon + timedelta(minutes=20)).hour == 9
    assert hg.at(mon + timedelta(hours=11)).hour == 20
    # hours without buckets of their own share the all-hours edge times: one graph for all
    night = hg.at(mon + timedelta(hours=18))  # Tuesday 03:30
    assert night is hg.at(mon + timedelta(days=3)) is hg.at(None)
    assert built == [9, 20, 27]
    assert hg.at(mon).hour == 9 and built == [9, 20, 27, 9]  # 9 was the oldest: rebuilt
    assert graph_at(hg, mon).hour == 9 and graph_at(g, mon) is g and graph_at(None, mon) is None

    # the default loader: the profile applied to the graph, the hierarchy contracted on it
    real = HourlyGraphs(g, p, timezone="Europe/Moscow")
    a, b = (60.0490, 30.4430), (60.0600, 30.4700)
    # edge times double, turn costs stay (a profile observes speeds on edges, not turns)
    slow, base = real.at(mon).route(a, b), g.route(a, b)
    assert real.at(mon).edge_time_s[slow.edges].sum() <= slow.duration_s
    assert 1.5 * base.duration_s < slow.duration_s <= 2 * base.duration_s + 1e-6
    assert real.snap([a[0]], [a[1]]).index[0] == g.snap([a[0]], [a[1]]).index[0]


def test_a_bucket_of_zero_length_edges_learns_no_speed() -> None:
    """Two zero-length edges (real on Porto) would pool to 0 km/h and break the profile."""
    from routing.calibration import _pool

    key = np.array([1, 1, 2, 2])
    length = np.array([0.0, 0.0, 50.0, 50.0])
    time_s = np.array([1.0, 1.0, 5.0, 5.0])
    keys, n, speed, _ = _pool(key, length, time_s, time_s, min_count=2)
    assert keys.tolist() == [2] and n.tolist() == [2]
    assert speed[0] == pytest.approx(36.0)
