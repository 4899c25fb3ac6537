"""The pure pipeline: step order, dead-letter reasons, duplicates, plausibility."""

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from telemetry import pipeline
from telemetry.model import Reason
from telemetry.pipeline import Inbound, LastFix, Limits, process
from telemetry.plausibility import haversine_m, implausible_jumps

P = "socialtaxi/v1"
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
LIM = Limits(
    prefix=P,
    owntracks_prefix="owntracks",
    max_payload_bytes=1024,
    max_future_s=300,
    max_age_s=86400 * 30,
    max_speed_kmh=200,
)
VEHICLES = {"v1": 1, "v2": 2}


def msg(payload, device="v1", kind="position", received_at=NOW) -> Inbound:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return Inbound(f"{P}/vehicles/{device}/{kind}", body, received_at)


def fix(seconds: float, lat=59.93, lon=30.31, **kw) -> dict:
    return {
        "ts": int((NOW + timedelta(seconds=seconds)).timestamp() * 1000),
        "lat": lat,
        "lon": lon,
        **kw,
    }


def run(*messages, last=None):
    return process(list(messages), limits=LIM, vehicles=VEHICLES, last=last)


def test_steps_are_one_explicit_ordered_tuple():
    names = [s.__name__ for s in pipeline.STEPS]
    assert names == [
        "check_size",
        "route_topic",
        "decode_payload",
        "resolve_vehicle",
        "to_columns",
        "validate_values",
        "drop_duplicates",
        "mark_implausible",
    ]


def test_good_fixes_come_out_as_columns():
    r = run(msg(fix(-2, speed_kmh=30)), msg([fix(-1), fix(0)], device="v2"))
    assert len(r.positions) == 3 and not r.dead_letters
    assert r.positions.vehicle_id.tolist() == [1, 2, 2]
    assert [f.speed_kmh for f in r.positions.fixes] == [30.0, None, None]
    assert r.fixes_received == 3


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (msg(b"x" * 2000), Reason.OVERSIZED),
        (Inbound(f"{P}/vehicles/v1/telemetry", b"{}", NOW), Reason.UNKNOWN_TOPIC),
        (msg(b"{oops"), Reason.MALFORMED),
        (msg({"lat": 1, "lon": 2}), Reason.INVALID),
        (msg(fix(0), device="ghost"), Reason.UNKNOWN_VEHICLE),
        (msg(fix(0, lat=-91)), Reason.OUT_OF_RANGE),
        (msg(fix(0, lon=180.5)), Reason.OUT_OF_RANGE),
        (msg(fix(0, speed_kmh=-1)), Reason.OUT_OF_RANGE),
        (msg(fix(0, heading_deg=361)), Reason.OUT_OF_RANGE),
        (msg(fix(0, satellites=300)), Reason.OUT_OF_RANGE),
        (msg(fix(0, lat=0.0, lon=0.0)), Reason.NO_FIX),
        (msg(fix(301)), Reason.FUTURE),
        (msg(fix(-86400 * 31)), Reason.TOO_OLD),
    ],
)
def test_each_reason(message, reason):
    r = run(message)
    assert len(r.positions) == 0
    (dl,) = r.dead_letters
    assert dl.reason is reason and dl.payload == message.payload and dl.topic == message.topic


def test_future_is_judged_against_receipt_not_now():
    late_receipt = NOW + timedelta(hours=5)  # redelivered hours later
    r = run(msg(fix(3600), received_at=late_receipt))
    assert len(r.positions) == 1


def test_one_bad_fix_of_an_array_is_set_aside_the_rest_stored():
    r = run(msg([fix(-3), fix(-2, lat=95), fix(-1)]))
    assert len(r.positions) == 2
    (dl,) = r.dead_letters
    assert dl.reason is Reason.OUT_OF_RANGE and dl.detail.startswith("item 1:")


def test_duplicates_inside_the_batch_are_dropped_first_wins():
    r = run(msg(fix(0, speed_kmh=10)), msg(fix(0, speed_kmh=99)), msg(fix(1)))
    assert r.duplicates == 1
    assert [f.speed_kmh for f in r.positions.fixes] == [10.0, None]


def test_events_pass_through_with_their_vehicle():
    r = run(msg({"type": "shift_start", "ts": NOW.isoformat()}, kind="event", device="v2"))
    (e,) = r.events
    assert (e.vehicle_id, e.mqtt_id, e.event.type.value) == (2, "v2", "shift_start")


def test_latest_is_the_newest_plausible_fix_per_vehicle():
    r = run(
        msg([fix(-10), fix(-5, lat=59.931)]),
        msg(fix(-20), device="v2"),
        last={2: LastFix(int(NOW.timestamp() * 1e6), 59.9, 30.3)},
    )
    assert r.latest[1].lat == 59.931
    assert 2 not in r.latest  # older than what is known


def test_plausibility_spike_and_anchor():
    # last known at 59.93; a jump of 60 km in 10 s is implausible, the way back is not
    last = {1: LastFix(int((NOW - timedelta(seconds=10)).timestamp() * 1e6), 59.93, 30.31)}
    r = run(msg([fix(0, lat=59.931), fix(10, lat=60.5), fix(20, lat=59.932)]), last=last)
    assert r.positions.implausible.tolist() == [False, True, False]
    assert r.implausible == 1
    # the first fix after the anchor can itself be a teleport
    r = run(msg(fix(1, lat=61.0)), last=last)
    assert r.positions.implausible.tolist() == [True]


def test_implausible_jumps_vectorised_is_order_independent():
    rng = np.random.default_rng(7)
    n = 50
    vehicle = np.repeat([1, 2], n)
    t = np.tile(np.arange(n, dtype=float) * 10, 2)
    lat = 59.9 + np.cumsum(rng.uniform(0, 1e-3, 2 * n))  # ≤ 111 m per 10 s: ≤ 40 km/h
    lon = np.full(2 * n, 30.3)
    lat[n + 7] += 1.0  # one glitch on vehicle 2
    flags = implausible_jumps(vehicle, t, lat, lon, max_speed_kmh=200)
    assert np.nonzero(flags)[0].tolist() == [n + 7]
    perm = rng.permutation(2 * n)
    shuffled = implausible_jumps(vehicle[perm], t[perm], lat[perm], lon[perm], max_speed_kmh=200)
    assert np.array_equal(shuffled, flags[perm])


def test_haversine_known_distance():
    # one degree of latitude ≈ 111.2 km
    d = haversine_m(np.array([59.0]), np.array([30.0]), np.array([60.0]), np.array([30.0]))
    assert d[0] == pytest.approx(111_195, rel=1e-3)
