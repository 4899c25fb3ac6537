"""Accuracy of the audit rules on a labelled set: precision and recall per rule, a confusion
table per trip kind, and the deviation rule fed by Valhalla's Meili matcher on the same tracks.

    SOCIALTAXI_SHARED_DATA=/work/shared/data .venv/bin/python bench/audit_accuracy.py \
        [--trips 240] [--seed 11] [--maps murino heidelberg] [--scenarios FILE ... | --simulator]
        [--no-meili]

The labelled set is scenario files (``docs/scenarios.md``). ``--scenarios`` reads files written
by the simulator (``socialtaxi simulate scenarios``); ``--simulator`` makes the simulator's sets
in the same process (``simulators.scenarios.generate``, ``--trips`` per map, ``--seed``: the
trips the command writes); without either this script writes its own, per
map, with :func:`labelled_set`: vehicles drive real roads of the map (fastest paths of the road
graph, speeds a share of each road's free-flow speed, Gaussian GPS error σ 5–20 m, a fix every
1–30 s), with the events and payments a vehicle publishes, every violation kind and every hard
negative (:data:`KINDS`). Every trip goes through the same path as ``socialtaxi audit check``
(:func:`audit.service.check_content`: parse → match → rules).

Ends with one line per target: ``target <what>: met — ...`` / ``NOT met — ...``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from audit.facts import RuleId  # noqa: E402
from config.rules import Rules, load_rules  # noqa: E402
from config.settings import DEFAULT_RULES_FILE, Settings  # noqa: E402
from dispatch.tariff import quote  # noqa: E402

MAPS = {
    "murino": "osm/murino_lo_osmnx.osm",
    "heidelberg": "osm/heidelberg.osm.pbf",
}
TARGET_P = TARGET_R = 0.95
SIGMAS_M = (5.0, 10.0, 15.0, 20.0)
INTERVALS_S = (1.0, 2.0, 5.0, 10.0, 15.0, 30.0)
OBJECT_TYPES = ("medical", "mfc", "social_fund", "hemodialysis", "culture_sport", "social_services")

#: trip kinds: (name, rule it violates or None for a (hard) negative, weight)
KINDS: tuple[tuple[str, str | None, int], ...] = (
    ("clean", None, 6),
    ("parallel_route", None, 2),  # another road of about the same length: no deviation
    ("small_detour", None, 2),  # a detour below the thresholds
    ("late_within_tolerance", None, 2),
    ("long_wait_jitter", None, 2),  # stationary jitter at the pickup, on time
    ("genuine_no_show", None, 2),
    ("short_gaps", None, 2),  # gaps shorter than max_gps_gap_s
    ("exempt_not_paying", None, 1),
    ("override_quota", None, 1),  # 5th trip of the month, approved
    ("wheelchair_in_van", None, 1),
    ("dropoff_geofence_edge", None, 1),  # dropped 100 m from the object
    ("detour", "route_deviation", 3),
    ("late_pickup", "late_pickup", 2),
    ("false_no_show", "false_no_show", 2),
    ("over_quota", "over_quota", 1),
    ("non_social_destination", "non_social_destination", 2),
    ("wrong_copayment", "improper_copayment", 1),
    ("exempt_paid", "improper_copayment", 1),
    ("paid_cancelled", "improper_copayment", 1),
    ("repeated_payment", "improper_copayment", 1),
    ("phantom", "phantom_trip", 2),
    ("gps_gap", "poor_gps_coverage", 2),
    ("wheelchair_in_car", "unsuitable_vehicle", 2),
)


# --- the labelled set ----------------------------------------------------------------------------
@dataclass
class Leg:
    lat: np.ndarray
    lon: np.ndarray
    t_s: np.ndarray


class Builder:
    """Seeded trips on one road graph, written as a scenario document."""

    def __init__(self, graph: Any, rules: Rules, rng: np.random.Generator, map_name: str) -> None:
        from routing.tracks import drive

        self.g = graph
        self.rules = rules
        self.rng = rng
        self.map_name = map_name
        self._drive = drive
        self.ws = graph.hierarchy.workspace()
        tr, _, _, node_xy = graph._snapper()
        self.tr = tr
        self.node_xy = node_xy
        self.objects: list[dict[str, Any]] = []
        self.trips: list[dict[str, Any]] = []
        self.passengers: list[dict[str, Any]] = []
        self.vehicles = [
            {"id": "sim-car", "type": "car"},
            {"id": "sim-van", "type": "wheelchair_van"},
        ]
        self._place_objects(8)

    # geometry helpers
    def _node_point(self, n: int) -> tuple[float, float]:
        return float(self.g.node_lat[n]), float(self.g.node_lon[n])

    def _path(self, a: int, b: int) -> np.ndarray | None:
        res = self.g.hierarchy.path(a, b, self.ws)
        if res is None or res.edges.size == 0:
            return None
        return np.asarray(res.edges, np.int64)

    def _dist(self, a: int, b: int) -> float:
        return float(np.hypot(*(self.node_xy[a] - self.node_xy[b])))

    def _random_node(self) -> int:
        return int(self.rng.integers(self.g.node_count))

    def _node_far_from_objects(self, min_m: float) -> int:
        xy = np.array([self.node_xy[o["_node"]] for o in self.objects])
        for _ in range(2000):
            n = self._random_node()
            if np.hypot(*(xy - self.node_xy[n]).T).min() >= min_m:
                return n
        raise RuntimeError("no node far enough from the objects")

    def _place_objects(self, n: int) -> None:
        nodes: list[int] = []
        spacing_m = 700.0
        tries = 0
        while len(nodes) < n:
            c = self._random_node()
            tries += 1
            if tries % 500 == 0:
                spacing_m *= 0.8  # a small map: objects closer together
            if all(self._dist(c, o) > spacing_m for o in nodes):
                nodes.append(c)
        for i, node in enumerate(nodes):
            lat, lon = self._node_point(node)
            otype = OBJECT_TYPES[i % len(OBJECT_TYPES)]
            self.objects.append(
                {"id": i + 1, "name": f"Объект {i + 1}", "type": otype, "lat": lat, "lon": lon,
                 "geofence_m": 150, "_node": node}
            )  # fmt: skip

    def _leg(self, edges: np.ndarray, start_s: float, sigma: float, interval: float) -> Leg:
        tr = self._drive(
            self.g, edges, self.rng, interval_s=interval, sigma_m=sigma, start_s=start_s
        )
        return Leg(tr.lat, tr.lon, tr.t_s)

    def _still(
        self, node_or_xy: Any, start_s: float, dur_s: float, sigma: float, interval: float
    ) -> Leg:
        n = max(int(dur_s // interval), 1)
        x0, y0 = self.node_xy[node_or_xy] if np.isscalar(node_or_xy) else node_or_xy
        x = x0 + self.rng.normal(0, sigma, n)
        y = y0 + self.rng.normal(0, sigma, n)
        lon, lat = self.tr.transform(x, y, direction="INVERSE")
        return Leg(np.asarray(lat), np.asarray(lon), start_s + interval * (1 + np.arange(n)))

    # trips
    def _pair(
        self,
        *,
        min_m: float,
        max_m: float,
        dest: int | None = None,
        category: str = "disabled_1",
        origin: int | None = None,
    ) -> tuple[int, int, np.ndarray]:
        allowed = set(self.rules.category(category).allowed_object_types)
        targets = [o for o in self.objects if o["type"] in allowed]
        for _ in range(40 if origin is not None else 400):
            p = origin if origin is not None else self._random_node()
            d = dest if dest is not None else targets[int(self.rng.integers(len(targets)))]["_node"]
            if p == d:
                continue
            e = self._path(p, d)
            if e is None:
                continue
            length = float(self.g.edge_length_m[e].sum())
            if min_m <= length <= max_m:
                return p, d, e
        raise RuntimeError("no pickup/destination pair of the wanted length")

    def _waypoint_route(
        self,
        p: int,
        d: int,
        base: np.ndarray,
        lo: float,
        hi: float,
        *,
        min_extra_m: float = 0.0,
        max_extra_m: float = np.inf,
    ) -> np.ndarray | None:
        """A route p → w → d whose length is between ``lo`` and ``hi`` times the fastest and
        between ``min_extra_m`` and ``max_extra_m`` longer."""
        base_m = float(self.g.edge_length_m[base].sum())
        mid = (self.node_xy[p] + self.node_xy[d]) / 2
        for _ in range(300):
            w = self._random_node()
            if np.hypot(*(self.node_xy[w] - mid)) > max(base_m, min_extra_m):
                continue
            a, b = self._path(p, w), self._path(w, d)
            if a is None or b is None:
                continue
            e = np.concatenate((a, b))
            length = float(self.g.edge_length_m[e].sum())
            extra = length - base_m
            if (
                lo <= length / base_m <= hi
                and min_extra_m <= extra <= max_extra_m
                and not np.array_equal(e, base)
            ):
                return e
        return None

    def add(
        self, kind: str, truth_rule: str | None, trip_id: int, day: datetime
    ) -> list[dict[str, Any]]:
        """One trip of ``kind`` (several for the quota kinds: the earlier trips come first)."""
        rng = self.rng
        sigma = float(rng.choice(SIGMAS_M))
        interval = float(rng.choice(INTERVALS_S))
        if kind == "gps_gap":
            interval = min(interval, 10.0)
        pas_id = trip_id
        category = "disabled_1"
        wheelchair = kind in ("wheelchair_in_car", "wheelchair_in_van")
        if kind in ("exempt_not_paying", "exempt_paid"):
            category = "veteran_wwii"
        vehicle = "sim-van" if kind == "wheelchair_in_van" else "sim-car"
        booked_type = "wheelchair_van" if kind == "wheelchair_in_van" else "car"
        if kind == "wheelchair_in_car":
            booked_type = "wheelchair_van"  # booked right, served by a car
        dest_obj: dict[str, Any] | None = None
        if kind == "non_social_destination":
            d_node = self._node_far_from_objects(400)
            p, d, e = self._pair(min_m=1500, max_m=6000, dest=d_node)
        else:
            # a phantom vehicle stands at the pickup: keep it clear of every geofence
            for _ in range(50):
                origin = self._node_far_from_objects(400) if kind == "phantom" else None
                try:
                    p, d, e = self._pair(min_m=1500, max_m=6000, category=category, origin=origin)
                    break
                except RuntimeError:
                    continue
            dest_obj = next(o for o in self.objects if o["_node"] == d)
        if kind == "non_social_destination" and rng.random() < 0.5:
            # the other form: a culture/sport object for a category that may not go there
            culture = [o for o in self.objects if o["type"] == "culture_sport"]
            p, d, e = self._pair(min_m=1500, max_m=6000, dest=culture[0]["_node"])
            dest_obj = culture[0]
            category = "age_80_plus"
        plan = self.g.route_nodes(p, d)
        plan_coords = plan.to_geojson()["geometry"]["coordinates"]
        booked_at = day + timedelta(minutes=int(rng.integers(0, 12 * 60)))
        b_s = booked_at.timestamp()
        drive_edges = e
        if kind == "detour":
            # both thresholds with a margin: ≥ 1.5 × and ≥ 2 km longer (rule: 1.3 ×, 1.5 km)
            drive_edges = self._waypoint_route(p, d, e, 1.5, 4.0, min_extra_m=2000)
        elif kind == "parallel_route":
            drive_edges = self._waypoint_route(p, d, e, 1.0, 1.12)
        elif kind == "small_detour":
            drive_edges = self._waypoint_route(p, d, e, 1.03, 1.15, max_extra_m=900)
        if drive_edges is None:
            return self.add(kind, truth_rule, trip_id, day)  # another pair of points
        # approach from a node 1-3 km away
        for _ in range(100):
            s = self._random_node()
            approach = self._path(s, p)
            if approach is not None and 800 <= float(self.g.edge_length_m[approach].sum()) <= 3500:
                break
        else:
            approach = None
        late = {"late_pickup": 25 * 60, "late_within_tolerance": 7 * 60}.get(kind, -120)
        legs: list[Leg] = []
        events: list[dict[str, Any]] = []
        status = "completed"
        # drive the approach so as to reach the pickup at booked + late
        appr = (
            self._leg(approach, 0.0, sigma, interval)
            if approach is not None
            else Leg(*(np.zeros(0),) * 3)
        )
        t_reach = b_s + late
        offset = t_reach - (float(appr.t_s[-1]) if appr.t_s.size else 0.0)
        appr.t_s = appr.t_s + offset
        t_start = float(appr.t_s[0]) if appr.t_s.size else t_reach
        if kind == "false_no_show":
            # stops 1-2 km short of the pickup and claims the passenger did not come
            keep = appr.t_s < t_reach - 150
            if keep.sum() < 2:
                keep[:2] = True
            appr = Leg(appr.lat[keep], appr.lon[keep], appr.t_s[keep])
            stop_xy = np.array(self.tr.transform(appr.lon[-1], appr.lat[-1]))
            wait = self._still(stop_xy, float(appr.t_s[-1]), 600, sigma, interval)
            legs += [appr, wait]
            events += [
                ("en_route", t_start, None),
                ("arrived_at_pickup", float(appr.t_s[-1]) + 30, None),
                ("no_show", float(wait.t_s[-1]), None),
            ]  # type: ignore[list-item]
            status = "no_show"
        elif kind == "genuine_no_show":
            wait = self._still(p, t_reach, 900, sigma, interval)
            legs += [appr, wait]
            events += [
                ("en_route", t_start, None),
                ("arrived_at_pickup", t_reach, None),
                ("no_show", float(wait.t_s[-1]), None),
            ]  # type: ignore[list-item]
            status = "no_show"
        elif kind == "paid_cancelled":
            legs += [appr]
            events += [("en_route", t_start, None), ("payment_collected", t_reach, 5000)]  # type: ignore[list-item]
            status = "cancelled"
        else:
            wait_s = 600 if kind == "long_wait_jitter" else float(rng.uniform(60, 180))
            wait = self._still(p, t_reach, wait_s, sigma, interval)
            board_s = t_reach + wait_s
            if kind == "phantom":
                ride = self._still(p, board_s, float(plan.duration_s) * 1.2, sigma, interval)
            else:
                ride = self._leg(drive_edges, board_s + interval, sigma, interval)
                # the passenger gets out and pays: the vehicle stands 30-90 s at the destination
                stop = self._still(
                    d, float(ride.t_s[-1]), float(rng.uniform(30, 90)), sigma, interval
                )
                ride = Leg(
                    *(
                        np.concatenate((a, b))
                        for a, b in zip(
                            (ride.lat, ride.lon, ride.t_s),
                            (stop.lat, stop.lon, stop.t_s),
                            strict=True,
                        )
                    )
                )
            end_s = float(ride.t_s[-1])
            if kind == "dropoff_geofence_edge":
                # the last fixes 100 m from the object, on the way in
                xy = np.array(self.tr.transform(ride.lon, ride.lat)).T
                obj_xy = self.node_xy[d]
                far = np.hypot(*(xy - obj_xy).T) >= 100
                cut = int(np.flatnonzero(far).max()) + 1 if far.any() else ride.t_s.size
                ride = Leg(ride.lat[:cut], ride.lon[:cut], ride.t_s[:cut])
                last = xy[cut - 1] - obj_xy
                stop = obj_xy + 100.0 * last / max(float(np.hypot(*last)), 1e-6)
                halt = self._still(stop, float(ride.t_s[-1]), 90, sigma, interval)
                ride = Leg(
                    *(
                        np.concatenate((a, b))
                        for a, b in zip(
                            (ride.lat, ride.lon, ride.t_s),
                            (halt.lat, halt.lon, halt.t_s),
                            strict=True,
                        )
                    )
                )
                end_s = float(ride.t_s[-1])
            legs += [appr, wait, ride]
            events += [
                ("en_route", t_start, None),
                ("arrived_at_pickup", t_reach, None),
                ("passenger_on_board", board_s, None),
                ("trip_completed", end_s + 1, None),
            ]  # type: ignore[list-item]
            if kind in ("gps_gap", "short_gaps"):
                for lg in legs:
                    span = (t_start + 0.1 * (end_s - t_start), end_s - 0.05 * (end_s - t_start))
                    if kind == "short_gaps":
                        holes = lg.t_s % 300 > 240  # 60 s holes every 5 minutes
                        cut = ~holes
                    else:
                        cut = ~((lg.t_s > span[0]) & (lg.t_s < span[1]))
                    lg.lat, lg.lon, lg.t_s = lg.lat[cut], lg.lon[cut], lg.t_s[cut]
        fare = quote(
            self.rules, category=category, vehicle_type=booked_type, distance_m=plan.dist_m
        )
        due = fare.copay_kop
        if status == "completed" and not kind.startswith("exempt"):
            amount = due + (4000 if kind == "wrong_copayment" else 0)
            events.append(("payment_collected", events[-1][1] + 5, amount))  # type: ignore[arg-type]
            if kind == "repeated_payment":
                events.append(("payment_collected", events[-1][1] + 60, amount))  # type: ignore[arg-type]
        if kind == "exempt_paid":
            events.append(("payment_collected", events[-1][1] + 5, 7500))  # type: ignore[arg-type]
        t = np.concatenate([lg.t_s for lg in legs])
        la = np.concatenate([lg.lat for lg in legs])
        lo = np.concatenate([lg.lon for lg in legs])
        order = np.argsort(t, kind="stable")
        t, la, lo = t[order], la[order], lo[order]
        keep = np.concatenate(([True], np.diff(t) > 0))
        t, la, lo = t[keep], la[keep], lo[keep]
        fixes = [
            {
                "ts": int(round(ts * 1000)),
                "lat": round(float(a), 7),
                "lon": round(float(b), 7),
                "accuracy_m": sigma,
            }
            for ts, a, b in zip(t, la, lo, strict=True)
        ]
        ev_json = []
        for j, (etype, ets, amount) in enumerate(events):  # type: ignore[misc]
            ev: dict[str, Any] = {
                "type": etype,
                "ts": _iso(ets),
                "trip_id": trip_id,
                "id": f"e{trip_id}-{j}",
            }
            if etype == "payment_collected":
                ev |= {"amount_kop": int(amount), "method": "cash"}
            ev_json.append(ev)
        truth = {truth_rule: True} if truth_rule else {}
        if kind == "phantom":
            truth["non_social_destination"] = True  # the vehicle never left the pickup
        dlat, dlon = self._node_point(d)
        plat, plon = self._node_point(p)
        trip = {
            "id": trip_id, "passenger_id": pas_id, "vehicle_id": vehicle, "category": category,
            "vehicle_type": booked_type, "pickup": {"lat": plat, "lon": plon},
            "destination_object_id": dest_obj["id"] if dest_obj else None,
            "destination": {"lat": dlat, "lon": dlon},
            "pickup_time": booked_at.isoformat(),
            "planned": {"distance_m": round(plan.dist_m, 1),
                        "duration_s": round(plan.duration_s, 1),
                        "geometry": [[c[1], c[0]] for c in plan_coords]},
            "fare_kop": fare.fare_kop, "co_payment_due_kop": due, "quota_override": False,
            "final_status": status, "events": ev_json, "fixes": fixes, "kind": kind,
            "recipe": {"sigma_m": sigma, "interval_s": interval, "map": self.map_name},
            "truth": truth,
        }  # fmt: skip
        self.passengers.append(
            {
                "id": pas_id,
                "categories": [category],
                "wheelchair": wheelchair,
                "needs_companion": False,
            }
        )
        out = [trip]
        if kind in ("over_quota", "override_quota"):
            # four earlier completed trips of the same passenger this month, each clean
            for k in range(4):
                prior = orjson.loads(orjson.dumps(trip))
                prior |= {
                    "id": 1_000_000 + trip_id * 10 + k, "kind": "quota_prior", "truth": {},
                    "pickup_time": (booked_at - timedelta(days=k + 1, hours=1)).isoformat(),
                    "events": [], "fixes": [], "final_status": "completed",
                }  # fmt: skip
                prior = self._replay(prior, trip, booked_at - timedelta(days=k + 1, hours=1))
                out.insert(0, prior)
            if kind == "override_quota":
                trip["quota_override"] = True
        return out

    def _replay(
        self, prior: dict[str, Any], trip: dict[str, Any], booked_at: datetime
    ) -> dict[str, Any]:
        """The same drive as ``trip`` shifted to another day (a clean earlier trip)."""
        shift_ms = int(
            (booked_at - datetime.fromisoformat(trip["pickup_time"])).total_seconds() * 1000
        )
        prior["fixes"] = [f | {"ts": f["ts"] + shift_ms} for f in trip["fixes"]]
        prior["events"] = [
            e | {"ts": _iso(datetime.fromisoformat(e["ts"]).timestamp() + shift_ms / 1000),
                 "trip_id": prior["id"], "id": f"{e['id']}-p{prior['id']}"}
            for e in trip["events"]
        ]  # fmt: skip
        return prior

    def document(self, seed: int) -> dict[str, Any]:
        return {
            "schema": "socialtaxi.scenario/1",
            "generator": {"seed": seed, "map": self.map_name, "rules_version": self.rules.version,
                          "by": "bench/audit_accuracy.py"},
            "timezone": self.rules.timezone,
            "social_objects": [
                {k: v for k, v in o.items() if not k.startswith("_")} for o in self.objects
            ],
            "passengers": self.passengers,
            "vehicles": self.vehicles,
            "trips": self.trips,
        }  # fmt: skip


def _iso(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, UTC).isoformat()


def labelled_set(
    graph: Any, rules: Rules, *, trips: int, seed: int, map_name: str
) -> dict[str, Any]:
    """A scenario document with about ``trips`` trips (quota kinds add their earlier trips),
    kinds drawn in proportion to their weights of :data:`KINDS`, every kind at least once."""
    rng = np.random.default_rng(seed)
    b = Builder(graph, rules, rng, map_name)
    weights = np.array([w for _, _, w in KINDS], float)
    order = list(range(len(KINDS)))
    n_more = max(trips - len(KINDS), 0)
    order += rng.choice(len(KINDS), n_more, p=weights / weights.sum()).tolist()
    rng.shuffle(order)
    next_id = 1
    for k in order:
        kind, rule, _ = KINDS[k]
        day = datetime(2027, 3, 6 + int(rng.integers(0, 22)), 4, 0, tzinfo=UTC)  # 07:00 Moscow
        for t in b.add(kind, rule, next_id, day):
            b.trips.append(t)
        next_id += 1
    return b.document(seed)


# --- scoring -------------------------------------------------------------------------------------
@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def score(doc: dict[str, Any], flagged: dict[int, set[str]], rules_: list[str]) -> dict[str, Score]:
    out = {r: Score() for r in rules_}
    for t in doc["trips"]:
        truth = {k for k, v in (t.get("truth") or {}).items() if v}
        got = flagged.get(t["id"], set())
        for r in rules_:
            s = out[r]
            if r in truth and r in got:
                s.tp += 1
            elif r in got:
                s.fp += 1
            elif r in truth:
                s.fn += 1
            else:
                s.tn += 1
    return out


def audit_document(
    doc: dict[str, Any], *, graph: Any, rules: Rules, matcher: Any
) -> dict[int, set[str]]:
    """Rule ids flagged per trip, through the ``audit check`` path."""
    from audit.service import check_content

    _, audits = check_content(
        orjson.dumps(doc),
        rules=rules,
        graph=graph,
        matcher=matcher,
        now=datetime(2028, 1, 1, tzinfo=UTC),
    )
    return {a.trip_id: {f.rule.value for f in a.findings} for a in audits}


class MeiliMatched:
    """Meili's result in the shape the rules read (``audit.facts.MatchedTrackLike``)."""

    def __init__(self, res: dict[str, Any], n: int) -> None:
        shape = np.asarray(res.get("shape") or np.zeros((0, 2)), float).reshape(-1, 2)
        self.lat, self.lon = shape[:, 0], shape[:, 1]
        self.length_m = float(res.get("length_m", 0.0))

        def arr(key: str) -> np.ndarray:
            v = res.get(key) or [None] * n
            return np.array([np.nan if x is None else x for x in v], float)

        self.fix_lat, self.fix_lon, self.fix_offset_m = (
            arr("fix_lat"),
            arr("fix_lon"),
            arr("fix_offset_m"),
        )
        self.breaks: tuple[Any, ...] = ()


def meili_deviation(
    doc: dict[str, Any], *, osm: Path, graph: Any, rules: Rules
) -> dict[int, set[str]]:
    """The route_deviation rule with the passenger leg matched by Meili instead of ours."""
    from audit.rules import audit_trip, prepare
    from audit.scenario import parse_scenario
    from audit.service import enrich
    from bench.peers.meili import Meili, ensure_peer

    ensure_peer(osm)
    parsed = parse_scenario(orjson.dumps(doc))
    now = datetime(2028, 1, 1, tzinfo=UTC)
    out: dict[int, set[str]] = {}
    with Meili(osm) as meili:
        for ct in parsed.trips:
            facts, _ = enrich(ct.facts, rules=rules, graph=graph, matcher=None, now=now)
            ctx, _ = prepare(
                facts, rules.audit, now=now, max_speed_kmh=rules.telemetry.max_speed_kmh
            )
            leg = ctx.leg(ctx.board_s, ctx.end_s)
            tr = ctx.track
            matched = None
            if facts.status == "completed" and leg.sum() >= 2:
                res = meili.match(tr.lat[leg], tr.lon[leg], tr.t_s[leg], track_id=facts.trip_id)
                if res.get("ok"):
                    matched = MeiliMatched(res, int(leg.sum()))
            a = audit_trip(
                replace(facts, matched=matched),
                thresholds=rules.audit,
                rules=rules,
                now=now,
                only=[RuleId.ROUTE_DEVIATION],
            )
            out[facts.trip_id] = {f.rule.value for f in a.findings}
    return out


def confusion(doc: dict[str, Any], flagged: dict[int, set[str]], rules_: list[str]) -> str:
    """Per trip kind: how many trips, and how many each rule flagged."""
    rows: dict[str, Counter[str]] = defaultdict(Counter)
    count: Counter[str] = Counter()
    for t in doc["trips"]:
        kind = t.get("kind", "?")
        count[kind] += 1
        for r in flagged.get(t["id"], ()):
            rows[kind][r] += 1
    short = {
        r: r.split("_")[0][:6] + ("_" + r.split("_")[1][:3] if "_" in r else "") for r in rules_
    }
    head = f"{'kind':<24}{'n':>5} " + " ".join(f"{short[r]:>10}" for r in rules_)
    lines = [head]
    for kind in sorted(count):
        lines.append(
            f"{kind:<24}{count[kind]:>5} " + " ".join(f"{rows[kind][r] or '.':>10}" for r in rules_)
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trips", type=int, default=240, help="trips per map (before quota priors)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--maps", nargs="+", default=list(MAPS), choices=list(MAPS))
    ap.add_argument(
        "--scenarios", nargs="*", type=Path, help="simulator scenario files (map in generator.map)"
    )
    ap.add_argument(
        "--simulator",
        action="store_true",
        help="the simulator's labelled sets (simulators.scenarios, as `socialtaxi simulate"
        " scenarios` writes them), --trips per map and --seed, instead of this script's own",
    )
    ap.add_argument("--no-meili", action="store_true", help="skip the Meili-fed deviation rule")
    ap.add_argument("--save", type=Path, help="write the generated scenario files to this folder")
    args = ap.parse_args(argv)

    from routing import load_graph
    from routing.matching import match_track

    shared = Path(os.environ.get("SOCIALTAXI_SHARED_DATA", REPO.parent / "shared" / "data"))
    rules = load_rules(DEFAULT_RULES_FILE)
    rule_ids = [r.value for r in RuleId]
    total = {r: Score() for r in rule_ids}
    meili_total = Score()
    ours_dev_total = Score()
    meili_ok = not args.no_meili
    sets: list[tuple[str, dict[str, Any]]] = []
    graphs: dict[str, Any] = {}
    t0 = time.perf_counter()
    if args.scenarios:
        for path in args.scenarios:
            doc = orjson.loads(path.read_bytes())
            name = Path(doc.get("generator", {}).get("map", "")).name
            key = next((k for k, v in MAPS.items() if Path(v).name == name), None)
            if key is None:
                print(f"{path}: unknown map {name!r}", file=sys.stderr)
                return 2
            sets.append((key, doc))
    else:
        for key in args.maps:
            graphs[key] = load_graph(shared / MAPS[key], cache_dir=Settings().map_cache_dir)
            if args.simulator:
                from simulators.scenarios import ScenarioOptions, generate

                opts = ScenarioOptions(
                    trips=args.trips, seed=args.seed, map_name=Path(MAPS[key]).name
                )
                doc = generate(graphs[key], rules, opts)
            else:
                doc = labelled_set(
                    graphs[key],
                    rules,
                    trips=args.trips,
                    seed=args.seed,
                    map_name=Path(MAPS[key]).name,
                )
            sets.append((key, doc))
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                (args.save / f"audit_{key}_{args.seed}.json").write_bytes(orjson.dumps(doc))
    n_trips = 0
    sigmas, intervals = set(), set()
    for key, doc in sets:
        graph = graphs.get(key) or load_graph(
            shared / MAPS[key], cache_dir=Settings().map_cache_dir
        )
        n_trips += len(doc["trips"])
        for t in doc["trips"]:
            rec = t.get("recipe") or {}
            sigmas.add(rec.get("sigma_m"))
            intervals.add(rec.get("interval_s"))
        t1 = time.perf_counter()
        flagged = audit_document(doc, graph=graph, rules=rules, matcher=match_track)
        dt = time.perf_counter() - t1
        sc = score(doc, flagged, rule_ids)
        print(f"\n== {key}: {len(doc['trips'])} trips, audited in {dt:.1f} s")
        print(f"{'rule':<26}{'tp':>5}{'fp':>5}{'fn':>5}{'precision':>11}{'recall':>8}")
        for r in rule_ids:
            s = sc[r]
            print(f"{r:<26}{s.tp:>5}{s.fp:>5}{s.fn:>5}{s.precision:>11.3f}{s.recall:>8.3f}")
            for f in ("tp", "fp", "fn", "tn"):
                setattr(total[r], f, getattr(total[r], f) + getattr(s, f))
        for f in ("tp", "fp", "fn", "tn"):
            setattr(
                ours_dev_total, f, getattr(ours_dev_total, f) + getattr(sc["route_deviation"], f)
            )
        print("\nconfusion (trips flagged per rule, by kind):")
        print(confusion(doc, flagged, rule_ids))
        if meili_ok:
            try:
                mf = meili_deviation(doc, osm=shared / MAPS[key], graph=graph, rules=rules)
            except Exception as exc:  # noqa: BLE001 - the peer may be unavailable; say so
                print(f"Meili unavailable: {type(exc).__name__}: {exc}".splitlines()[0])
                meili_ok = False
            else:
                ms = score(doc, mf, ["route_deviation"])["route_deviation"]
                print(
                    f"route_deviation fed by Meili: tp {ms.tp} fp {ms.fp} fn {ms.fn}"
                    f" precision {ms.precision:.3f} recall {ms.recall:.3f}"
                )
                for f in ("tp", "fp", "fn", "tn"):
                    setattr(meili_total, f, getattr(meili_total, f) + getattr(ms, f))
    sig = [x for x in sigmas if x] or [0.0]
    print(
        f"\nall maps: {n_trips} trips, σ {min(sig):.1f}–{max(sig):.1f} m,"
        f" sampling {sorted(x for x in intervals if x)} s, {time.perf_counter() - t0:.0f} s"
    )
    ok_all = True
    for r in rule_ids:
        s = total[r]
        met = s.precision >= TARGET_P and s.recall >= TARGET_R
        ok_all &= met
        print(
            f"target {r} precision ≥ {TARGET_P} and recall ≥ {TARGET_R}:"
            f" {'met' if met else 'NOT met'} — precision {s.precision:.3f},"
            f" recall {s.recall:.3f} (tp {s.tp}, fp {s.fp}, fn {s.fn})"
        )
    if meili_ok:
        o, m = ours_dev_total, meili_total
        met = o.precision >= m.precision and o.recall >= m.recall
        print(
            f"target route_deviation no worse than Meili-fed: {'met' if met else 'NOT met'}"
            f" — ours precision {o.precision:.3f} recall {o.recall:.3f},"
            f" Meili-fed precision {m.precision:.3f} recall {m.recall:.3f}"
        )
    else:
        print("target route_deviation no worse than Meili-fed: NOT met — Meili peer not run")
    target_size = n_trips >= 400 and len(sets) >= 2
    print(
        f"target labelled set ≥ 400 trips on ≥ 2 maps: {'met' if target_size else 'NOT met'}"
        f" — {n_trips} trips on {len(sets)} maps"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
