"""Decoders against recorded frames (native contract examples of docs/telemetry.md, OwnTracks
frames shaped as the OwnTracks app publishes them) and against broken ones."""

from datetime import UTC, datetime

import pytest

from telemetry.decode import Route, decode_events, decode_positions, parse_topic
from telemetry.model import EventType, PaymentMethod, Reason, Source

PREFIX = "socialtaxi/v1"

NATIVE = (
    b'{"ts":"2026-03-02T08:15:30.250Z","lat":59.934280,"lon":30.335099,"speed_kmh":42.5,'
    b'"heading_deg":181.0,"accuracy_m":4.8,"hdop":0.9,"odometer_m":152340.0,"satellites":11}'
)
NATIVE_EPOCH_MS = b'{"ts":1772439330250,"lat":59.93428,"lon":30.335099}'
NATIVE_BATCH = (
    b'[{"ts":1772439330000,"lat":59.9342,"lon":30.3351,"speed_kmh":0},'
    b'{"ts":1772439331000,"lat":59.9343,"lon":30.3352,"speed_kmh":3.5},'
    b'{"ts":1772439332000,"lon":30.3353}]'
)
# as the OwnTracks Android app publishes to owntracks/{user}/{device}
OWNTRACKS = (
    b'{"_type":"location","acc":13,"alt":24,"batt":78,"bs":1,"cog":92,"conn":"m",'
    b'"created_at":1772439331,"lat":59.9342801,"lon":30.3350989,"m":1,"t":"u","tid":"7a",'
    b'"tst":1772439330,"vac":2,"vel":38}'
)
OWNTRACKS_LWT = b'{"_type":"lwt","tst":1772439000}'

T0 = datetime(2026, 3, 2, 8, 15, 30, 250000, tzinfo=UTC)


def test_topics():
    assert parse_topic(
        f"{PREFIX}/vehicles/ab-12/position", prefix=PREFIX, owntracks_prefix="owntracks"
    ) == Route("position", "ab-12")
    assert parse_topic(
        f"{PREFIX}/vehicles/ab-12/event", prefix=PREFIX, owntracks_prefix=None
    ) == Route("event", "ab-12")
    # the vehicle is the {user} level, the one the ACL binds to the login (issue 9)
    assert parse_topic(
        "owntracks/ab-12/phone", prefix=PREFIX, owntracks_prefix="owntracks"
    ) == Route("owntracks", "ab-12")
    for bad in (
        f"{PREFIX}/vehicles/ab-12/other",
        f"{PREFIX}/vehicles//position",
        "owntracks/ivanov/ab-12/event",
        "elsewhere/x",
    ):
        assert parse_topic(bad, prefix=PREFIX, owntracks_prefix="owntracks") is None
    assert parse_topic("owntracks/u/d", prefix=PREFIX, owntracks_prefix=None) is None


def test_native_frame_with_every_field():
    d = decode_positions(NATIVE)
    assert not d.problems and not d.is_array
    (f,) = d.fixes
    assert f.ts == T0
    assert (f.lat, f.lon, f.speed_kmh, f.heading_deg) == (59.93428, 30.335099, 42.5, 181.0)
    assert (f.accuracy_m, f.hdop, f.odometer_m, f.satellites) == (4.8, 0.9, 152340.0, 11)
    assert f.source is Source.NATIVE


def test_epoch_milliseconds_equal_iso_time():
    (f,) = decode_positions(NATIVE_EPOCH_MS).fixes
    assert f.ts == T0 and f.speed_kmh is None


def test_iso_time_with_offset_is_converted_to_utc():
    (f,) = decode_positions(b'{"ts":"2026-03-02T11:15:30.25+03:00","lat":59.9,"lon":30.3}').fixes
    assert f.ts == T0


def test_batch_keeps_good_items_and_reports_bad_ones_by_index():
    d = decode_positions(NATIVE_BATCH)
    assert d.is_array and d.index == (0, 1)
    assert [f.speed_kmh for f in d.fixes] == [0.0, 3.5]
    (p,) = d.problems
    assert (p.reason, p.index) == (Reason.INVALID, 2) and "lat" in p.detail


def test_owntracks_location():
    (f,) = decode_positions(OWNTRACKS, owntracks=True).fixes
    assert f.ts == datetime(2026, 3, 2, 8, 15, 30, tzinfo=UTC)
    assert (f.lat, f.lon, f.speed_kmh, f.heading_deg, f.accuracy_m) == (
        59.9342801,
        30.3350989,
        38.0,
        92.0,
        13.0,
    )
    assert f.source is Source.OWNTRACKS
    # the same frame on the native position topic is recognised by its _type
    assert decode_positions(OWNTRACKS).fixes == (f,)


def test_owntracks_non_location_is_unsupported():
    d = decode_positions(OWNTRACKS_LWT, owntracks=True)
    assert not d.fixes and d.problems[0].reason is Reason.UNSUPPORTED


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"ts":1,"lat":59.9', Reason.MALFORMED),
        (b"\xff\xfe", Reason.MALFORMED),
        (b'{"ts":1,"lat":NaN,"lon":30}', Reason.MALFORMED),
        (b'{"lat":59.9,"lon":30.3}', Reason.INVALID),
        (b'{"ts":"yesterday","lat":59.9,"lon":30.3}', Reason.INVALID),
        (b'{"ts":"2026-03-02T08:15:30","lat":59.9,"lon":30.3}', Reason.INVALID),  # no zone
        (b'{"ts":1,"lat":"59.9","lon":30.3}', Reason.INVALID),
        (b'{"ts":1,"lat":true,"lon":30.3}', Reason.INVALID),
        (b'{"ts":1,"lat":59.9,"lon":30.3,"satellites":7.5}', Reason.INVALID),
        (b'{"ts":1e300,"lat":59.9,"lon":30.3}', Reason.OUT_OF_RANGE),
        (b'"just text"', Reason.INVALID),
        (b"[]", Reason.INVALID),
    ],
)
def test_broken_frames(payload, reason):
    d = decode_positions(payload)
    assert not d.fixes
    assert d.problems[0].reason is reason


def test_events():
    d = decode_events(
        b'[{"type":"arrived_at_pickup","trip_id":42,"ts":"2026-03-02T08:15:30.25Z","lat":59.9,'
        b'"lon":30.3,"id":"e-1"},'
        b'{"type":"payment_collected","trip_id":42,"ts":1772439330250,"amount_kop":12550,'
        b'"method":"card"},'
        b'{"type":"shift_start","ts":1772439330250,"odometer_m":5},'
        + '{"type":"no_show","trip_id":42,"ts":1772439330250,"reason":"не вышел"}]'.encode()
    )
    assert not d.problems
    arrive, pay, shift, no_show = d.events
    assert (arrive.type, arrive.trip_id, arrive.ts, arrive.event_id) == (
        EventType.ARRIVED_AT_PICKUP,
        42,
        T0,
        "e-1",
    )
    assert (pay.amount_kop, pay.method) == (12550, PaymentMethod.CARD)
    assert shift.trip_id is None and shift.extra == {"odometer_m": 5}
    assert no_show.reason == "не вышел"
    assert arrive.dedup_key("v1") == "vehicle:v1:e-1"
    assert pay.dedup_key("v1") == "vehicle:v1:payment_collected:42:1772439330250000"


@pytest.mark.parametrize(
    "payload",
    [
        b'{"type":"teleported","trip_id":1,"ts":1}',
        b'{"type":"arrived_at_pickup","ts":1}',  # trip id missing
        b'{"type":"payment_collected","trip_id":1,"ts":1,"method":"cash"}',  # amount missing
        b'{"type":"payment_collected","trip_id":1,"ts":1,"amount_kop":100,"method":"barter"}',
        b'{"type":"payment_collected","trip_id":1,"ts":1,"amount_kop":12.5,"method":"cash"}',
    ],
)
def test_bad_events(payload):
    d = decode_events(payload)
    assert not d.events and d.problems


def test_columns_decode_as_one_fix_at_a_time():
    """The vectorised batch decoder gives the values, sources and reasons of the per-fix one,
    whatever the mix of plain, odd and bad items."""
    import math

    import orjson

    from telemetry.decode import _Bad, _fix_of, decode_items, fix_values

    items = [
        {"ts": 1772439330000, "lat": 59.9, "lon": 30.3, "speed_kmh": 1.5, "satellites": 9},
        {"ts": 1772439331000, "lat": 59.9, "lon": 30.3, "hdop": None, "odometer_m": 12.0},
        {"ts": "2026-03-02T08:15:30.250Z", "lat": 59, "lon": 30.3, "satellites": 7.0},
        {"ts": 1772439332000, "lat": "59.9", "lon": 30.3},
        {"ts": 1772439333000, "lat": 59.9, "lon": 30.3, "speed_kmh": True},
        {"ts": 10**30, "lat": 59.9, "lon": 30.3},
        {"ts": 1772439334000.5, "lat": 59.9, "lon": 30.3, "heading_deg": 3},
        {"ts": 1772439335000, "lat": 59.9},
        {"ts": 1772439336000, "lat": 59.9, "lon": 30.3, "satellites": 2**40},
        orjson.loads(OWNTRACKS),
        [1, 2],
        None,
    ]
    ts_us, num, owntracks, bad = decode_items(items)
    for r, obj in enumerate(items):
        try:
            fix = _fix_of(obj, owntracks=False)
        except _Bad as exc:
            assert (bad[r].reason, bad[r].detail) == (exc.reason, exc.detail)
            continue
        assert r not in bad
        assert ts_us[r] == fix.ts_us
        assert owntracks[r] == (fix.source is Source.OWNTRACKS)
        want = fix_values(fix)
        assert all(
            (math.isnan(a) and math.isnan(b)) or a == b
            for a, b in zip(num[r].tolist(), want, strict=True)
        )
    assert set(bad) == {3, 4, 5, 7, 10, 11}
