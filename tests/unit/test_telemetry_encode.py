"""telemetry/encode.py is the inverse of telemetry/decode.py: encode → decode gives the values."""

from datetime import UTC, datetime

import numpy as np
import orjson
import pytest

from telemetry import decode, encode
from telemetry.model import EventType, Fix, PaymentMethod, Source, VehicleEvent

T0_US = 1_772_439_330_250_000  # 2026-03-02T08:15:30.250Z

FIXES = [
    Fix(T0_US, 59.93428, 30.335099, 42.5, 181.0, 4.8, 0.9, 152340.0, 11),
    Fix(T0_US + 1_000_000, 59.9343, 30.3352),  # optional fields absent
    Fix(T0_US + 2_000_000, -33.5, -70.25, 0.0, 0.0, 0.0, None, None, 0),
]


@pytest.mark.parametrize("ts_format", ["ms", "iso"])
@pytest.mark.parametrize("fix", FIXES)
def test_native_fix_round_trip(fix, ts_format):
    decoded = decode.decode_positions(encode.encode_fix(fix, ts_format=ts_format))
    assert decoded.problems == ()
    assert decoded.fixes == (fix,)


def test_iso_time_is_utc_text_with_milliseconds():
    obj = encode.fix_object(FIXES[0], ts_format="iso")
    assert obj["ts"] == "2026-03-02T08:15:30.250Z"
    assert encode.fix_object(FIXES[0])["ts"] == 1_772_439_330_250


def test_sub_millisecond_time_is_rounded_half_up():
    fix = Fix(T0_US + 500, 60.0, 30.0)
    (back,) = decode.decode_positions(encode.encode_fix(fix)).fixes
    assert back.ts_us == T0_US + 1000


def test_batch_round_trip_through_the_vectorised_decoder():
    payload = encode.encode_batch(FIXES)
    assert payload.startswith(b"[")
    decoded = decode.decode_positions(payload)
    assert decoded.is_array and decoded.fixes == tuple(FIXES)
    items, is_array = decode.position_items(payload)
    ts_us, num, owntracks, bad = decode.decode_items(items)
    assert is_array and not bad and not owntracks.any()
    assert ts_us.tolist() == [f.ts_us for f in FIXES]
    assert num[0].tolist() == [59.93428, 30.335099, 42.5, 181.0, 4.8, 0.9, 152340.0, 11.0]
    assert np.isnan(num[1, 2:]).all()


def test_owntracks_round_trip():
    fix = Fix(1_772_439_330_000_000, 60.05, 30.45, 37.0, 90.0, 8.0)
    payload = encode.encode_owntracks(fix, tid="v1")
    assert orjson.loads(payload)["_type"] == "location"
    (back,) = decode.decode_positions(payload, owntracks=True).fixes
    assert back == fix._replace(source=Source.OWNTRACKS)


def test_owntracks_time_is_whole_seconds():
    (back,) = decode.decode_positions(encode.encode_owntracks(FIXES[0]), owntracks=True).fixes
    assert back.ts_us == T0_US - 250_000


EVENTS = [
    VehicleEvent(EventType.SHIFT_START, datetime(2026, 3, 2, 6, 0, tzinfo=UTC), event_id="s1"),
    VehicleEvent(
        EventType.EN_ROUTE,
        datetime(2026, 3, 2, 8, 50, 0, 125000, tzinfo=UTC),
        trip_id=4711,
        event_id="e-1",
        lat=60.06,
        lon=30.46,
    ),
    VehicleEvent(
        EventType.PAYMENT_COLLECTED,
        datetime(2026, 3, 2, 9, 2, 11, tzinfo=UTC),
        trip_id=4711,
        event_id="c0a8-17",
        amount_kop=12550,
        method=PaymentMethod.CASH,
    ),
    VehicleEvent(
        EventType.NO_SHOW,
        datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
        trip_id=4712,
        reason="Пассажир не вышел",
    ),
]


@pytest.mark.parametrize("ts_format", ["iso", "ms"])
@pytest.mark.parametrize("event", EVENTS)
def test_event_round_trip(event, ts_format):
    decoded = decode.decode_events(encode.encode_event(event, ts_format=ts_format))
    assert decoded.problems == ()
    assert decoded.events == (event,)


def test_event_array_keeps_order_and_extra_fields():
    extra = VehicleEvent(
        EventType.ARRIVED_AT_PICKUP,
        datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        trip_id=1,
        extra={"odometer_m": 1200.0},
    )
    decoded = decode.decode_events(encode.encode_events([*EVENTS, extra]))
    assert decoded.events == (*EVENTS, extra)
    assert decoded.events[-1].extra == {"odometer_m": 1200.0}


def test_naive_time_is_refused():
    with pytest.raises(ValueError, match="aware"):
        encode.format_time(datetime(2026, 3, 2, 9, 0))


def test_topics_match_the_decoder_routes():
    prefix = "socialtaxi/v1"
    pos = decode.parse_topic(
        encode.position_topic(prefix, "sim-1"), prefix=prefix, owntracks_prefix=None
    )
    ev = decode.parse_topic(
        encode.event_topic(prefix + "/", "sim-1"), prefix=prefix, owntracks_prefix=None
    )
    ot = decode.parse_topic(
        encode.owntracks_topic("sim-1"), prefix=prefix, owntracks_prefix="owntracks"
    )
    assert (pos.kind, pos.device) == ("position", "sim-1")
    assert (ev.kind, ev.device) == ("event", "sim-1")
    assert (ot.kind, ot.device) == ("owntracks", "sim-1")


def test_columns_to_fixes_round_like_a_device():
    fixes = encode.fixes_from_columns(
        np.array([T0_US, T0_US + 10**6]),
        np.array([60.123456789, 60.1]),
        np.array([30.987654321, 30.2]),
        speed_kmh=np.array([12.345, np.nan]),
        satellites=np.array([9, 7]),
    )
    assert fixes[0] == Fix(T0_US, 60.123457, 30.987654, 12.3, None, None, None, None, 9)
    assert fixes[1].speed_kmh is None
    assert decode.decode_positions(encode.encode_batch(fixes)).fixes == tuple(fixes)
