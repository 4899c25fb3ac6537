"""Graph import from every shared OSM format, the strongly connected result and the cache."""

from __future__ import annotations

import bz2
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from routing import GraphImportError, RoadGraph, SpeedDefaults, import_graph, load_graph
from routing.store import cache_key, cache_path, read_graph
from tests.unit.conftest_routing import *  # noqa: F403 (session fixtures)


def _strongly_connected(g: RoadGraph) -> bool:
    adj = sp.csr_matrix(
        (np.ones(g.edge_count), (g.edge_u, g.edge_v)), shape=(g.node_count, g.node_count)
    )
    return connected_components(adj, directed=True, connection="strong")[0] == 1


def _sane(g: RoadGraph, *, min_nodes: int, box: tuple[float, float, float, float]) -> None:
    assert g.node_count >= min_nodes
    assert g.edge_count >= g.node_count
    assert _strongly_connected(g)
    lat0, lon0, lat1, lon1 = g.bounds
    assert box[0] <= lat0 < lat1 <= box[2] and box[1] <= lon0 < lon1 <= box[3]
    assert np.all(g.edge_time_s > 0) and np.all(np.isfinite(g.edge_time_s))
    assert np.all(g.edge_length_m > 0)
    # geometry of every edge starts at its tail and ends at its head
    first = g.geom_ptr[:-1]
    last = g.geom_ptr[1:] - 1
    assert np.allclose(g.geom_lon[first], g.node_lon[g.edge_u], atol=1e-6)
    assert np.allclose(g.geom_lat[last], g.node_lat[g.edge_v], atol=1e-6)


def test_osmnx_export_with_nan_tags(murino):
    # the README counts 686 nodes in osmnx's drive graph (before taking the strong component)
    _sane(murino, min_nodes=600, box=(60.03, 30.43, 60.07, 30.49))
    assert murino.node_count <= 700
    speeds = dict(zip(murino.edge_class.tolist(), murino.edge_speed_kmh.tolist(), strict=False))
    assert speeds["living_street"] == 20


def test_plain_osm_xml(osm_dir, routing_cache):
    g = load_graph(osm_dir / "spb_nevsky_center.osm", cache_dir=routing_cache)
    _sane(g, min_nodes=50, box=(59.92, 30.30, 59.95, 30.35))
    # footways of the Nevsky extract are not part of the drivable graph
    assert "footway" not in set(g.edge_class.tolist())


def test_gzip_osm(osm_dir, routing_cache):
    g = load_graph(osm_dir / "moscow_center.osm.gz", cache_dir=routing_cache)
    _sane(g, min_nodes=300, box=(55.79, 37.57, 55.84, 37.65))


def test_pbf(heidelberg):
    _sane(heidelberg, min_nodes=5000, box=(49.3, 8.5, 49.6, 9.2))


def test_bz2_and_osm_xml_suffix_give_the_same_graph(osm_dir, tmp_path, murino):
    raw = (osm_dir / "murino_lo_osmnx.osm").read_bytes()
    (tmp_path / "m.osm.bz2").write_bytes(bz2.compress(raw))
    shutil.copy(osm_dir / "murino_lo_osmnx.osm", tmp_path / "m.osm.xml")
    for name in ("m.osm.bz2", "m.osm.xml"):
        g = load_graph(tmp_path / name, cache_dir=tmp_path / "cache")
        assert g.node_count == murino.node_count and g.edge_count == murino.edge_count
        assert np.array_equal(np.sort(g.node_id), np.sort(murino.node_id))


def test_errors(tmp_path):
    with pytest.raises(GraphImportError) as exc:
        load_graph(tmp_path / "missing.osm", cache_dir=tmp_path)
    assert exc.value.message == "Не удалось загрузить дорожный граф"
    (tmp_path / "a.shp").write_text("x")
    with pytest.raises(GraphImportError, match="unsupported"):
        load_graph(tmp_path / "a.shp", cache_dir=tmp_path)
    (tmp_path / "b.osm").write_text("<osm version='0.6'><node id='1' lat='0' lon='0'/></osm>")
    with pytest.raises(GraphImportError, match="no drivable"):
        load_graph(tmp_path / "b.osm", cache_dir=tmp_path)
    (tmp_path / "c.osm").write_text("this is not xml")
    with pytest.raises(GraphImportError):
        load_graph(tmp_path / "c.osm", cache_dir=tmp_path)


def test_cache_round_trip_and_key(osm_dir, tmp_path, monkeypatch):
    src = tmp_path / "murino.osm"
    shutil.copy(osm_dir / "murino_lo_osmnx.osm", src)
    cache = tmp_path / "cache"
    built = load_graph(src, cache_dir=cache)
    files = list(cache.glob("*.graph.npz"))
    assert len(files) == 1 and Path(built.meta["cache_path"]) == files[0]

    # a second load reads the cache: no import, no contraction
    import routing.store as store

    def no_build(*a, **k):
        raise AssertionError("rebuilt instead of loading the cache")

    monkeypatch.setattr(store, "build_graph", no_build)
    again = load_graph(src, cache_dir=cache)
    for name, arr in built.arrays().items():
        assert np.array_equal(arr, getattr(again, name)), name
    for name, arr in built.hierarchy.arrays().items():
        assert np.array_equal(arr, getattr(again.hierarchy, name)), name
    assert again.route((60.045, 30.445), (60.062, 30.475)).duration_s == pytest.approx(
        built.route((60.045, 30.445), (60.062, 30.475)).duration_s
    )
    assert read_graph(files[0]).node_count == built.node_count
    assert load_graph(files[0]).edge_count == built.edge_count  # a cache file loads directly
    monkeypatch.undo()

    # other speeds or other file content -> another cache entry
    slow = SpeedDefaults(urban_kmh=40)
    assert cache_key("d", slow) != cache_key("d", SpeedDefaults())
    assert cache_key("d1", slow) != cache_key("d2", slow)
    assert cache_key("d", slow, "drive") != cache_key("d", slow, "drive_service")
    g_slow = load_graph(src, cache_dir=cache, speeds=slow)
    assert len(list(cache.glob("*.graph.npz"))) == 2
    assert g_slow.edge_time_s.sum() > built.edge_time_s.sum()
    src.write_bytes(src.read_bytes().replace(b'v="RU:urban"', b'v="30"'))
    changed = load_graph(src, cache_dir=cache)
    assert len(list(cache.glob("*.graph.npz"))) == 3
    assert changed.edge_time_s.sum() > built.edge_time_s.sum()


def test_import_graph_rewrites_the_cache(osm_dir, tmp_path):
    g = import_graph(osm_dir / "moscow_center.osm.gz", cache_dir=tmp_path, network_type="drive")
    path = Path(g.meta["cache_path"])
    assert path.is_file() and g.meta["network_type"] == "drive"
    assert "service" not in set(g.edge_class.tolist())
    assert cache_path(osm_dir / "moscow_center.osm.gz", tmp_path, "k").name.startswith("moscow")


@pytest.mark.filterwarnings("ignore::Warning")  # pandas deprecations inside osmnx's XML writer
def test_fetch_saves_osm_xml_that_imports_offline(osm_dir, tmp_path, monkeypatch):
    """The download path minus the download: osmnx's graph_from_place is replaced by a local
    build, the rest (save as OSM XML, import, cache) runs for real."""
    import osmnx as ox

    from routing import _io

    def fake_graph_from_place(place, *, network_type, simplify, retain_all):
        assert place == "Гатчинский район, Ленинградская область"
        assert network_type == "drive_service" and simplify is False
        return ox.graph_from_xml(osm_dir / "moscow_center.osm.gz", simplify=False)

    monkeypatch.setattr(ox, "graph_from_place", fake_graph_from_place)
    dst = _io.fetch_place("Гатчинский район, Ленинградская область", tmp_path / "g.osm")
    assert dst.is_file() and ox.settings.all_oneway is False
    g = import_graph(dst, cache_dir=tmp_path / "cache")
    assert g.node_count > 300 and _strongly_connected(g)
