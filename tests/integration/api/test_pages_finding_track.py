"""The finding page's track (server side): the trip's fixes raw and matched by the audit's
matcher, embedded in the page; a trip whose fixes are gone still shows its finding."""

from __future__ import annotations

import json
import re

import psycopg
import pytest

from tests.integration.test_audit_store import add_trip, batch, due_copay, make_world

pytestmark = pytest.mark.integration


def _map_data(api, finding_id: int) -> dict:
    r = api.client.get(
        f"/controller/findings/{finding_id}",
        headers={"Cookie": f"socialtaxi_session={api.tokens['controller']}"},
    )
    assert r.status_code == 200, r.text[:300]
    m = re.search(r'<script type="application/json" id="finding-json">(.*?)</script>', r.text, re.S)
    assert m is not None
    return json.loads(m.group(1))


def test_the_page_carries_the_raw_and_the_matched_track(api, rules):
    with psycopg.connect(api.db_url, autocommit=True) as conn:
        w = make_world(conn)
        trip = add_trip(conn, w, detour_m=1500, payment_kop=due_copay(rules))
        start, end = conn.execute(
            "SELECT started_at, completed_at FROM trips WHERE id = %s", (trip,)
        ).fetchone()
        fixes = conn.execute(
            "SELECT count(*) FROM vehicle_positions WHERE vehicle_id = %s AND ts BETWEEN %s AND %s",
            (w.vehicle_id, start, end),
        ).fetchone()[0]
    batch(api.db_url, rules)
    with psycopg.connect(api.db_url) as conn:
        finding = conn.execute(
            "SELECT id FROM audit_findings WHERE trip_id = %s AND rule = 'route_deviation'",
            (trip,),
        ).fetchone()[0]
    track = _map_data(api, finding)["track"]
    raw = track["raw"]
    assert len(raw["t"]) == len(raw["lat"]) == len(raw["speed_kmh"]) == fixes > 100
    assert raw["t"][0] == 0.0 and raw["t"] == sorted(raw["t"])
    assert track["start"] == 0.0 and 0 < track["board"] < track["end"] == raw["t"][-1]
    parts = {p["part"]: p for p in track["matched"]}
    assert set(parts) == {"approach", "passenger"}
    assert parts["passenger"]["points"] >= 2 and parts["passenger"]["length_m"] > 0
    assert parts["passenger"]["fixes"] + parts["approach"]["fixes"] >= fixes

    # the fixes gone (retention): the finding still opens, with no track and no match
    with psycopg.connect(api.db_url, autocommit=True) as conn:
        conn.execute("DELETE FROM vehicle_positions WHERE vehicle_id = %s", (w.vehicle_id,))
    gone = _map_data(api, finding)["track"]
    assert gone["raw"]["t"] == [] and gone["matched"] == []
