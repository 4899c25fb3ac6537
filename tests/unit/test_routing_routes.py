"""Snapping, routes (geometry, length, ETA, GeoJSON) and matrices on the Murino graph."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from routing import Matrix, NoRoute, OutOfServiceArea, RoadGraph, Route, RoutingError
from routing.paths import path_coords
from tests.unit.conftest_routing import *  # noqa: F403 (session fixtures)

A = (60.0455, 30.4452)  # (lat, lon) in Murino
B = (60.0453, 30.4834)


def _utm_length_m(line) -> float:
    tr = Transformer.from_crs(4326, 32636, always_xy=True)
    xy = shapely.get_coordinates(line)
    x, y = tr.transform(xy[:, 0], xy[:, 1])
    return float(np.hypot(np.diff(x), np.diff(y)).sum())


def _dist_m(lat1, lon1, lat2, lon2) -> float:
    tr = Transformer.from_crs(4326, 32636, always_xy=True)
    x1, y1 = tr.transform(lon1, lat1)
    x2, y2 = tr.transform(lon2, lat2)
    return float(np.hypot(x1 - x2, y1 - y2))


def test_snap_is_vectorised_and_measures_metres(murino: RoadGraph):
    # points exactly on nodes snap to those nodes at ~0 m
    idx = np.array([0, 10, 100, 200])
    s = murino.snap(murino.node_lat[idx], murino.node_lon[idx])
    assert s.node.shape == (4,) and s.dist_m.shape == (4,)
    assert np.all(s.dist_m < 0.5)
    assert np.all(s.node_dist_m < 0.5) and np.array_equal(s.node, murino.node_id[idx])
    # ~100 m north of a node: distance to the road is at most that
    lat = murino.node_lat[idx] + 100 / 111_195
    s2 = murino.snap(lat, murino.node_lon[idx])
    assert np.all(s2.dist_m <= 101) and np.all(s2.dist_m >= 0)
    assert np.all(s2.node_dist_m >= s2.dist_m - 1e-6)
    # scalars work too
    assert murino.snap(A[0], A[1]).node.shape == (1,)


def test_snap_refuses_points_outside_the_service_area(murino: RoadGraph):
    lat = np.array([A[0], 60.30, B[0], 59.0])
    lon = np.array([A[1], 30.45, B[1], 30.45])
    with pytest.raises(OutOfServiceArea) as exc:
        murino.snap(lat, lon)
    err = exc.value
    assert isinstance(err, RoutingError)
    assert err.message == "Адрес вне зоны обслуживания"
    assert err.indices == [1, 3] and err.index == 1
    assert all(d > 500 for d in err.dist_m)
    assert "[1, 3]" in str(err)
    # the limit is configurable
    far = (A[0] + 300 / 111_195, A[1] + 0.02)
    d = float(murino.snap(*far, max_dist_m=10_000).dist_m[0])
    with pytest.raises(OutOfServiceArea):
        murino.snap(*far, max_dist_m=d - 1)
    assert murino.snap(*far, max_dist_m=d + 1).dist_m[0] == pytest.approx(d)


def test_snap_refuses_invalid_coordinates(murino: RoadGraph):
    with pytest.raises(OutOfServiceArea) as exc:
        murino.snap([np.nan, A[0], 95.0], [A[1], A[1], A[1]])
    assert exc.value.indices == [0, 2]


def test_route_geometry_length_and_eta(murino: RoadGraph):
    r = murino.route(A, B)
    assert isinstance(r, Route)
    snapped = murino.snap([A[0], B[0]], [A[1], B[1]])
    assert r.nodes[0] == snapped.node[0] and r.nodes[-1] == snapped.node[1]
    assert len(r.nodes) == len(set(r.nodes))  # a fastest path has no loops
    # geometry starts and ends at the snapped nodes (lon, lat order)
    start, end = shapely.get_coordinates(r.geometry)[[0, -1]]
    i0, i1 = snapped.index
    assert start == pytest.approx([murino.node_lon[i0], murino.node_lat[i0]], abs=1e-7)
    assert end == pytest.approx([murino.node_lon[i1], murino.node_lat[i1]], abs=1e-7)
    # the line follows the roads: its metric length equals dist_m, which exceeds the crow-fly
    assert _utm_length_m(r.geometry) == pytest.approx(r.dist_m, rel=0.01)
    assert r.dist_m > _dist_m(*A, *B) * 0.9
    assert 0 < r.duration_s < r.dist_m / (20 / 3.6)  # faster than 20 km/h on average
    # the edges' times plus the turns between them (the turn-aware hierarchy)
    assert r.duration_s == pytest.approx(murino.travel_time(int(i0), int(i1)))
    assert r.duration_s > murino.edge_time_s[r.edges].sum()
    # ETA keeps the time zone of the departure
    msk = timezone(timedelta(hours=3))
    depart = datetime(2026, 3, 2, 9, 0, tzinfo=msk)
    assert r.eta(depart) == depart + timedelta(seconds=r.duration_s)
    assert r.eta(depart).utcoffset() == timedelta(hours=3)
    with pytest.raises(ValueError):
        r.eta(datetime(2026, 3, 2, 9, 0))


def test_route_geojson_feature(murino: RoadGraph):
    r = murino.route(A, B)
    f = r.to_geojson()
    json.dumps(f)  # plain JSON types only
    assert f["type"] == "Feature" and f["geometry"]["type"] == "LineString"
    assert f["properties"]["dist_m"] == pytest.approx(r.dist_m, abs=0.1)
    assert f["properties"]["duration_s"] == pytest.approx(r.duration_s, abs=0.1)
    lon, lat = f["geometry"]["coordinates"][0]
    assert 30.4 < lon < 30.5 and 60.0 < lat < 60.1


def test_route_to_the_same_place_is_empty(murino: RoadGraph):
    r = murino.route(A, A)
    assert r.dist_m == 0 and r.duration_s == 0 and len(r.nodes) == 1
    assert r.eta(datetime(2026, 1, 1, tzinfo=UTC)) == datetime(2026, 1, 1, tzinfo=UTC)


def test_route_refuses_far_points_with_their_index(murino: RoadGraph):
    with pytest.raises(OutOfServiceArea) as exc:
        murino.route(A, (61.0, 31.0))
    assert exc.value.indices == [1]


def test_no_route_is_a_routing_error(murino: RoadGraph):
    err = NoRoute(1, 2)
    assert isinstance(err, RoutingError) and err.message.startswith("Маршрут")


def test_matrix_equals_individual_routes(murino: RoadGraph):
    rng = np.random.default_rng(5)
    o = rng.choice(murino.node_count, 6, replace=False)
    d = rng.choice(murino.node_count, 9, replace=False)
    m = murino.matrix(
        murino.node_lat[o], murino.node_lon[o], murino.node_lat[d], murino.node_lon[d]
    )
    assert isinstance(m, Matrix) and m.shape == (6, 9)
    assert np.array_equal(m.orig_node, murino.node_id[o])
    for i, oi in enumerate(o):
        for j, dj in enumerate(d):
            r = murino.route_nodes(int(oi), int(dj))
            assert m.duration_s[i, j] == pytest.approx(r.duration_s, rel=1e-9)
            assert m.dist_m[i, j] == pytest.approx(r.dist_m, rel=1e-6)


def test_matrix_refusal_indices_count_origins_first(murino: RoadGraph):
    with pytest.raises(OutOfServiceArea) as exc:
        murino.matrix([A[0], A[0]], [A[1], A[1]], [B[0], 62.0], [B[1], 30.0])
    assert exc.value.indices == [3]


def test_path_coords_drops_the_shared_joints():
    ptr = np.array([0, 2, 5])
    lon = np.array([0.0, 1.0, 1.0, 1.5, 2.0])
    lat = np.array([0.0, 0.0, 0.0, 0.5, 0.0])
    xy = path_coords(np.array([0, 1]), ptr, lon, lat)
    assert xy.tolist() == [[0, 0], [1, 0], [1.5, 0.5], [2, 0]]
    assert path_coords(np.array([], np.int64), ptr, lon, lat).shape == (0, 2)


def test_graph_facts(murino: RoadGraph):
    assert murino.warm_up() is murino
    lat0, lon0, lat1, lon1 = murino.bounds
    assert lat0 < A[0] < lat1 and lon0 < A[1] < lon1
    assert murino.node_count == murino.node_id.size and murino.edge_count == murino.edge_u.size
    assert murino.utm_epsg == 32636
    assert murino.nbytes > 0
    assert np.array_equal(murino.node_index(murino.node_id[[5, 3]]), [5, 3])
    with pytest.raises(KeyError):
        murino.node_index([-1])


def test_concurrent_queries_from_threads_agree(murino: RoadGraph):
    """Web handlers run in a thread pool: each thread gets its own search scratch space."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(9)
    pairs = rng.integers(0, murino.node_count, size=(400, 2)).tolist()
    expected = [murino.fastest_path(s, t) for s, t in pairs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda p: murino.fastest_path(*p), pairs))
    assert got == expected


def test_fastest_path_is_the_route_without_geometry(murino: RoadGraph):
    rng = np.random.default_rng(13)
    for s, t in rng.integers(0, murino.node_count, size=(200, 2)):
        cost, nodes = murino.fastest_path(s, t)  # numpy integers are accepted
        r = murino.route_nodes(int(s), int(t))
        assert cost == murino.travel_time(int(s), int(t)) == pytest.approx(r.duration_s, rel=1e-12)
        assert nodes == r.nodes
        assert all(type(x) is int for x in nodes)


@pytest.mark.parametrize("bad", [(-1, 0), (0, -1), (10**6, 0), (0, 10**6)])
def test_node_indices_out_of_range_are_refused(murino: RoadGraph, bad: tuple[int, int]):
    s, t = bad
    with pytest.raises(IndexError):
        murino.fastest_path(s, t)
    with pytest.raises(IndexError):
        murino.travel_time(s, t)
    with pytest.raises(IndexError):
        murino.route_nodes(s, t)
