"""The audit rules on small hand-made trips (no services, no map).

A trip runs north along a straight planned road in Murino: pickup at 60.040 N, destination
2.2 km north. Fixes come every 5 s at 10 m/s with seeded noise; a detour is a perpendicular
excursion to the east and back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from audit.facts import (
    Finding,
    Payment,
    Plan,
    Point,
    RuleId,
    SocialObjectFacts,
    Track,
    TripEvent,
    TripFacts,
)
from audit.rules import RULES, audit_trip, hysteresis
from dispatch.quota import CountedTrip

LAT0, LON0 = 60.040, 30.450
M_LAT = 1 / 111_200.0  # degrees per metre northwards
M_LON = 1 / (111_200.0 * np.cos(np.radians(LAT0)))
PLAN_M = 2200.0
BOOKED = datetime(2027, 3, 2, 6, 0, tzinfo=UTC)  # 09:00 Moscow
NOW = datetime(2027, 3, 10, tzinfo=UTC)
CLINIC = SocialObjectFacts(1, "medical", LAT0 + PLAN_M * M_LAT, LON0, 150.0, "Поликлиника")
THEATRE = SocialObjectFacts(
    2, "culture_sport", LAT0 + 1000 * M_LAT, LON0 + 900 * M_LON, 150.0, "Театр"
)


@dataclass
class FakeMatched:
    """A matched-track-like value (``routing.matching.MatchedTrack`` fields the rules read)."""

    lat: np.ndarray
    lon: np.ndarray
    length_m: float
    fix_lat: np.ndarray
    fix_lon: np.ndarray
    fix_offset_m: np.ndarray
    breaks: tuple[Any, ...] = field(default_factory=tuple)


def _path(north_m: np.ndarray, east_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return LAT0 + north_m * M_LAT, LON0 + east_m * M_LON


def drive(
    *,
    detour_m: float = 0.0,
    offset_east_m: float = 0.0,
    wait_s: float = 0.0,
    approach_from_m: float = 1500.0,
    late_s: float = 0.0,
    sigma_m: float = 8.0,
    interval_s: float = 5.0,
    seed: int = 1,
    booked: datetime = BOOKED,
) -> tuple[Track, dict[str, float], float]:
    """Fixes of one trip: approach from the south, wait, drive north (optionally with a detour
    east at the middle, or on a parallel road ``offset_east_m`` away). Returns the track, the
    times of the moments (epoch s) and the true driven length of the passenger leg."""
    rng = np.random.default_rng(seed)
    v = 10.0
    t0 = booked.timestamp() - approach_from_m / v + late_s
    # approach: from south to the pickup
    a_n = np.arange(-approach_from_m, 0, v * interval_s)
    a_e = np.zeros_like(a_n)
    n_wait = int(wait_s // interval_s)
    w_n = np.zeros(n_wait)
    w_e = np.zeros(n_wait)
    # passenger leg
    pts: list[tuple[float, float]] = []
    if offset_east_m:
        corners = [(0, 0), (0, offset_east_m), (PLAN_M, offset_east_m), (PLAN_M, 0)]
    elif detour_m:
        mid = PLAN_M / 2
        corners = [
            (0, 0),
            (mid, 0),
            (mid, detour_m),
            (mid + 100, detour_m),
            (mid + 100, 0),
            (PLAN_M, 0),
        ]
    else:
        corners = [(0, 0), (PLAN_M, 0)]
    for (n1, e1), (n2, e2) in zip(corners, corners[1:], strict=False):
        seg = float(np.hypot(n2 - n1, e2 - e1))
        k = max(int(seg // (v * interval_s)), 1)
        for j in range(k):
            pts.append((n1 + (n2 - n1) * j / k, e1 + (e2 - e1) * j / k))
    pts.append(corners[-1])
    leg_len = sum(
        float(np.hypot(n2 - n1, e2 - e1))
        for (n1, e1), (n2, e2) in zip(corners, corners[1:], strict=False)
    )
    l_n = np.array([p[0] for p in pts])
    l_e = np.array([p[1] for p in pts])
    n = np.concatenate((a_n, w_n, l_n))
    e = np.concatenate((a_e, w_e, l_e))
    t = t0 + interval_s * np.arange(n.size)
    n = n + rng.normal(0, sigma_m, n.size)
    e = e + rng.normal(0, sigma_m, e.size)
    lat, lon = _path(n, e)
    moments = {
        "start": float(t[0]),
        "arrived": float(t[a_n.size]),
        "board": float(t[a_n.size + w_n.size]),
        "end": float(t[-1]),
    }
    return Track.of(t, lat, lon), moments, leg_len


def _at(t_s: float) -> datetime:
    return datetime.fromtimestamp(t_s, UTC)


def trip(
    track: Track | None = None,
    moments: dict[str, float] | None = None,
    *,
    matched_len: float | None = None,
    status: str = "completed",
    **kw: Any,
) -> TripFacts:
    if track is None:
        track, moments, _ = drive()
    assert moments is not None
    plan_n = np.array([0.0, PLAN_M])
    plan_lat, plan_lon = _path(plan_n, np.zeros(2))
    events: tuple[TripEvent, ...] = (
        TripEvent("en_route", _at(moments["start"])),
        TripEvent("arrived_at_pickup", _at(moments["arrived"])),
        TripEvent("passenger_on_board", _at(moments["board"])),
        TripEvent("trip_completed", _at(moments["end"])),
    )
    if status == "no_show":
        events = events[:2] + (TripEvent("no_show", _at(moments["arrived"] + 600)),)
    matched = None
    if matched_len is not None:
        leg = (track.t_s >= moments["board"]) & (track.t_s <= moments["end"])
        matched = FakeMatched(
            track.lat[leg],
            track.lon[leg],
            matched_len,
            track.lat[leg],
            track.lon[leg],
            np.zeros(int(leg.sum())),
        )
    base = TripFacts(
        trip_id=7,
        status=status,
        category="disabled_1",
        pickup=Point(LAT0, LON0),
        destination=Point(CLINIC.lat, CLINIC.lon),
        pickup_at=BOOKED,
        fixes=track,
        events=events,
        payments=(Payment(8150, _at(moments["end"])),),
        objects=(CLINIC, THEATRE),
        dest_object_id=1,
        plan=Plan(PLAN_M, 300.0, tuple(plan_lat), tuple(plan_lon)),
        fare_kop=31600,
        copay_due_kop=7900,
        vehicle_type="car",
        booked_vehicle_type="car",
        matched=matched,
        fastest_m=None,
    )
    return replace(base, **kw)


def run(facts: TripFacts, rules, only: RuleId | None = None):
    audit = audit_trip(
        facts, thresholds=rules.audit, rules=rules, now=NOW, only=None if only is None else [only]
    )
    return audit


def flagged(facts: TripFacts, rules, rule: RuleId) -> list[Finding]:
    return [f for f in run(facts, rules, rule).findings if f.rule is rule]


def correct_copay(rules) -> int:
    from dispatch.tariff import quote

    return quote(rules, category="disabled_1", vehicle_type="car", distance_m=PLAN_M).copay_kop


# --- registry ------------------------------------------------------------------------------------
def test_every_rule_registered_once():
    ids = [rid for rid, _ in RULES]
    assert sorted(ids) == sorted(RuleId)
    assert all(fn.__name__ == rid.value for rid, fn in RULES)


def test_clean_trip_has_no_findings(rules):
    track, moments, leg = drive()
    facts = trip(
        track,
        moments,
        matched_len=leg,
        payments=(Payment(correct_copay(rules), _at(moments["end"])),),
    )
    audit = run(facts, rules)
    assert audit.findings == ()
    assert [n.code for n in audit.notes] == []


# --- route_deviation -----------------------------------------------------------------------------
def test_detour_is_flagged_with_stretch_extra_km_and_money(rules):
    track, moments, leg = drive(detour_m=1500)
    (f,) = flagged(trip(track, moments, matched_len=leg), rules, RuleId.ROUTE_DEVIATION)
    assert f.evidence["actual_m"] == pytest.approx(leg, abs=1)
    assert len(f.evidence["off_route"]) == 1
    stretch = f.evidence["off_route"][0]
    assert stretch["max_offset_m"] > 1400
    assert f.at_stake_km == pytest.approx((leg - PLAN_M) / 1000, abs=0.01)
    assert f.at_stake_kop == round(f.at_stake_km * rules.tariff("car").per_km_kop)
    roles = [feat["properties"]["role"] for feat in f.geometry["features"]]
    assert roles == ["planned", "actual", "off_route"]


def test_equally_short_parallel_road_is_not_a_deviation(rules):
    # 300 m east of the plan the whole way (outside the corridor), but only 600 m longer:
    # below both the ratio and the extra minimum.
    track, moments, leg = drive(offset_east_m=300)
    assert flagged(trip(track, moments, matched_len=leg), rules, RuleId.ROUTE_DEVIATION) == []


def test_long_route_explained_by_actual_endpoints_is_not_a_deviation(rules):
    track, moments, leg = drive(detour_m=1500)
    facts = trip(track, moments, matched_len=leg, fastest_m=leg - 100)
    assert flagged(facts, rules, RuleId.ROUTE_DEVIATION) == []


def test_short_excursion_below_min_length_is_not_a_stretch(rules):
    track, moments, leg = drive(detour_m=250)
    facts = trip(track, moments, matched_len=leg + 3000)  # length alone flags it...
    (f,) = flagged(facts, rules, RuleId.ROUTE_DEVIATION)
    assert f.evidence["off_route"] == []  # ...but a 250 m poke is no off-route stretch
    assert f.severity == "warning"


def test_hysteresis_keeps_one_stretch_through_edge_noise():
    d = np.array([0, 50, 210, 190, 205, 150, 195, 210, 100, 0], float)
    state = hysteresis(d, enter_m=200, leave_m=120)
    assert state.tolist() == [False, False, True, True, True, True, True, True, False, False]
    plain = d > 200
    assert int(np.diff(plain.astype(int)).clip(0).sum()) == 3  # without hysteresis: 3 stretches


def test_without_matched_track_the_corridor_still_decides_and_a_note_says_so(rules):
    track, moments, _ = drive(detour_m=1500)
    audit = run(trip(track, moments), rules, RuleId.ROUTE_DEVIATION)
    assert [f.rule for f in audit.findings] == [RuleId.ROUTE_DEVIATION]
    assert audit.findings[0].evidence["actual_source"] == "raw_fixes"
    assert "no_matched_track" in [n.code for n in audit.notes]
    track, moments, _ = drive()
    assert run(trip(track, moments), rules, RuleId.ROUTE_DEVIATION).findings == ()


def test_missing_plan_is_a_note_not_a_crash(rules):
    audit = run(trip(plan=None), rules)
    assert "missing_plan" in [n.code for n in audit.notes]
    assert not [f for f in audit.findings if f.rule is RuleId.ROUTE_DEVIATION]


# --- late_pickup ---------------------------------------------------------------------------------
def test_late_pickup_from_gps(rules):
    track, moments, leg = drive(late_s=20 * 60)
    (f,) = flagged(trip(track, moments, matched_len=leg), rules, RuleId.LATE_PICKUP)
    assert f.evidence["delay_s"] == pytest.approx(20 * 60, abs=30)
    track, moments, leg = drive(late_s=10 * 60)
    assert flagged(trip(track, moments, matched_len=leg), rules, RuleId.LATE_PICKUP) == []


def test_driver_arrived_far_from_gps_is_evidence(rules):
    track, moments, leg = drive(late_s=25 * 60)
    early = moments["arrived"] - 240  # pressed 4 minutes (2.4 km) before the GPS got there
    facts = trip(track, moments, matched_len=leg)
    facts = replace(
        facts,
        events=(*facts.events[:1], TripEvent("arrived_at_pickup", _at(early)), *facts.events[2:]),
    )
    (f,) = flagged(facts, rules, RuleId.LATE_PICKUP)
    assert f.evidence["driver_arrived"]["gps_dist_to_pickup_m"] > 1000
    assert f.severity == "critical"


# --- false_no_show -------------------------------------------------------------------------------
def test_false_no_show_when_vehicle_never_came(rules):
    track, moments, _ = drive(approach_from_m=3000)
    stopped = track.select(track.t_s < moments["arrived"] - 150)  # stopped 1.5 km short
    facts = trip(stopped, moments, status="no_show", payments=())
    (f,) = flagged(facts, rules, RuleId.FALSE_NO_SHOW)
    assert f.evidence["closest_m"] > 1000
    assert f.at_stake_kop == facts.fare_kop


def test_genuine_no_show_is_not_flagged(rules):
    track, moments, _ = drive(wait_s=600)
    waited = track.select(track.t_s <= moments["board"])
    assert (
        flagged(trip(waited, moments, status="no_show", payments=()), rules, RuleId.FALSE_NO_SHOW)
        == []
    )


def test_no_show_without_any_fix_is_unproven(rules):
    _, moments, _ = drive()
    (f,) = flagged(
        trip(Track.empty(), moments, status="no_show", payments=()), rules, RuleId.FALSE_NO_SHOW
    )
    assert f.evidence["fixes_in_window"] == 0


# --- over_quota ----------------------------------------------------------------------------------
def _prior(n: int, status: str = "completed") -> tuple[CountedTrip, ...]:
    return tuple(
        CountedTrip(BOOKED - timedelta(hours=24 * (i + 1) / 4), status, "medical") for i in range(n)
    )


def test_over_quota_counts_prior_trips_of_the_month(rules):
    (f,) = flagged(trip(prior_trips=_prior(4)), rules, RuleId.OVER_QUOTA)
    assert f.evidence["month_used"] == 4 and f.evidence["month_limit"] == 4
    assert flagged(trip(prior_trips=_prior(3)), rules, RuleId.OVER_QUOTA) == []
    assert flagged(trip(prior_trips=_prior(4, "cancelled")), rules, RuleId.OVER_QUOTA) == []
    assert flagged(trip(prior_trips=_prior(4), quota_override=True), rules, RuleId.OVER_QUOTA) == []


def test_later_trips_do_not_count(rules):
    later = tuple(
        CountedTrip(BOOKED + timedelta(hours=i + 1), "completed", "medical") for i in range(6)
    )
    assert flagged(trip(prior_trips=later), rules, RuleId.OVER_QUOTA) == []


# --- non_social_destination ----------------------------------------------------------------------
def test_dropoff_at_object_is_fine_elsewhere_is_flagged(rules):
    assert flagged(trip(), rules, RuleId.NON_SOCIAL_DESTINATION) == []
    track, moments, _ = drive()
    end = track.t_s >= moments["end"] - 30
    moved = Track(track.t_s, np.where(end, track.lat - 600 * M_LAT, track.lat), track.lon)
    (f,) = flagged(trip(moved, moments), rules, RuleId.NON_SOCIAL_DESTINATION)
    assert f.evidence["reason"] == "outside_geofences"
    assert f.evidence["nearest_dist_m"] > 400


def test_an_implausible_jump_at_the_end_is_not_the_dropoff(rules):
    # the last fix before completion jumps 400 m away (5 s later: 290 km/h) — a GPS outlier,
    # which ingest would flag and the file's reader now leaves out as ingest's own test does
    track, moments, _ = drive()
    last = int(np.flatnonzero(track.t_s <= moments["end"])[-1])
    lat = track.lat.copy()
    lat[last] -= 400 * M_LAT
    audit = run(trip(Track(track.t_s, lat, track.lon), moments), rules)
    assert [f for f in audit.findings if f.rule is RuleId.NON_SOCIAL_DESTINATION] == []
    assert "implausible_fixes" in [n.code for n in audit.notes]


def test_object_type_not_allowed_for_category(rules):
    track, moments, _ = drive()
    # the same drive, but the clinic is registered as a theatre: age_80_plus may not go there
    theatre_here = replace(CLINIC, object_type="culture_sport")
    facts = trip(track, moments, category="age_80_plus", objects=(theatre_here,))
    (f,) = flagged(facts, rules, RuleId.NON_SOCIAL_DESTINATION)
    assert f.evidence["reason"] == "type_not_allowed"
    assert (
        flagged(replace(facts, category="disabled_1"), rules, RuleId.NON_SOCIAL_DESTINATION) == []
    )


def test_unknown_destination_object_is_a_note(rules):
    audit = run(trip(dest_object_id=999), rules)
    assert "unknown_object" in [n.code for n in audit.notes]


# --- improper_copayment --------------------------------------------------------------------------
def test_copayment_checks(rules):
    due = correct_copay(rules)
    end = _at(BOOKED.timestamp() + 600)
    assert flagged(trip(payments=(Payment(due, end),)), rules, RuleId.IMPROPER_COPAYMENT) == []
    (f,) = flagged(trip(payments=(Payment(due + 5000, end),)), rules, RuleId.IMPROPER_COPAYMENT)
    assert f.evidence["reasons"] == ["amount_mismatch"] and f.at_stake_kop == 5000
    (f,) = flagged(
        trip(payments=(Payment(due, end), Payment(due, end))), rules, RuleId.IMPROPER_COPAYMENT
    )
    assert "repeated" in f.evidence["reasons"] and f.at_stake_kop == due
    (f,) = flagged(
        trip(category="veteran_wwii", payments=(Payment(due, end),)),
        rules,
        RuleId.IMPROPER_COPAYMENT,
    )
    assert "exempt_paid" in f.evidence["reasons"]
    assert (
        flagged(trip(category="veteran_wwii", payments=()), rules, RuleId.IMPROPER_COPAYMENT) == []
    )
    (f,) = flagged(
        trip(status="cancelled", payments=(Payment(due, end),)), rules, RuleId.IMPROPER_COPAYMENT
    )
    assert f.evidence["reasons"] == ["paid_not_served"]
    (f,) = flagged(trip(payments=()), rules, RuleId.IMPROPER_COPAYMENT)
    assert f.evidence["reasons"] == ["not_collected"]


# --- phantom_trip, poor_gps_coverage, unsuitable_vehicle -----------------------------------------
def test_phantom_trip_stationary_jitter(rules):
    track, moments, _ = drive()
    rng = np.random.default_rng(3)
    still = Track(
        track.t_s,
        LAT0 + rng.normal(0, 15, len(track)) * M_LAT,
        LON0 + rng.normal(0, 15, len(track)) * M_LON,
    )
    (f,) = flagged(trip(still, moments), rules, RuleId.PHANTOM_TRIP)
    assert f.evidence["spread_m"] < 100
    assert flagged(trip(track, moments), rules, RuleId.PHANTOM_TRIP) == []


def test_a_drive_hidden_by_a_dropout_is_not_a_phantom(rules):
    # fixes every 5 s for the first 20 s of the ride (≈ 200 m), then 110 s without any before
    # completion: shorter than max_gps_gap_s, yet long enough to hide the drive
    track, moments, _ = drive()
    end = moments["board"] + 130
    keep = track.t_s <= moments["board"] + 20
    cut = Track(track.t_s[keep], track.lat[keep], track.lon[keep])
    audit = run(trip(cut, {**moments, "end": end}), rules, RuleId.PHANTOM_TRIP)
    assert [f for f in audit.findings if f.rule is RuleId.PHANTOM_TRIP] == []
    assert "phantom_unknown" in [n.code for n in audit.notes]


def test_poor_coverage_gap(rules):
    track, moments, leg = drive()
    gap = (track.t_s > moments["start"] + 30) & (track.t_s < moments["end"] - 30)
    (f,) = flagged(trip(track.select(~gap), moments), rules, RuleId.POOR_GPS_COVERAGE)
    assert f.evidence["coverage"] < 0.2 and len(f.evidence["gaps"]) == 1
    # many short gaps under max_gps_gap_s keep coverage full
    sparse = track.select(np.arange(len(track)) % 10 == 0)  # one fix every 50 s
    assert flagged(trip(sparse, moments), rules, RuleId.POOR_GPS_COVERAGE) == []


def test_completed_trip_without_fixes(rules):
    _, moments, _ = drive()
    audit = run(trip(Track.empty(), moments), rules)
    assert RuleId.POOR_GPS_COVERAGE in [f.rule for f in audit.findings]
    assert "no_fixes" in [n.code for n in audit.notes]


def test_unsuitable_vehicle(rules):
    (f,) = flagged(trip(needs_wheelchair=True), rules, RuleId.UNSUITABLE_VEHICLE)
    assert f.evidence["reasons"] == ["no_wheelchair_place"]
    assert (
        flagged(
            trip(needs_wheelchair=True, vehicle_type="wheelchair_van"),
            rules,
            RuleId.UNSUITABLE_VEHICLE,
        )
        == []
    )
    (f,) = flagged(
        trip(needs_wheelchair=True, booked_vehicle_type="wheelchair_van"),
        rules,
        RuleId.UNSUITABLE_VEHICLE,
    )
    assert f.at_stake_kop > 0  # paid as a van, driven by a car
    audit = run(trip(vehicle_type="hovercraft"), rules, RuleId.UNSUITABLE_VEHICLE)
    assert [n.code for n in audit.notes] == ["unknown_vehicle_type"]


# --- bad input -----------------------------------------------------------------------------------
def test_unordered_duplicated_and_future_fixes_are_noted_and_cleaned(rules):
    track, moments, leg = drive(detour_m=1500)
    rng = np.random.default_rng(5)
    order = rng.permutation(len(track))
    t = np.concatenate((track.t_s[order], track.t_s[:5], [NOW.timestamp() + 3600]))
    la = np.concatenate((track.lat[order], track.lat[:5], [LAT0]))
    lo = np.concatenate((track.lon[order], track.lon[:5], [LON0]))
    messy = Track(t, la, lo)
    audit = run(trip(messy, moments, matched_len=leg), rules)
    codes = [n.code for n in audit.notes]
    assert {"fixes_out_of_order", "duplicate_fixes", "future_fixes"} <= set(codes)
    clean = run(trip(track, moments, matched_len=leg), rules)
    assert [f.rule for f in audit.findings] == [f.rule for f in clean.findings]


def test_a_rule_that_raises_becomes_a_note(rules, monkeypatch):
    import audit.rules as mod

    def boom(ctx, th, r):
        raise ValueError("unexpected")

    monkeypatch.setattr(mod, "RULES", ((RuleId.PHANTOM_TRIP, boom), *mod.RULES[:1]))
    audit = run(trip(), rules)
    assert [n.code for n in audit.notes if n.rule is RuleId.PHANTOM_TRIP] == ["rule_error"]


# --- review state machine ------------------------------------------------------------------------
def test_review_transitions():
    from audit.review import ReviewError, review

    assert review("new", "confirm", comment=" ok ").to_status == "confirmed"
    assert review("new", "dismiss", comment="шум GPS").to_status == "dismissed"
    assert review("dismissed", "reopen", comment="новые данные").to_status == "new"
    with pytest.raises(ReviewError) as e:
        review("confirmed", "dismiss", comment="x")
    assert e.value.code == "illegal_review"
    with pytest.raises(ReviewError) as e:
        review("new", "confirm", comment="  ")
    assert e.value.code == "comment_required"
    with pytest.raises(ReviewError):
        review("new", "delete", comment="x")
