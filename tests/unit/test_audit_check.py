"""``socialtaxi audit check``: scenario files and GPX tracks in, findings as JSON lines out;
a malformed file is one clear line."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import orjson
import pytest
from typer.testing import CliRunner

from audit.scenario import ScenarioError, parse_file
from socialtaxi.cli import app
from tests.unit.test_audit_rules import CLINIC, LAT0, LON0, M_LAT, PLAN_M, drive

BOOKED = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # in the past: fixes are not "future"


def scenario(*, detour_m: float = 1500.0, extra_trip: dict | None = None) -> dict:
    track, moments, _ = drive(detour_m=detour_m, booked=BOOKED)

    def iso(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).isoformat()

    trip = {
        "id": 1,
        "passenger_id": 1,
        "vehicle_id": "sim-001",
        "category": "disabled_1",
        "vehicle_type": "car",
        "pickup": {"lat": LAT0, "lon": LON0},
        "destination_object_id": 1,
        "destination": {"lat": CLINIC.lat, "lon": CLINIC.lon},
        "pickup_time": BOOKED.isoformat(),
        "planned": {
            "distance_m": PLAN_M,
            "duration_s": 300.0,
            "geometry": [[LAT0, LON0], [LAT0 + PLAN_M * M_LAT, LON0]],
        },
        "fare_kop": 31600,
        "co_payment_due_kop": 7900,
        "quota_override": False,
        "final_status": "completed",
        "events": [
            {"type": "en_route", "ts": iso(moments["start"]), "trip_id": 1, "id": "e1"},
            {"type": "arrived_at_pickup", "ts": iso(moments["arrived"]), "trip_id": 1},
            {"type": "passenger_on_board", "ts": iso(moments["board"]), "trip_id": 1},
            {
                "type": "payment_collected",
                "ts": iso(moments["end"]),
                "trip_id": 1,
                "amount_kop": 7900,
                "method": "cash",
            },
            {"type": "trip_completed", "ts": iso(moments["end"] + 1), "trip_id": 1},
        ],
        "fixes": [
            {"ts": int(t * 1000), "lat": float(a), "lon": float(b)}
            for t, a, b in zip(track.t_s, track.lat, track.lon, strict=True)
        ],
        "kind": "detour",
        "truth": {"route_deviation": True},
    }
    doc = {
        "schema": "socialtaxi.scenario/1",
        "timezone": "Europe/Moscow",
        "social_objects": [
            {
                "id": 1,
                "name": "Поликлиника",
                "type": "medical",
                "lat": CLINIC.lat,
                "lon": CLINIC.lon,
                "geofence_m": 150,
            }
        ],  # fmt: skip
        "passengers": [{"id": 1, "categories": ["disabled_1"], "wheelchair": False}],
        "vehicles": [{"id": "sim-001", "type": "car"}],
        "trips": [trip] + ([extra_trip] if extra_trip else []),
    }
    return doc


@pytest.fixture(autouse=True)
def _fresh_settings():
    from config.settings import get_settings

    yield
    get_settings.cache_clear()  # leave no settings cached from this test's environment


def check(tmp_path, content: bytes | str, *extra: str):
    from config.settings import get_settings

    get_settings.cache_clear()  # the command reads the settings; the test set the environment
    path = tmp_path / "input"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return CliRunner().invoke(app, ["audit", "check", str(path), *extra])


def test_check_prints_findings_as_json_lines(tmp_path, monkeypatch):
    monkeypatch.setenv("SOCIALTAXI_MAP_SOURCE", "")
    res = check(tmp_path, orjson.dumps(scenario()), "--notes")
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    findings = [x for x in lines if "rule" in x and "note" not in x]
    assert [f["rule"] for f in findings] == ["route_deviation"]
    assert findings[0]["trip_id"] == 1 and findings[0]["geometry"]["type"] == "FeatureCollection"
    notes = [x["note"] for x in lines if "note" in x]
    assert "no_matched_track" in notes  # no map given: the corridor alone decided
    clean = check(tmp_path, orjson.dumps(scenario(detour_m=0)))
    assert clean.exit_code == 0 and clean.stdout == ""


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"schema": "other/2", "trips": []}', "schema: expected 'socialtaxi.scenario/1'"),
        (b'{"schema": "socialtaxi.scenario/1", "trips": []}', "trips: List should have"),
        (
            orjson.dumps(
                scenario()
                | {"trips": [scenario()["trips"][0] | {"pickup_time": "2027-03-02T09:00"}]}
            ),
            "trips.0.pickup_time",
        ),
        (b"<gpx><trk><trkseg></trkseg></trk></gpx>", "no track points"),
        (b"<gpx><trk><trkseg><trkpt lat='60' lon='30'/></trkseg></trk></gpx>", "no <time>"),
        (b"<gpx <<", "not a GPX file"),
    ],
)
def test_malformed_file_is_one_clear_line(tmp_path, monkeypatch, content, says):
    monkeypatch.setenv("SOCIALTAXI_MAP_SOURCE", "")
    res = check(tmp_path, content)
    assert res.exit_code == 2
    err = res.stderr.strip().splitlines()
    assert len(err) == 2 and err[0].startswith("Внимание: карта не задана")
    assert says in err[1] and err[1].startswith("Ошибка: ")
    with pytest.raises(ScenarioError):
        parse_file(content)


def test_bad_fixes_and_events_are_noted_not_fatal():
    doc = scenario()
    trip = doc["trips"][0]
    trip["fixes"].append({"ts": "yesterday", "lat": 60.0, "lon": 30.0})
    trip["events"].append({"type": "teleported", "ts": trip["events"][0]["ts"], "trip_id": 1})
    parsed = parse_file(orjson.dumps(doc))
    codes = [n.code for n in parsed.notes]
    assert codes == ["bad_fixes", "bad_event"]
    assert len(parsed.trips[0].facts.fixes) == len(trip["fixes"]) - 1


def test_quota_counts_other_trips_of_the_file():
    doc = scenario(detour_m=0)
    base = doc["trips"][0]
    others = [
        base | {"id": 10 + i, "pickup_time": BOOKED.replace(day=1 + i).isoformat()}
        for i in range(4)
    ]
    doc["trips"] += others
    parsed = parse_file(orjson.dumps(doc))
    first = next(t for t in parsed.trips if t.facts.trip_id == 1)
    assert len(first.facts.prior_trips) == 4
    assert {p.object_type for p in first.facts.prior_trips} == {"medical"}


def test_gpx_track(tmp_path, monkeypatch):
    monkeypatch.setenv("SOCIALTAXI_MAP_SOURCE", "")
    track, _, _ = drive(booked=BOOKED)
    pts = "".join(
        f'<trkpt lat="{a:.7f}" lon="{b:.7f}"><time>'
        f"{datetime.fromtimestamp(t, UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}</time></trkpt>"
        for t, a, b in zip(track.t_s, track.lat, track.lon, strict=True)
    )
    gpx = (
        '<?xml version="1.0"?><gpx version="1.1" creator="t" '
        'xmlns="http://www.topografix.com/GPX/1/1"><trk><name>t</name><trkseg>'
        f"{pts}</trkseg></trk></gpx>"
    )
    parsed = parse_file(gpx.encode())
    assert parsed.kind == "gpx" and len(parsed.trips[0].facts.fixes) == len(track)
    res = check(tmp_path, gpx, "--notes")
    assert res.exit_code == 0, res.output
    notes = [json.loads(x) for x in res.stdout.splitlines()]
    # no map: no plan can be routed for a bare track, and the run log says so
    assert "missing_plan" in [n.get("note") for n in notes]
