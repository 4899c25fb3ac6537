"""``GET /api/v1/addresses/search``: the offline address index through the API."""

from __future__ import annotations

import psycopg

from routing.address_store import import_addresses


def test_api_address_search(api, shared_data):
    with psycopg.connect(api.db_url) as c:
        import_addresses(c, shared_data / "osm" / "spb_nevsky_center.osm")
    hits = api.ok("GET", "addresses/search", params={"q": "ул Садовая д 28"}, role="operator")
    assert hits[0]["label"].startswith("Садовая улица, 28") and hits[0]["kind"] == "house"
    r = api.get("addresses/search", params={"q": "12"}, role="operator")
    assert r.status_code == 422 and "улицу" in r.json()["detail"]
    assert api.get("addresses/search", params={"q": "Садовая"}, role=None).status_code == 401
