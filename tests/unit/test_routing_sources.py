"""Map sources: a file, or a place name downloaded once (the download is replaced offline)."""

import shutil

import pytest

from routing import _io
from routing.errors import GraphImportError
from routing.sources import is_file_source, load_map_source, place_download_path


def test_file_or_place():
    assert is_file_source("region.osm.pbf")
    assert is_file_source("/data/maps/murino.osm")
    assert not is_file_source("Гатчинский район, Ленинградская область")


def test_place_is_downloaded_once_then_cached(tmp_path, shared_data, monkeypatch):
    calls = []

    def fake_fetch(place, dst, **_):
        calls.append(place)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shared_data / "osm" / "murino_lo_osmnx.osm", dst)
        return dst

    monkeypatch.setattr(_io, "fetch_place", fake_fetch)
    place = "Мурино, Ленинградская область"
    g1 = load_map_source(place, cache_dir=tmp_path)
    g2 = load_map_source(place, cache_dir=tmp_path)
    assert calls == [place]  # the second start loads the download and the cached graph
    assert g1.node_count == g2.node_count > 500
    assert place_download_path(place, tmp_path).is_file()


def test_offline_place_fails_clearly(tmp_path, monkeypatch):
    def offline(place, dst, **_):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(_io, "fetch_place", offline)
    with pytest.raises(GraphImportError, match="could not download"):
        load_map_source("Гатчина", cache_dir=tmp_path)
    with pytest.raises(GraphImportError):
        load_map_source(str(tmp_path / "missing.osm"), cache_dir=tmp_path)
