"""The pure simulation core: motion on real edge geometry, the GPS error model, labelled
scenarios (truth per rule for every kind; same seed → same bytes)."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from routing import RoadGraph
from routing.synthetic import grid_network
from simulators import gps, motion, scenarios


@pytest.fixture(scope="module")
def grid() -> RoadGraph:
    return RoadGraph.from_arrays(grid_network(24, seed=5, spacing_m=160.0, oneway_prob=0.35))


def _drive(grid: RoadGraph, a: int, b: int, seed: int = 1, **style):
    kit = scenarios.Roads(grid)
    rng = np.random.default_rng(seed)
    tb = motion.TrajectoryBuilder((float(kit.nx[a]), float(kit.ny[a])), rng)
    route = kit.route(a, b)
    kit.drive(tb, route, motion.DriveStyle(**style))
    return kit, route, tb.build()


def test_trajectory_follows_the_edge_geometry_at_edge_speeds(grid):
    kit, route, traj = _drive(grid, 0, grid.node_count - 1, stop_prob=0.0)
    # measured on the projected geometry (the synthetic grid's lengths carry their own noise)
    assert traj.length_m == pytest.approx(route.dist_m, rel=0.05)
    t = np.arange(0, traj.duration_s, 1.0)
    s = traj.sample(t)
    # every true point is on the route's line (geometry vertices interpolated)
    lat, lon, _ = motion.edge_polyline(route.edges, grid.geom_ptr, grid.geom_lon, grid.geom_lat)
    x, y = kit.proj.to_xy(lat, lon)
    import shapely

    line = shapely.linestrings(np.column_stack((x, y)))
    d = shapely.distance(line, shapely.points(s["x"], s["y"]))
    assert d.max() < 0.01
    assert s["speed_kmh"].max() <= 130.0 + 1e-9
    # free-flow time is the fastest the route can be driven: varied speeds and junction
    # slow-downs make the drive no faster than ~the graph's estimate minus variation
    assert traj.duration_s > 0.6 * route.duration_s


def test_junction_stops_add_dwell_and_speed_varies_per_vehicle(grid):
    _, _, no_stop = _drive(grid, 0, grid.node_count - 1, stop_prob=0.0)
    _, _, stops = _drive(grid, 0, grid.node_count - 1, stop_prob=1.0, stop_s=(10.0, 10.0))
    _, _, slow = _drive(grid, 0, grid.node_count - 1, stop_prob=0.0, vehicle_factor=0.5)
    n_junctions = len(no_stop.t_s)  # knots grow with the edges driven
    assert stops.duration_s > no_stop.duration_s + 10.0 * 3
    assert slow.duration_s > 1.5 * no_stop.duration_s
    assert n_junctions > 3
    speeds = stops.sample(np.arange(0, stops.duration_s, 0.5))["speed_kmh"]
    assert (speeds == 0).sum() >= 10  # standing at stops


def test_dwell_keeps_the_vehicle_in_place(grid):
    rng = np.random.default_rng(0)
    tb = motion.TrajectoryBuilder((100.0, 200.0), rng)
    tb.dwell(60).mark("done")
    traj = tb.build()
    s = traj.sample(np.array([0.0, 30.0, 60.0]))
    assert traj.marks == {"done": 60.0}
    assert np.allclose(s["x"], 100.0) and np.allclose(s["speed_kmh"], 0.0)


def test_gps_error_is_time_correlated_with_the_given_sigma():
    rng = np.random.default_rng(42)
    n, dt = 20_000, 1.0
    truth = {
        "x": np.zeros(n),
        "y": np.zeros(n),
        "speed_kmh": np.full(n, 30.0),
        "heading_deg": np.zeros(n),
    }
    model = gps.GpsModel(sigma_m=10.0, tau_s=30.0, outlier_prob=0.0)
    obs = gps.observe(truth, np.arange(n) * dt, model, rng)
    assert np.std(obs.x) == pytest.approx(10.0, rel=0.15)
    assert np.std(obs.y) == pytest.approx(10.0, rel=0.15)
    lag1 = np.corrcoef(obs.x[:-1], obs.x[1:])[0, 1]
    lag30 = np.corrcoef(obs.x[:-30], obs.x[30:])[0, 1]
    assert lag1 == pytest.approx(np.exp(-1 / 30), abs=0.02)  # not white noise
    assert lag30 == pytest.approx(np.exp(-1), abs=0.1)


def test_gps_outliers_dropouts_and_offline_batches():
    rng = np.random.default_rng(1)
    n = 600
    truth = {k: np.zeros(n) for k in ("x", "y", "speed_kmh", "heading_deg")}
    t = np.arange(n, dtype=float)
    model = gps.GpsModel(sigma_m=3.0, outlier_prob=0.02)
    obs = gps.observe(truth, t, model, rng, dropouts=[(100, 160)], offline=[(300, 400)])
    assert not ((obs.t_s >= 100) & (obs.t_s < 160)).any()
    assert len(obs) == n - 60
    buffered = obs.batch == 0
    assert buffered.sum() == 100 and np.all(obs.publish_s[buffered] == 400)
    assert np.all(obs.publish_s[~buffered] == obs.t_s[~buffered])
    r = np.hypot(obs.x, obs.y)
    assert obs.outlier.sum() > 3 and r[obs.outlier].min() > 50 and r[~obs.outlier].max() < 25


def test_same_seed_same_bytes_and_another_seed_differs(grid, rules):
    opts = scenarios.ScenarioOptions(trips=len(scenarios.KINDS), seed=11)
    a = orjson.dumps(scenarios.generate(grid, rules, opts))
    b = orjson.dumps(scenarios.generate(grid, rules, opts))
    c = orjson.dumps(scenarios.generate(grid, rules, scenarios.ScenarioOptions(trips=18, seed=12)))
    assert a == b
    assert a != c


EXPECTED = {
    "detour": {"route_deviation"},
    "late_pickup": {"late_pickup"},
    "false_no_show": {"false_no_show"},
    "non_social_destination": {"non_social_destination"},
    "wrong_object_type": {"non_social_destination"},
    "over_quota": {"over_quota"},
    "phantom_trip": {"phantom_trip"},
    "gps_gap": {"poor_gps_coverage"},
    "overcharge": {"improper_copayment"},
    "exempt_payment": {"improper_copayment"},
    "payment_not_completed": {"improper_copayment"},
    "repeated_payment": {"improper_copayment"},
    "unsuitable_vehicle": {"unsuitable_vehicle"},
}


@pytest.fixture(scope="module")
def labelled(grid):
    from config.rules import load_rules
    from config.settings import DEFAULT_RULES_FILE

    rules = load_rules(DEFAULT_RULES_FILE)
    n = 2 * len(scenarios.KINDS)
    return scenarios.generate(grid, rules, scenarios.ScenarioOptions(trips=n, seed=3)), rules


def test_every_kind_flags_its_rule_and_hard_negatives_flag_nothing(labelled):
    doc, _ = labelled
    assert {t["kind"] for t in doc["trips"]} == set(scenarios.KINDS)
    for t in doc["trips"]:
        flagged = {r for r, v in t["truth"].items() if v}
        assert set(t["truth"]) == set(scenarios.RULE_IDS)
        if t["kind"] in EXPECTED:
            assert EXPECTED[t["kind"]] <= flagged, (t["kind"], flagged)
        if t["kind"] in scenarios.HARD_NEGATIVES or t["kind"] == "honest":
            assert flagged == set(), (t["kind"], flagged, t["recipe"])
        if t["kind"] == "phantom_trip":  # no movement: fixes within noise of one spot
            lat = np.array([f["lat"] for f in t["fixes"]])
            lo, hi = np.percentile(lat, [2, 98])  # outliers aside
            assert hi - lo < 0.001


def test_scenario_document_follows_the_contract(labelled):
    from telemetry import decode

    doc, rules = labelled
    assert doc["schema"] == "socialtaxi.scenario/1"
    assert doc["generator"]["rules_version"] == rules.version
    objects = {o["id"] for o in doc["social_objects"]}
    vehicles = {v["id"] for v in doc["vehicles"]}
    for t in doc["trips"]:
        assert t["vehicle_id"] in vehicles and t["destination_object_id"] in objects
        assert t["final_status"] in ("completed", "no_show", "cancelled")
        fixes = decode.decode_positions(orjson.dumps(t["fixes"]))
        assert fixes.problems == () and len(fixes.fixes) == len(t["fixes"])
        ts = [f.ts_us for f in fixes.fixes]
        assert ts == sorted(ts)
        events = decode.decode_events(orjson.dumps(t["events"]))
        assert events.problems == ()
        kinds = [e.type.value for e in events.events]
        if t["final_status"] == "completed":
            assert kinds[:5] == [
                "en_route",
                "arrived_at_pickup",
                "passenger_on_board",
                "arrived_at_destination",
                "trip_completed",
            ]
            paid = [e.amount_kop for e in events.events if e.type.value == "payment_collected"]
            if t["kind"] in ("honest", *scenarios.HARD_NEGATIVES):
                assert paid == ([t["co_payment_due_kop"]] if t["co_payment_due_kop"] else [])
        times = [e.ts for e in events.events]
        assert times == sorted(times)


def test_recipes_hold_their_parameters(labelled):
    doc, rules = labelled
    by_kind: dict[str, list[dict]] = {}
    for t in doc["trips"]:
        by_kind.setdefault(t["kind"], []).append(t)
    for t in by_kind["noisy_honest"]:
        assert 15 <= t["recipe"]["sigma_m"] <= 20 and t["recipe"]["interval_s"] == 30
    for t in by_kind["late_pickup"]:
        assert 15 < t["recipe"]["late_min"] <= 60
    for t in by_kind["late_within_tolerance"]:
        assert t["recipe"]["late_min"] < rules.audit.late_pickup_tolerance_min
    for t in by_kind["tunnel_dropout"]:
        assert t["recipe"]["dropout_s"] < rules.audit.max_gps_gap_s
    for t in by_kind["alternative_route"]:
        assert t["recipe"]["shared_share"] <= 0.5
    for t in by_kind["one_way_detour"]:
        assert t["recipe"]["ratio"] >= 1.3
    for t in by_kind["unsuitable_vehicle"]:
        p = next(p for p in doc["passengers"] if p["id"] == t["passenger_id"])
        assert p["wheelchair"] and t["vehicle_type"] == "car"


def test_coverage_counts_time_near_a_fix():
    t = np.arange(0, 601, 10.0)
    assert scenarios.coverage(t, 0, 600, 120) == 1.0
    gap = t[(t < 200) | (t > 500)]
    # fixes at 190 and 510: a 320 s gap, of which 60 s each side count as covered
    assert scenarios.coverage(gap, 0, 600, 120) == pytest.approx(1 - (320 - 120) / 600)
    assert scenarios.coverage(np.array([]), 0, 600, 120) == 0.0


def test_unknown_kind_is_refused(grid, rules):
    with pytest.raises(scenarios.ScenarioError, match="неизвестные"):
        scenarios.generate(grid, rules, scenarios.ScenarioOptions(trips=1, kinds=("bogus",)))


def _objects_xy(doc, kit):
    objs = doc["social_objects"]
    x, y = kit.proj.to_xy(np.array([o["lat"] for o in objs]), np.array([o["lon"] for o in objs]))
    return objs, x, y


def test_destination_truth_follows_the_categorys_allowed_object_types(grid, labelled):
    doc, rules = labelled
    kit = scenarios.Roads(grid)
    objs, ox, oy = _objects_xy(doc, kit)
    by_id = {o["id"]: o for o in objs}
    seen = {"wrong_object_type": 0, "shared_site": 0}
    for t in doc["trips"]:
        if t["kind"] not in seen:
            continue
        seen[t["kind"]] += 1
        allowed = set(rules.category(t["category"]).allowed_object_types)
        if t["kind"] == "wrong_object_type":
            # the vehicle ended at an object the category may not travel to, and far outside
            # every object it may
            other = by_id[t["recipe"]["dropoff_object_id"]]
            assert other["type"] not in allowed
            assert t["truth"]["non_social_destination"]
            ex, ey = kit.proj.to_xy(np.array([other["lat"]]), np.array([other["lon"]]))
            d = np.hypot(ox - ex[0], oy - ey[0])
            ok = np.array([o["type"] in allowed for o in objs])
            r = np.array([o["geofence_m"] for o in objs])
            assert np.all(d[ok] > r[ok] + scenarios.GEOFENCE_MARGIN_M)
        else:
            # an object of a type the category may not travel to shares the destination's site
            beside = by_id[t["recipe"]["beside_object_id"]]
            assert beside["type"] not in allowed
            bx, by = kit.proj.to_xy(np.array([beside["lat"]]), np.array([beside["lon"]]))
            dx, dy = kit.proj.to_xy(
                np.array([t["destination"]["lat"]]), np.array([t["destination"]["lon"]])
            )
            assert np.hypot(bx - dx, by - dy)[0] < beside["geofence_m"]
            assert by_id[t["destination_object_id"]]["type"] in allowed
            assert not t["truth"]["non_social_destination"]
    assert seen["wrong_object_type"] >= 1 and seen["shared_site"] >= 1


def test_quota_groups_reach_the_limit_and_go_past_it_with_and_without_override(grid, rules):
    kinds = ("honest", *scenarios.QUOTA_KINDS)
    doc = scenarios.generate(grid, rules, scenarios.ScenarioOptions(trips=14, seed=4, kinds=kinds))
    groups: dict[int, list[dict]] = {}
    for t in doc["trips"]:
        if t["kind"] in scenarios.QUOTA_KINDS:
            groups.setdefault(t["recipe"]["quota_group"], []).append(t)
    assert len(groups) == 2
    assert {g[0]["recipe"]["period"] for g in groups.values()} == {"month", "year"}
    assert len({p["id"] for p in doc["passengers"]}) == len(doc["passengers"])
    for trips in groups.values():
        limit = trips[0]["recipe"]["limit"]
        assert len(trips) == limit + 2
        assert len({t["passenger_id"] for t in trips}) == 1
        assert [t["kind"] for t in trips[-3:]] == ["quota_at_limit", "over_quota", "quota_override"]
        pickups = [t["pickup_time"] for t in trips]
        assert pickups == sorted(pickups)
        for t in trips:
            assert t["final_status"] == "completed"
            assert t["quota_override"] == (t["kind"] == "quota_override")
            assert t["truth"]["over_quota"] == (t["kind"] == "over_quota"), t["recipe"]
        if trips[0]["recipe"]["period"] == "year":
            months = [t["pickup_time"][:7] for t in trips]
            assert len(set(months)) == len(months)  # one a month: only the yearly cap is hit


def test_every_made_trip_keeps_the_margins_from_the_thresholds(labelled):
    doc, _ = labelled
    checked = 0
    for t in doc["trips"]:
        rec = t["recipe"]
        if "deviation_slack_m" in rec:
            checked += 1
            assert abs(rec["deviation_slack_m"]) >= scenarios.DEVIATION_MARGIN_M, rec
            assert t["truth"]["route_deviation"] == (rec["deviation_slack_m"] > 0)
        if "geofence_edge_m" in rec:
            assert abs(rec["geofence_edge_m"]) >= scenarios.GEOFENCE_MARGIN_M, rec
    assert checked >= len(doc["trips"]) // 2
