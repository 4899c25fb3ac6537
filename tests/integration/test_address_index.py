"""The offline address index against real PostgreSQL: import from the shared OSM maps, search
with abbreviations, ё/е and typos, re-import, the CLI and the API endpoint."""

from __future__ import annotations

import psycopg
import pytest
from typer.testing import CliRunner

from routing.address_store import import_addresses, search_addresses
from routing.errors import AddressError


@pytest.fixture
def conn(db_url):
    with psycopg.connect(db_url) as c:
        yield c


def test_spb_map_addresses_found_from_operator_spelling(conn, shared_data):
    n = import_addresses(conn, shared_data / "osm" / "spb_nevsky_center.osm")
    conn.commit()
    assert n > 80
    # OSM: «набережная канала Грибоедова, 28/1А»; typed with «наб.», a typo and the house part.
    top = search_addresses(conn, query="наб. канала Грибедова, д. 28/1 А")[0]
    assert top.kind == "house" and top.label.startswith("набережная канала Грибоедова, 28/1А")
    assert 59.9 < top.lat < 60.0 and 30.3 < top.lon < 30.4
    # «Садовая улица, 28» typed as «ул. Садовая 28»; a street without a number gives the street.
    assert search_addresses(conn, query="ул. Садовая 28")[0].label.startswith("Садовая улица, 28")
    assert search_addresses(conn, query="Садовая ул.")[0].kind == "street"
    # A house number the map does not have: the street, never another house.
    top = search_addresses(conn, query="ул. Садовая, 999")[0]
    assert top.kind == "street" and top.label == "Садовая улица"


def test_moscow_yo_and_building_parts(conn, shared_data):
    import_addresses(conn, shared_data / "osm" / "moscow_center.osm.gz")
    conn.commit()
    top = search_addresses(conn, query="Москва, ул. Добролюбова, 27А стр. 1")[0]
    assert top.label == "улица Добролюбова, 27А с1, Москва"


def test_reimport_replaces_the_map_rows(conn, shared_data):
    path = shared_data / "osm" / "spb_nevsky_center.osm"
    first = import_addresses(conn, path)
    again = import_addresses(conn, path)
    count = conn.execute("SELECT count(*) FROM addresses").fetchone()[0]
    assert first == again == count


def test_murino_osmnx_map_has_streets_but_no_houses(conn, shared_data):
    import_addresses(conn, shared_data / "osm" / "murino_lo_osmnx.osm")
    kinds = dict(conn.execute("SELECT kind, count(*) FROM addresses GROUP BY kind").fetchall())
    assert kinds.get("house") is None and kinds["street"] > 10
    assert search_addresses(conn, query="Токсовское ш.")[0].label == "Токсовское шоссе"


def test_a_query_without_words_is_refused(conn):
    with pytest.raises(AddressError) as exc:
        search_addresses(conn, query="27")
    assert "улицу или населённый пункт" in exc.value.message


def test_map_import_loads_addresses(db_url, shared_data, tmp_path, monkeypatch):
    from config.settings import get_settings
    from socialtaxi.cli import app

    monkeypatch.setenv("SOCIALTAXI_DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        res = CliRunner().invoke(
            app,
            ["map", "import", str(shared_data / "osm" / "moscow_center.osm.gz"),
             "--cache-dir", str(tmp_path)],
        )  # fmt: skip
    finally:
        get_settings.cache_clear()
    assert res.exit_code == 0, res.output
    assert "Адресов загружено в поиск" in res.output
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT count(*) FROM addresses").fetchone()[0] > 300
