"""Map matching (``routing.matching``) on the shared Murino and Heidelberg graphs: seeded
synthetic tracks along known routes (``routing.tracks``) with white GPS noise of 5 and 20 m,
one fix every 1 or 30 s, U-turns, stops, gaps, outliers, detours and bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import shapely

from routing import RoadGraph
from routing.matching import MatchedTrack, _ch_dist, _index, estimate_sigma_m, match_track
from routing.tracks import SyntheticTrack, drive, random_route
from tests.unit.conftest_routing import *  # noqa: F403 (session fixtures)


def _graph(request: pytest.FixtureRequest, name: str) -> RoadGraph:
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


def _track(g: RoadGraph, seed: int, *, sigma: float, interval: float, length_m: float):
    rng = np.random.default_rng(seed)
    edges = random_route(g, rng, min_length_m=length_m)
    return edges, drive(g, edges, rng, interval_s=interval, sigma_m=sigma)


def _fastest_track(g: RoadGraph, seed: int, *, sigma: float, interval: float, length_m: float):
    """A track along one fastest path of at least ``length_m`` (no waypoint, so no loop or
    turn-around that no taxi would drive)."""
    rng = np.random.default_rng(seed)
    h = g.hierarchy
    ws = h.workspace()
    for _ in range(1000):
        s, t = (int(x) for x in rng.integers(g.node_count, size=2))
        res = h.path(s, t, ws)
        if res is not None and g.edge_length_m[res.edges].sum() >= length_m:
            return res.edges, drive(g, res.edges, rng, interval_s=interval, sigma_m=sigma)
    raise AssertionError("no path that long")


def _on_truth_share(g: RoadGraph, m: MatchedTrack, true_edges: np.ndarray) -> float:
    """Share of the matched path's length on the true edges."""
    pe = np.concatenate(m.piece_edges)
    w = g.edge_length_m[pe]
    return float((w * np.isin(pe, true_edges)).sum() / w.sum())


def _truth_recall(g: RoadGraph, m: MatchedTrack, true_edges: np.ndarray) -> float:
    """Share of the true path's length that the matched path covers."""
    w = g.edge_length_m[true_edges]
    return float((w * np.isin(true_edges, np.concatenate(m.piece_edges))).sum() / w.sum())


def _utm(g: RoadGraph, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = _index(g).tr.transform(lon, lat)
    return np.asarray(x), np.asarray(y)


def _dist_to_edges_m(g: RoadGraph, lat, lon, edges) -> np.ndarray:
    x, y = _utm(g, lat, lon)
    path = shapely.union_all(_index(g).tree.geometries[edges])
    return np.asarray(shapely.distance(shapely.points(x, y), path))


# --- accuracy on known routes ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["murino", "heidelberg"])
@pytest.mark.parametrize("sigma", [5.0, 20.0])
@pytest.mark.parametrize("interval", [1.0, 30.0])
def test_matches_known_routes(request, name, sigma, interval):
    g = _graph(request, name)
    length = 2_500.0 if name == "murino" else 5_000.0
    for seed in (1, 2, 3):
        edges, tr = _fastest_track(g, seed, sigma=sigma, interval=interval, length_m=length)
        m = match_track(g, tr.lat, tr.lon, tr.t_s)
        assert len(m.pieces) == 1 and m.breaks == ()
        assert m.length_m == pytest.approx(tr.length_m, rel=0.03), (seed, m.length_m)
        assert _on_truth_share(g, m, edges) >= 0.9, seed
        assert _truth_recall(g, m, edges) >= 0.9, seed
        assert m.matched_count == tr.lat.shape[0]
        # per-fix offsets are the distances to the driven road, not to another one (they
        # differ near junctions, where the nearest true edge may be the next one)
        truth = _dist_to_edges_m(g, tr.lat, tr.lon, edges)
        err = np.abs(m.fix_offset_m - truth)
        assert np.mean(err < 1.0) >= 0.8, seed


@pytest.mark.parametrize("name", ["murino", "heidelberg"])
def test_time_correlated_noise(request, name):
    """A real receiver's error drifts (here a Gauss-Markov process, 30 s time constant):
    the track sits off the road to one side for a while, near a parallel street."""
    g = _graph(request, name)
    rng = np.random.default_rng(8)
    h = g.hierarchy
    ws = h.workspace()
    done = 0
    while done < 4:
        s, t = (int(x) for x in rng.integers(g.node_count, size=2))
        res = h.path(s, t, ws)
        if res is None or g.edge_length_m[res.edges].sum() < 2_500:
            continue
        for interval in (1.0, 10.0):
            tr = drive(g, res.edges, rng, interval_s=interval, sigma_m=20.0, correlation_s=30.0)
            m = match_track(g, tr.lat, tr.lon, tr.t_s)
            assert m.breaks == ()
            assert m.length_m == pytest.approx(tr.length_m, rel=0.04)
            assert _on_truth_share(g, m, res.edges) >= 0.9
        done += 1


@pytest.mark.parametrize("sigma", [5.0, 20.0])
def test_sigma_is_estimated_from_the_data(heidelberg, sigma):
    _, tr = _track(heidelberg, 7, sigma=sigma, interval=10.0, length_m=10_000.0)
    m = match_track(heidelberg, tr.lat, tr.lon, tr.t_s)
    assert 0.7 * sigma <= m.sigma_m <= 1.4 * sigma
    fixed = match_track(heidelberg, tr.lat, tr.lon, tr.t_s, sigma_m=12.5)
    assert fixed.sigma_m == 12.5


def test_estimate_sigma_is_mad_of_perpendicular_error():
    rng = np.random.default_rng(0)
    d = np.abs(rng.normal(0.0, 8.0, 20_000))
    assert estimate_sigma_m(d) == pytest.approx(8.0, rel=0.03)
    assert estimate_sigma_m(np.array([np.inf, np.nan])) == 2.0  # nothing near a road: floor


def test_fastest_path_distance_follows_a_detour(heidelberg):
    """The route distance is the length of the *fastest* path between candidates: a vehicle
    taking a much longer way round must still be matched along the way it drove."""
    g = heidelberg
    h = g.hierarchy
    ws = h.workspace()
    rng = np.random.default_rng(5)
    done = 0
    for _ in range(2000):
        s, w, t = (int(x) for x in rng.integers(g.node_count, size=3))
        direct = h.path(s, t, ws)
        a, b = h.path(s, w, ws), h.path(w, t, ws)
        if direct is None or a is None or b is None:
            continue
        edges = np.concatenate((a.edges, b.edges))
        detour_m = float(g.edge_length_m[edges].sum())
        direct_m = float(g.edge_length_m[direct.edges].sum())
        if not (1.5 * direct_m < detour_m < 12_000 and direct_m > 1_000):
            continue
        u, v = g.edge_u[edges], g.edge_v[edges]
        if np.any((u[1:] == v[:-1]) & (v[1:] == u[:-1])):
            continue  # a waypoint at the end of a spur: into it and straight out (as random_route)
        for interval in (1.0, 30.0):
            tr = drive(g, edges, np.random.default_rng(done), interval_s=interval, sigma_m=10.0)
            m = match_track(g, tr.lat, tr.lon, tr.t_s)
            assert m.length_m == pytest.approx(detour_m, rel=0.03)
            assert _truth_recall(g, m, edges) >= 0.9
        done += 1
        if done == 3:
            break
    assert done == 3


def test_u_turn(murino):
    """Out along a street and straight back: both directions are matched, no loop added."""
    g = murino
    h = g.hierarchy
    ws = h.workspace()
    rng = np.random.default_rng(3)
    for _ in range(100):
        s, t = (int(x) for x in rng.integers(g.node_count, size=2))
        out, back = h.path(s, t, ws), h.path(t, s, ws)
        if out is None or back is None:
            continue
        # the same streets both ways (two-way): the U-turn is at t
        if not np.array_equal(out.nodes, back.nodes[::-1]) or out.edges.size < 3:
            continue
        edges = np.concatenate((out.edges, back.edges))
        truth = float(g.edge_length_m[edges].sum())
        if truth < 1_500:
            continue
        for sigma, interval in ((5.0, 1.0), (20.0, 1.0), (5.0, 30.0)):
            tr = drive(g, edges, np.random.default_rng(1), interval_s=interval, sigma_m=sigma)
            m = match_track(g, tr.lat, tr.lon, tr.t_s)
            assert m.breaks == ()
            assert m.length_m == pytest.approx(truth, rel=0.05), (sigma, interval)
            got = set(np.concatenate(m.piece_edges).tolist())
            assert len(got & set(out.edges.tolist())) >= 0.8 * out.edges.size
            assert len(got & set(back.edges.tolist())) >= 0.8 * back.edges.size
        return
    pytest.fail("no two-way out-and-back route found")


def _with_stop(tr: SyntheticTrack, at: int, stop_s: int, sigma: float, seed: int):
    """The track with the vehicle standing ``stop_s`` seconds at fix ``at`` (1 Hz jitter)."""
    rng = np.random.default_rng(seed)
    k = stop_s
    lat = np.concatenate((tr.lat[:at], np.full(k, tr.lat[at]), tr.lat[at:]))
    lon = np.concatenate((tr.lon[:at], np.full(k, tr.lon[at]), tr.lon[at:]))
    # jitter in degrees (~sigma metres at 49-60 N)
    lat[at : at + k] += rng.normal(0, sigma / 111_000, k)
    lon[at : at + k] += rng.normal(0, sigma / 60_000, k)
    t = np.concatenate((tr.t_s[:at], tr.t_s[at] + np.arange(k), tr.t_s[at:] + k))
    return lat, lon, t


@pytest.mark.parametrize("sigma", [5.0, 20.0])
def test_stationary_jitter_is_not_movement(heidelberg, sigma):
    g = heidelberg
    edges, tr = _track(g, 11, sigma=sigma, interval=1.0, length_m=6_000.0)
    at = tr.lat.shape[0] // 2
    lat, lon, t = _with_stop(tr, at, 300, sigma, 4)  # five minutes standing
    m = match_track(g, lat, lon, t)
    assert m.breaks == ()  # standing is not a gap
    assert m.length_m == pytest.approx(tr.length_m, rel=0.03)
    stop = slice(at, at + 300)
    assert np.isfinite(m.fix_offset_m[stop]).all()
    x, y = _utm(g, m.fix_lat[stop], m.fix_lon[stop])
    # the matched points of the stop stay together (no wandering along the street)
    assert np.hypot(x - np.median(x), y - np.median(y)).max() < 4 * sigma


def test_gap_is_a_break_not_a_deviation(heidelberg):
    g = heidelberg
    edges, tr = _track(g, 21, sigma=5.0, interval=1.0, length_m=8_000.0)
    n = tr.lat.shape[0]
    cut = np.r_[0 : n // 3, n // 3 + 240 : n]  # four minutes without fixes
    m = match_track(g, tr.lat[cut], tr.lon[cut], tr.t_s[cut])
    assert len(m.pieces) == 2
    (b,) = m.breaks
    assert b.reason == "gap"
    assert (b.start_index, b.end_index) == (n // 3 - 1, n // 3)
    assert b.end_s - b.start_s == pytest.approx(241.0)
    assert (m.fix_piece[: n // 3] == 0).all() and (m.fix_piece[n // 3 :] == 1).all()
    # the missing stretch is not counted: the length is what the two pieces cover
    missing = tr.along_m[n // 3 + 240] - tr.along_m[n // 3 - 1]
    assert m.length_m == pytest.approx(tr.length_m - missing, rel=0.03)
    assert np.isnan(m.lat).sum() == 1  # one separator between the two pieces' geometry


def test_gap_threshold_is_a_parameter(heidelberg):
    _, tr = _track(heidelberg, 22, sigma=5.0, interval=30.0, length_m=6_000.0)
    assert match_track(heidelberg, tr.lat, tr.lon, tr.t_s).breaks == ()
    m = match_track(heidelberg, tr.lat, tr.lon, tr.t_s, max_gap_s=20.0)
    assert len(m.breaks) == tr.lat.shape[0] - 1 - int((np.diff(tr.t_s) <= 20.0).sum())
    assert {b.reason for b in m.breaks} == {"gap"}


def test_single_outlier_is_left_unmatched(heidelberg):
    g = heidelberg
    edges, tr = _track(g, 31, sigma=5.0, interval=10.0, length_m=8_000.0)
    lat, lon = tr.lat.copy(), tr.lon.copy()
    k = lat.shape[0] // 2
    # a fix on the same map but 3 km away, 10 s after the previous one: no road route fits
    far = np.argmax(np.hypot(g.node_lat - lat[k], g.node_lon - lon[k]))
    lat[k], lon[k] = g.node_lat[far], g.node_lon[far]
    m = match_track(g, lat, lon, tr.t_s)
    assert m.breaks == ()
    assert np.isnan(m.fix_offset_m[k]) and m.fix_edge[k] == -1
    assert m.matched_count == lat.shape[0] - 1
    assert m.length_m == pytest.approx(tr.length_m, rel=0.03)


def test_jump_without_route_splits_the_track(heidelberg):
    g = heidelberg
    _, a = _track(g, 41, sigma=5.0, interval=5.0, length_m=3_000.0)
    _, b = _track(g, 42, sigma=5.0, interval=5.0, length_m=3_000.0)
    lat = np.concatenate((a.lat, b.lat))
    lon = np.concatenate((a.lon, b.lon))
    t = np.concatenate((a.t_s, a.t_s[-1] + 5.0 + b.t_s))  # 5 s apart, kilometres apart
    gap = np.hypot(*(np.subtract(_utm(g, a.lat[-1:], a.lon[-1:]), _utm(g, b.lat[:1], b.lon[:1]))))
    if gap[0] < 1_000:
        pytest.skip("the two seeded routes happen to be close")
    m = match_track(g, lat, lon, t)
    assert [br.reason for br in m.breaks] == ["no_route"]
    # the first outliers of the second part are left out, the rest is a piece of its own
    assert m.breaks[0].start_index == a.lat.shape[0] - 1
    assert m.length_m < a.length_m + b.length_m


def test_off_road_stretch(murino):
    g = murino
    _, tr = _track(g, 51, sigma=5.0, interval=5.0, length_m=4_000.0)
    lat = tr.lat.copy()
    n = lat.shape[0]
    off = slice(n // 3, n // 3 + 40)  # 200 s far north of the map, then back
    lat[off] = g.bounds[2] + 0.05
    m = match_track(g, lat, tr.lon, tr.t_s)
    assert np.isnan(m.fix_offset_m[off]).all()
    assert [b.reason for b in m.breaks] == ["off_road"]
    assert m.breaks[0].start_index == n // 3 - 1 and m.breaks[0].end_index == n // 3 + 40


# --- output shape -----------------------------------------------------------------------------


def test_output_is_consistent(heidelberg):
    g = heidelberg
    edges, tr = _track(g, 61, sigma=10.0, interval=2.0, length_m=6_000.0)
    m = match_track(g, tr.lat, tr.lon, tr.t_s)
    n = tr.lat.shape[0]
    for arr in (m.fix_offset_m, m.fix_lat, m.fix_lon, m.fix_edge, m.fix_piece):
        assert arr.shape == (n,)
    for nodes, pe in zip(m.pieces, m.piece_edges, strict=True):
        assert nodes[0] == g.edge_u[pe[0]]
        assert np.array_equal(nodes[1:], g.edge_v[pe])
        assert np.array_equal(g.edge_u[pe[1:]], g.edge_v[pe[:-1]])  # a connected path
    assert set(m.fix_edge.tolist()) <= set(np.concatenate(m.piece_edges).tolist())
    # the offset is the distance from the fix to its matched point
    fx, fy = _utm(g, tr.lat, tr.lon)
    mx, my = _utm(g, m.fix_lat, m.fix_lon)
    assert np.allclose(np.hypot(fx - mx, fy - my), m.fix_offset_m, atol=0.01)
    # the geometry lies on the roads and its length is the matched length
    idx = _index(g)
    gx, gy = _utm(g, m.lat, m.lon)
    d = shapely.distance(shapely.points(gx, gy), idx.tree.geometries[
        idx.tree.query_nearest(shapely.points(gx, gy), all_matches=False)[1]
    ])  # fmt: skip
    assert d.max() < 0.05
    geo_len = float(np.hypot(np.diff(gx), np.diff(gy)).sum())
    assert geo_len == pytest.approx(m.length_m, rel=0.01)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.length_m = 0.0  # type: ignore[misc]
    again = match_track(g, tr.lat, tr.lon, tr.t_s)  # deterministic
    assert again.length_m == m.length_m
    assert np.array_equal(again.fix_edge, m.fix_edge)


def test_route_distance_kernel_is_the_fastest_paths_length(heidelberg):
    g = heidelberg
    idx = _index(g)
    packed, buf, _ = idx.scratch()
    rng = np.random.default_rng(9)
    src = rng.integers(g.node_count, size=20)
    dst = rng.integers(g.node_count, size=20)
    _, dist = g.hierarchy.table(src, dst)
    for i, s in enumerate(src):
        for j, t in enumerate(dst):
            assert _ch_dist(int(s), int(t), packed, buf, idx.e_d) == pytest.approx(dist[i, j])


# --- bad input ------------------------------------------------------------------------------


def test_bad_input(murino):
    g = murino
    with pytest.raises(ValueError, match="equal length"):
        match_track(g, [60.05, 60.06], [30.45], [0.0, 1.0])
    with pytest.raises(ValueError, match="non-decreasing"):
        match_track(g, [60.05, 60.05], [30.45, 30.45], [10.0, 5.0])
    with pytest.raises(ValueError, match="finite"):
        match_track(g, [60.05], [30.45], [np.nan])
    empty = match_track(g, [], [], [])
    assert empty.pieces == () and empty.length_m == 0.0 and empty.breaks == ()
    nowhere = match_track(g, [0.0, 0.0], [0.0, 0.0], [0.0, 1.0])
    assert nowhere.pieces == () and np.isnan(nowhere.fix_offset_m).all()


def test_invalid_fixes_are_unmatched_the_rest_matched(murino):
    g = murino
    _, tr = _track(g, 71, sigma=5.0, interval=5.0, length_m=3_000.0)
    lat, lon = tr.lat.copy(), tr.lon.copy()
    lat[5], lon[9], lat[12] = np.nan, np.inf, 95.0
    m = match_track(g, lat, lon, tr.t_s)
    assert m.fix_edge[[5, 9, 12]].tolist() == [-1, -1, -1]
    assert m.matched_count == lat.shape[0] - 3
    assert m.breaks == ()
    assert m.length_m == pytest.approx(tr.length_m, rel=0.03)


def test_single_fix_and_a_vehicle_that_never_moves(murino):
    g = murino
    la, lo = float(g.node_lat[10]), float(g.node_lon[10])
    one = match_track(g, [la], [lo], [0.0])
    assert len(one.pieces) == 1 and one.length_m == 0.0 and one.matched_count == 1
    rng = np.random.default_rng(2)
    lat = la + rng.normal(0, 5 / 111_000, 600)
    lon = lo + rng.normal(0, 5 / 55_000, 600)
    still = match_track(g, lat, lon, np.arange(600.0))  # ten minutes parked, 5 m jitter
    assert still.breaks == () and still.matched_count == 600
    assert still.length_m < 50.0  # jitter across the junction it stands at, not a trip
