"""Labelled scenario sets: trips that break the rules on purpose (and hard negatives an honest
carrier produces every day), each with the facts as booked, the fixes and events as published
and the truth per audit rule (contract: ``docs/scenarios.md``; recipes: ``docs/simulators.md``).

Pure: a road graph, the rules and a seed in, one JSON-ready document out. Same seed, same graph,
same rules → the same document, byte for byte once serialised (``numpy.random.Generator`` only;
no clock, no set iteration, no hash order).

The truth is not copied from the kind: it is computed from what really happened (the true
trajectory, the true times, the payments made) by :func:`truth_of`, with the definitions written
in ``docs/simulators.md`` and the thresholds of the rules file. A kind is how a trip was made; the
truth is what each rule should say about it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import numpy as np

from config.rules import Rules
from dispatch.quota import CountedTrip, quota_status
from dispatch.tariff import quote
from routing.errors import NoRoute
from simulators.gps import GpsModel, Observation, observe, sample_times
from simulators.motion import DriveStyle, Projector, Trajectory, TrajectoryBuilder, edge_polyline
from telemetry.encode import event_object, fix_object, fixes_from_columns
from telemetry.model import EventType, PaymentMethod, VehicleEvent, to_epoch_us

SCHEMA = "socialtaxi.scenario/1"

RULE_IDS = (
    "route_deviation",
    "late_pickup",
    "false_no_show",
    "over_quota",
    "non_social_destination",
    "improper_copayment",
    "phantom_trip",
    "poor_gps_coverage",
    "unsuitable_vehicle",
)

VIOLATIONS = (
    "detour",
    "late_pickup",
    "false_no_show",
    "non_social_destination",
    "wrong_object_type",
    "over_quota",
    "phantom_trip",
    "gps_gap",
    "overcharge",
    "exempt_payment",
    "payment_not_completed",
    "repeated_payment",
    "unsuitable_vehicle",
)
HARD_NEGATIVES = (
    "noisy_honest",
    "alternative_route",
    "one_way_detour",
    "wait_near_pickup",
    "late_within_tolerance",
    "tunnel_dropout",
    "shared_site",
    "quota_history",
    "quota_at_limit",
    "quota_override",
)
#: kinds made together, as one passenger's trips in a month or a year (see :meth:`quota_group`)
QUOTA_KINDS = ("quota_history", "quota_at_limit", "over_quota", "quota_override")
KINDS = ("honest", *VIOLATIONS, *HARD_NEGATIVES)

#: thresholds of the recipes that the rules file does not hold
DETOUR_MIN_EXTRA_M = 1500.0
FALSE_NO_SHOW_M = 300.0
PHANTOM_MAX_M = 200.0
#: a wrong-type drop-off's node is at least this far outside every allowed object's geofence
WRONG_TYPE_CLEAR_M = 150.0
#: Margins from the rules' thresholds that every generated trip keeps in what really happened
#: (``_Generator.borderline``): a case closer to a threshold than the audit can measure (GPS
#: error, the matched length's error) is not a fair test of either answer, so the generator
#: makes another trip instead. The on-board drive's distance from the deviation boundary (the
#: smaller of ``driven − ratio × planned`` and ``driven − planned − 1,500 m``), in metres:
DEVIATION_MARGIN_M = 300.0
#: and the true drop-off's distance from the edge of the nearest geofence that decides:
GEOFENCE_MARGIN_M = 50.0
ALT_ROUTE_MAX_RATIO = 1.03
ALT_ROUTE_MAX_SHARED = 0.5


class GraphLike(Protocol):
    node_id: np.ndarray
    node_lat: np.ndarray
    node_lon: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_length_m: np.ndarray
    edge_speed_kmh: np.ndarray
    geom_ptr: np.ndarray
    geom_lon: np.ndarray
    geom_lat: np.ndarray
    meta: dict[str, Any]

    @property
    def node_count(self) -> int: ...
    @property
    def utm_epsg(self) -> int: ...
    def route_nodes(self, orig_index: int, dest_index: int) -> Any: ...
    def matrix_nodes(self, orig_index: Any, dest_index: Any) -> Any: ...


class ScenarioError(ValueError):
    """A scenario set cannot be made (e.g. a graph too small for a recipe)."""


# --- world: registries the trips refer to ------------------------------------------------------
@dataclass(frozen=True)
class SocialObject:
    id: int
    name: str
    type: str
    lat: float
    lon: float
    geofence_m: float
    node: int  # graph node index the object is reached at


def invented_objects(
    graph: GraphLike, rules: Rules, rng: np.random.Generator, *, n: int = 12, geofence_m: float
) -> list[SocialObject]:
    """Social objects on random road nodes, one type after another (for a map without its own;
    names say they are invented)."""
    picks = rng.choice(graph.node_count, size=min(n, graph.node_count), replace=False)
    types = [t.code for t in rules.social_object_types]
    out = []
    for i, node in enumerate(picks.tolist()):
        code = "medical" if i % 3 == 0 else types[i % len(types)]
        out.append(
            SocialObject(
                id=i + 1,
                name=f"{rules.object_type(code).name} № {i + 1} (вымышленный)",
                type=code,
                lat=round(float(graph.node_lat[node]), 6),
                lon=round(float(graph.node_lon[node]), 6),
                geofence_m=geofence_m,
                node=int(node),
            )
        )
    return out


# --- one trip as it was driven ----------------------------------------------------------------
@dataclass
class Run:
    """What a vehicle did on one trip: its trajectory, the events (trip seconds), the payments."""

    traj: Trajectory
    t0: datetime  # UTC: trip second 0 (en route)
    events: list[tuple[float, EventType, dict[str, Any]]] = field(default_factory=list)
    obs: Observation | None = None
    final_status: str = "completed"


@dataclass(frozen=True)
class Booked:
    trip_id: int
    passenger: dict[str, Any]
    vehicle_id: str
    vehicle_type: str
    category: str
    home: int  # node index
    obj: SocialObject | None
    dest_node: int
    pickup_time: datetime  # UTC
    planned: Any  # routing Route
    fare_kop: int
    co_payment_due_kop: int
    quota_override: bool = False


@dataclass(frozen=True)
class _EdgePath:
    edges: np.ndarray


class Roads:
    """Graph helpers shared by the recipes."""

    def __init__(self, graph: GraphLike) -> None:
        self.g = graph
        self.proj = Projector(graph.utm_epsg)
        self.nx, self.ny = self.proj.to_xy(graph.node_lat, graph.node_lon)

    def route(self, a: int, b: int) -> Any:
        return self.g.route_nodes(int(a), int(b))

    def drive(self, tb: TrajectoryBuilder, route: Any, style: DriveStyle) -> None:
        edges = np.asarray(route.edges, np.int64)
        if edges.size == 0:
            return
        lat, lon, ends = edge_polyline(edges, self.g.geom_ptr, self.g.geom_lon, self.g.geom_lat)
        x, y = self.proj.to_xy(lat, lon)
        tb.drive(x, y, ends, self.g.edge_speed_kmh[edges], style)

    def avoiding(self, a: int, b: int, avoid: np.ndarray, penalty: float = 4.0) -> np.ndarray:
        """Edge ids of the shortest path (by length) from node ``a`` to ``b`` when the edges
        ``avoid`` count ``penalty`` times their length (the penalty method of alternative
        routes); empty when ``b`` cannot be reached."""
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import dijkstra

        g = self.g
        w = g.edge_length_m.astype(np.float64).copy()
        w[avoid] *= penalty
        n = g.node_count
        # one weight per (u, v): the lightest parallel edge (csr_matrix would sum duplicates)
        order = np.lexsort((w, g.edge_v, g.edge_u))
        key = g.edge_u[order].astype(np.int64) * n + g.edge_v[order]
        first = np.concatenate(([True], key[1:] != key[:-1]))
        best = order[first]
        m = csr_matrix((w[best] + 1e-9, (g.edge_u[best], g.edge_v[best])), shape=(n, n))
        _, pred = dijkstra(m, indices=a, return_predecessors=True)
        if pred[b] < 0 and a != b:
            return np.empty(0, np.int64)
        nodes = [b]
        while nodes[-1] != a:
            nodes.append(int(pred[nodes[-1]]))
        nodes.reverse()
        lookup = dict(zip(key[first].tolist(), best.tolist(), strict=True))
        return np.array(
            [lookup[u * n + v] for u, v in zip(nodes[:-1], nodes[1:], strict=True)], np.int64
        )

    def dist_m(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.asarray(self.g.matrix_nodes(a, b).dist_m)


def _style(rng: np.random.Generator) -> DriveStyle:
    return DriveStyle(vehicle_factor=float(rng.uniform(0.85, 1.05)))


def drive_trip(
    kit: Roads,
    *,
    start: int,
    pickup: int,
    legs: Sequence[int | np.ndarray],
    pickup_time: datetime,
    rng: np.random.Generator,
    arrive_offset_s: float,
    boarding_s: float,
    alighting_s: float = 60.0,
    style: DriveStyle | None = None,
) -> Run:
    """An honest drive: ``start`` → ``pickup`` arriving ``arrive_offset_s`` after the booked
    time (negative: early), board, then through ``legs`` — nodes reached by the fastest route,
    or explicit paths as arrays of edge ids — (the last ends at the drop-off), alight.
    Events carry trip seconds; payment is added by the caller."""
    style = style or _style(rng)
    tb = TrajectoryBuilder((float(kit.nx[start]), float(kit.ny[start])), rng)
    kit.drive(tb, kit.route(start, pickup), style)
    approach_s = tb.now_s
    t0 = pickup_time + timedelta(seconds=arrive_offset_s - approach_s)
    arrive = tb.mark("at_pickup")
    booked_s = (pickup_time - t0).total_seconds()  # the booked time in trip seconds
    tb.dwell(max(arrive, booked_s) + boarding_s - arrive)
    tb.mark("on_board")
    at = pickup
    for leg in legs:
        if isinstance(leg, np.ndarray):  # an explicit path: edge ids from where the vehicle is
            kit.drive(tb, _EdgePath(leg), style)
            at = int(kit.g.edge_v[leg[-1]])
        else:
            kit.drive(tb, kit.route(at, leg), style)
            at = int(leg)
    tb.mark("at_destination")
    tb.dwell(alighting_s)
    tb.mark("completed")
    traj = tb.build()
    m = traj.marks
    run = Run(traj=traj, t0=t0)
    run.events = [
        (0.0, EventType.EN_ROUTE, {}),
        (m["at_pickup"], EventType.ARRIVED_AT_PICKUP, {}),
        (m["on_board"], EventType.PASSENGER_ON_BOARD, {}),
        (m["at_destination"], EventType.ARRIVED_AT_DESTINATION, {}),
        (m["completed"], EventType.TRIP_COMPLETED, {}),
    ]
    return run


def pay(run: Run, amount_kop: int, rng: np.random.Generator, *, after_s: float = 20.0) -> None:
    t = max(e[0] for e in run.events) + after_s
    method = PaymentMethod.CASH if rng.random() < 0.6 else PaymentMethod.CARD
    run.events.append(
        (t, EventType.PAYMENT_COLLECTED, {"amount_kop": amount_kop, "method": method})
    )


# --- truth ------------------------------------------------------------------------------------
def coverage(fix_t_s: np.ndarray, start_s: float, end_s: float, max_gap_s: float) -> float:
    """Share of ``[start_s, end_s]`` within ``max_gap_s / 2`` of a published fix."""
    span = end_s - start_s
    if span <= 0:
        return 1.0
    t = np.sort(np.asarray(fix_t_s, np.float64))
    if t.size == 0:
        return 0.0
    half = max_gap_s / 2
    a = np.clip(t - half, start_s, end_s)
    b = np.clip(t + half, start_s, end_s)
    # union of intervals sorted by start: cumulative max of ends
    prev_end = np.maximum.accumulate(np.concatenate(([start_s], b[:-1])))
    covered = np.maximum(0.0, b - np.maximum(a, prev_end))
    return float(np.minimum(1.0, covered.sum() / span))


def dropoff_xy(run: Run) -> tuple[float, float]:
    """Where the vehicle really was at ``trip_completed`` (UTM metres)."""
    traj = run.traj
    x, y = traj.point_at_distance(traj.distance_at(np.array([traj.marks["completed"]])))
    return float(x[0]), float(y[0])


def at_allowed_object(
    x: float, y: float, allowed: Sequence[str], objects: Sequence[SocialObject], kit: Roads
) -> bool:
    """Whether ``(x, y)`` lies inside the geofence of an object of a type in ``allowed`` (the
    category's ``allowed_object_types`` in the rules file, the list dispatch's booking check
    refuses other destinations by)."""
    if not objects:
        return False
    ox, oy = kit.proj.to_xy(np.array([o.lat for o in objects]), np.array([o.lon for o in objects]))
    inside = np.hypot(ox - x, oy - y) <= np.array([o.geofence_m for o in objects])
    ok = np.array([o.type in allowed for o in objects])
    return bool(np.any(inside & ok))


def truth_of(
    booked: Booked,
    run: Run,
    *,
    rules: Rules,
    objects: Sequence[SocialObject],
    kit: Roads,
    unsuitable: bool,
    prior: Sequence[CountedTrip] = (),
) -> dict[str, bool]:
    """What each audit rule should say of a trip, from what really happened. ``prior``: the
    passenger's earlier trips as they really ended (for the quota)."""
    a = rules.audit
    traj, m = run.traj, run.traj.marks
    completed = run.final_status == "completed"
    planned_m = float(booked.planned.dist_m)
    truth = dict.fromkeys(RULE_IDS, False)
    if completed and "on_board" in m:
        s = traj.distance_at(np.array([m["on_board"], m["at_destination"]]))
        driven = float(s[1] - s[0])
        truth["route_deviation"] = (
            driven >= a.extra_distance_ratio * planned_m
            and driven - planned_m >= DETOUR_MIN_EXTRA_M
        )
        truth["phantom_trip"] = traj.length_m < PHANTOM_MAX_M
    if "at_pickup" in m and not truth["phantom_trip"]:
        px, py = float(kit.nx[booked.home]), float(kit.ny[booked.home])
        came = traj.min_distance_to(px, py) <= FALSE_NO_SHOW_M
        arrived = run.t0 + timedelta(seconds=m["at_pickup"])
        late_s = (arrived - booked.pickup_time).total_seconds()
        truth["late_pickup"] = came and late_s > a.late_pickup_tolerance_min * 60
        truth["false_no_show"] = run.final_status == "no_show" and not came
    category = rules.category(booked.category)
    if completed and booked.obj is not None:
        # dispatch's own quota count over the passenger's earlier trips (the booking check's)
        q = quota_status(
            category=category,
            object_type=rules.object_type(booked.obj.type),
            trips=prior,
            pickup_at=booked.pickup_time,
            tz=rules.timezone,
            pair_counts_as=rules.return_trips.pair_counts_as,
        )
        truth["over_quota"] = q.over and not booked.quota_override
    if completed:
        x, y = dropoff_xy(run)
        truth["non_social_destination"] = not at_allowed_object(
            x, y, category.allowed_object_types, objects, kit
        )
    paid = [e[2]["amount_kop"] for e in run.events if e[1] is EventType.PAYMENT_COLLECTED]
    due = booked.co_payment_due_kop
    if completed:
        truth["improper_copayment"] = len(paid) > 1 or (len(paid) == 1 and paid[0] != due)
    else:
        truth["improper_copayment"] = len(paid) > 0
    ev_t = [e[0] for e in run.events if e[1] is not EventType.PAYMENT_COLLECTED]
    if run.obs is not None:
        cov = coverage(run.obs.t_s, min(ev_t), max(ev_t), a.max_gps_gap_s)
        truth["poor_gps_coverage"] = cov < a.gps_coverage_min
    truth["unsuitable_vehicle"] = unsuitable
    return {k: bool(v) for k, v in truth.items()}


# --- the generator ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ScenarioOptions:
    trips: int = 40
    seed: int = 7
    day: date = date(2026, 3, 2)
    kinds: tuple[str, ...] = KINDS
    map_name: str = ""
    map_sha256: str = ""


_EXEMPT = ("veteran_wwii", "disabled_child")
_PAYING = ("disabled_1", "disabled_2", "age_80_plus", "hemodialysis")


class _Generator:
    def __init__(
        self, graph: GraphLike, rules: Rules, opts: ScenarioOptions, objects: list[SocialObject]
    ) -> None:
        self.g, self.rules, self.opts = graph, rules, opts
        self.rng = np.random.default_rng(opts.seed)
        self.kit = Roads(graph)
        self.tz = ZoneInfo(rules.timezone)
        self.objects = objects or invented_objects(
            graph, rules, self.rng, geofence_m=rules.audit.destination_geofence_m
        )
        self.passengers: list[dict[str, Any]] = []
        self.vehicles: list[dict[str, Any]] = []
        self.trips: list[dict[str, Any]] = []
        self.history: dict[int, list[CountedTrip]] = {}  # per passenger, as the trips ended
        self.quota_groups = 0
        self.dropped_at: set[int] = set()  # objects a wrong-type drop-off ended at
        self.dropoffs: dict[int, tuple[float, float]] = {}  # completed trips: true drop-off

    # ---- helpers -------------------------------------------------------------------------
    def node(self) -> int:
        return int(self.rng.integers(self.g.node_count))

    def nodes(self, n: int) -> np.ndarray:
        return self.rng.choice(self.g.node_count, size=min(n, self.g.node_count), replace=False)

    def allowed(self, category: str) -> tuple[str, ...]:
        """Object types the category may travel to (the rules file's list)."""
        return self.rules.category(category).allowed_object_types

    def object_for(self, category: str) -> SocialObject:
        allowed = self.allowed(category)
        fits = [o for o in self.objects if o.type in allowed]
        if not fits:
            raise ScenarioError(f"в реестре нет объекта, разрешённого категории «{category}»")
        return fits[int(self.rng.integers(len(fits)))]

    def category_for(self, kind: str, obj: SocialObject | None) -> str:
        """A category the kind needs (exempt, paying) that may travel to ``obj`` (or to some
        registered object)."""
        if kind == "exempt_payment":
            pool: tuple[str, ...] = _EXEMPT
        elif kind in ("overcharge", "repeated_payment"):
            pool = _PAYING[:3]
        else:
            pool = _PAYING + _EXEMPT
        types = {obj.type} if obj is not None else {o.type for o in self.objects}
        fits = [c for c in pool if types & set(self.allowed(c))]
        if not fits:
            raise ScenarioError(f"нет категории для сценария «{kind}» с такими объектами")
        return fits[int(self.rng.integers(len(fits)))]

    def start_near(self, pickup: int, lo_m: float = 800, hi_m: float = 4000) -> int:
        cands = self.nodes(60)
        d = self.kit.dist_m(cands, np.array([pickup]))[:, 0]
        ok = np.flatnonzero((d >= lo_m) & (d <= hi_m))
        if ok.size == 0:
            ok = np.flatnonzero(np.isfinite(d) & (d > 0))
        return int(cands[ok[int(self.rng.integers(ok.size))]]) if ok.size else pickup

    def pickup_time(self, day: date | None = None) -> datetime:
        minutes = int(self.rng.integers(8 * 12, 18 * 12)) * 5
        local = datetime.combine(day or self.opts.day, time(0), self.tz) + timedelta(
            minutes=minutes
        )
        return local.astimezone(UTC)

    # ---- booking -------------------------------------------------------------------------
    def book(
        self,
        kind: str,
        *,
        home: int | None = None,
        obj: SocialObject | None = None,
        category: str | None = None,
        passenger: dict[str, Any] | None = None,
        day: date | None = None,
        quota_override: bool = False,
    ) -> Booked:
        rng = self.rng
        trip_id = len(self.trips) + 1
        category = category or self.category_for(kind, obj)
        if passenger is not None:
            wheelchair = bool(passenger["wheelchair"])
        else:
            wheelchair = kind == "unsuitable_vehicle" or bool(rng.random() < 0.08)
        vehicle_type = "car" if kind == "unsuitable_vehicle" or not wheelchair else "wheelchair_van"
        obj = obj or self.object_for(category)
        min_m = 1500.0 if kind == "alternative_route" else 700.0
        for _ in range(50):
            home = home if home is not None else self.node()
            if home != obj.node:
                try:
                    planned = self.kit.route(home, obj.node)
                except NoRoute:  # try another home
                    home = None
                    continue
                if planned.dist_m >= min_m:
                    break
            home = None
        else:
            raise ScenarioError(f"карта слишком мала: не найден маршрут длиннее {min_m:.0f} м")
        q = quote(
            self.rules, category=category, vehicle_type=vehicle_type, distance_m=planned.dist_m
        )
        passenger = passenger or {
            "id": trip_id,
            "categories": [category],
            "wheelchair": wheelchair,
            "needs_companion": False,
        }
        return Booked(
            trip_id=trip_id,
            passenger=passenger,
            vehicle_id=f"sim-{trip_id:03d}",
            vehicle_type=vehicle_type,
            category=category,
            home=int(home),
            obj=obj,
            dest_node=obj.node,
            pickup_time=self.pickup_time(day),
            planned=planned,
            fare_kop=q.fare_kop,
            co_payment_due_kop=q.copay_kop,
            quota_override=quota_override,
        )

    # ---- recipes -------------------------------------------------------------------------
    def honest(self, b: Booked, **kw: Any) -> Run:
        rng = self.rng
        return drive_trip(
            self.kit,
            start=self.start_near(b.home),
            pickup=b.home,
            legs=kw.pop("legs", [b.dest_node]),
            pickup_time=b.pickup_time,
            rng=rng,
            arrive_offset_s=kw.pop("arrive_offset_s", float(rng.uniform(-300, 240))),
            boarding_s=float(rng.uniform(60, 240)),
            **kw,
        )

    def waypoints(
        self, b: Booked, accept: Callable[[np.ndarray], np.ndarray], *, n: int = 2000
    ) -> np.ndarray:
        """Nodes ``w`` (in random order) for which ``accept(len(home→w) + len(w→dest))``."""
        cands = self.nodes(n)
        d1 = self.kit.dist_m(np.array([b.home]), cands)[0]
        d2 = self.kit.dist_m(cands, np.array([b.dest_node]))[:, 0]
        total = d1 + d2
        return cands[np.isfinite(total) & accept(total)]

    def waypoint(self, b: Booked, accept: Callable[[np.ndarray], np.ndarray]) -> int | None:
        ok = self.waypoints(b, accept, n=400)
        return int(ok[int(self.rng.integers(ok.size))]) if ok.size else None

    def alternative(self, b: Booked) -> tuple[list[int | np.ndarray], float] | None:
        """Legs of a route at most 3 % longer (by distance; often shorter — the planned one is
        the fastest, not the shortest) that shares at most half the planned one's length: the
        penalty method first (planned edges count 1.5×, 2×, 4× their length), then single
        waypoints."""
        planned = float(b.planned.dist_m)
        plan = np.asarray(b.planned.edges, np.int64)
        plan_edges = set(plan.tolist())
        length = self.g.edge_length_m

        def share(edges: list[int]) -> float:
            return float(length[[e for e in edges if e in plan_edges]].sum()) / max(planned, 1.0)

        for penalty in (1.5, 2.0, 4.0):
            path = self.kit.avoiding(b.home, b.dest_node, plan, penalty)
            if path.size and float(length[path].sum()) <= planned * ALT_ROUTE_MAX_RATIO:
                sh = share(path.tolist())
                if sh <= ALT_ROUTE_MAX_SHARED:
                    return [path], sh
        ok = self.waypoints(b, lambda t: t <= planned * ALT_ROUTE_MAX_RATIO)
        for w in ok[:60].tolist():
            r1, r2 = self.kit.route(b.home, w), self.kit.route(w, b.dest_node)
            sh = share(np.concatenate((r1.edges, r2.edges)).tolist())
            if sh <= ALT_ROUTE_MAX_SHARED:
                return [int(w), b.dest_node], sh
        return None

    def make(self, kind: str) -> tuple[Booked, Run, dict[str, Any]]:
        rng = self.rng
        a = self.rules.audit
        if kind == "one_way_detour":
            return self.one_way()
        if kind == "alternative_route":
            return self.alternative_kind()
        for _ in range(60):
            b = self.book(kind)
            planned = float(b.planned.dist_m)
            recipe: dict[str, Any] = {}
            if kind == "detour":
                lo = max(
                    max(a.extra_distance_ratio * planned, planned + DETOUR_MIN_EXTRA_M) * 1.05,
                    max(a.extra_distance_ratio * planned, planned + DETOUR_MIN_EXTRA_M)
                    + DEVIATION_MARGIN_M,
                )

                def far(total: np.ndarray, lo: float = lo) -> np.ndarray:
                    return (total >= lo) & (total <= lo * 1.8 + 2000)

                w = self.waypoint(b, far)
                if w is None:
                    continue
                run = self.honest(b, legs=[w, b.dest_node])
                recipe = {"via_node": int(self.g.node_id[w])}
            elif kind == "late_pickup":
                late = float(rng.uniform(18, 58)) * 60
                run = self.honest(b, arrive_offset_s=late)
                recipe = {"late_min": round(late / 60, 1)}
            elif kind == "late_within_tolerance":
                late = float(rng.uniform(4, a.late_pickup_tolerance_min - 3)) * 60
                run = self.honest(b, arrive_offset_s=late)
                recipe = {"late_min": round(late / 60, 1)}
            elif kind == "wait_near_pickup":
                early = float(rng.uniform(10, 12)) * 60
                run = self.honest(b, arrive_offset_s=-early)
                recipe = {"early_min": round(early / 60, 1)}
            elif kind == "false_no_show":
                run_ = self.false_no_show(b)
                if run_ is None:
                    continue
                run = run_
                recipe = {
                    "closest_m": round(
                        run.traj.min_distance_to(
                            float(self.kit.nx[b.home]), float(self.kit.ny[b.home])
                        ),
                        0,
                    )
                }
            elif kind == "non_social_destination":
                w = self.away_from_objects(b)
                if w is None:
                    continue
                run = self.honest(b, legs=[w])
                recipe = {"dropoff_node": int(self.g.node_id[w])}
            elif kind == "wrong_object_type":
                other = self.wrong_type_object(b)
                if other is None:
                    continue
                run = self.honest(b, legs=[other.node])
                recipe = {"dropoff_object_id": other.id, "dropoff_type": other.type}
                self.dropped_at.add(other.id)
            elif kind == "shared_site":
                if b.obj is not None and b.obj.id in self.dropped_at:
                    continue  # a wrong-type drop-off there would become an allowed one
                other = self.beside(b)
                if other is None:
                    continue
                run = self.honest(b)
                recipe = {"beside_object_id": other.id, "beside_type": other.type}
            elif kind == "phantom_trip":
                run = self.phantom(b)
            elif kind == "payment_not_completed":
                run, recipe = self.not_completed(b)
            else:
                run = self.honest(b)
            margins = self.margins(b, run)
            if self.borderline(margins):
                continue
            return b, run, {**recipe, **margins}
        raise ScenarioError(f"не удалось построить сценарий «{kind}» на этой карте")

    def margins(self, b: Booked, run: Run) -> dict[str, float]:
        """How far a completed trip is from the deviation boundary (``deviation_slack_m``: the
        smaller of ``driven − ratio × planned`` and ``driven − planned − 1,500 m``, positive
        when it is a deviation) and from the edge of the deciding geofence
        (``geofence_edge_m``: the deepest inside an allowed object's geofence, negative, or the
        nearest outside, positive); empty for a trip not completed."""
        if run.final_status != "completed" or "on_board" not in run.traj.marks:
            return {}
        a, m = self.rules.audit, run.traj.marks
        s = run.traj.distance_at(np.array([m["on_board"], m["at_destination"]]))
        driven, planned = float(s[1] - s[0]), float(b.planned.dist_m)
        out = {
            "deviation_slack_m": round(
                min(
                    driven - a.extra_distance_ratio * planned,
                    driven - planned - DETOUR_MIN_EXTRA_M,
                ),
                1,
            )
        }
        ok = [o for o in self.objects if o.type in self.allowed(b.category)]
        if ok:
            x, y = dropoff_xy(run)
            ox, oy = self.kit.proj.to_xy(
                np.array([o.lat for o in ok]), np.array([o.lon for o in ok])
            )
            edge = np.hypot(ox - x, oy - y) - np.array([o.geofence_m for o in ok])
            out["geofence_edge_m"] = round(float(edge.min()), 1)
        return out

    def borderline(self, margins: dict[str, float]) -> bool:
        """Whether a trip is closer to a threshold than ``DEVIATION_MARGIN_M`` or
        ``GEOFENCE_MARGIN_M`` (see :meth:`margins`)."""
        dev = margins.get("deviation_slack_m")
        edge = margins.get("geofence_edge_m")
        return (dev is not None and abs(dev) < DEVIATION_MARGIN_M) or (
            edge is not None and abs(edge) < GEOFENCE_MARGIN_M
        )

    def invented_object(
        self, node: int, why: str, *, type_: str = "medical", offset_m: float = 0.0
    ) -> SocialObject:
        """An object at a road node (or ``offset_m`` from it in a random direction)."""
        lat, lon = float(self.g.node_lat[node]), float(self.g.node_lon[node])
        if offset_m:
            a = float(self.rng.uniform(0, 2 * np.pi))
            la, lo = self.kit.proj.to_latlon(
                np.array([self.kit.nx[node] + offset_m * np.cos(a)]),
                np.array([self.kit.ny[node] + offset_m * np.sin(a)]),
            )
            lat, lon = float(la[0]), float(lo[0])
        return SocialObject(
            id=max(o.id for o in self.objects) + 1,
            name=f"{self.rules.object_type(type_).name} (вымышленный, {why})",
            type=type_,
            lat=round(lat, 6),
            lon=round(lon, 6),
            geofence_m=self.rules.audit.destination_geofence_m,
            node=node,
        )

    def _not_allowed(self, category: str) -> list[str]:
        allowed = self.allowed(category)
        return [t.code for t in self.rules.social_object_types if t.code not in allowed]

    def wrong_type_object(self, b: Booked) -> SocialObject | None:
        """A registered object whose type ``b``'s category may not travel to, with its node
        at least ``WRONG_TYPE_CLEAR_M`` outside every allowed object's geofence (invented at such
        a node when the registry has none)."""
        allowed = self.allowed(b.category)
        ok = [o for o in self.objects if o.type in allowed]
        ox, oy = self.kit.proj.to_xy(np.array([o.lat for o in ok]), np.array([o.lon for o in ok]))
        reach = np.array([o.geofence_m for o in ok]) + WRONG_TYPE_CLEAR_M
        d = np.hypot(self.kit.nx[:, None] - ox[None, :], self.kit.ny[:, None] - oy[None, :])
        clear = np.all(d > reach[None, :], axis=1)
        cands = [o for o in self.objects if o.type not in allowed and clear[o.node]]
        if cands:
            dist = self.kit.dist_m(np.array([b.home]), np.array([o.node for o in cands]))[0]
            good = [o for o, m in zip(cands, dist.tolist(), strict=True) if 500 < m < np.inf]
            if good:
                return good[int(self.rng.integers(len(good)))]
        nodes = np.flatnonzero(clear)
        types = self._not_allowed(b.category)
        if nodes.size == 0 or not types:
            return None
        picks = nodes[self.rng.choice(nodes.size, size=min(40, nodes.size), replace=False)]
        dist = self.kit.dist_m(np.array([b.home]), picks)[0]
        picks = picks[np.isfinite(dist) & (dist > 500)]
        if picks.size == 0:
            return None
        type_ = types[int(self.rng.integers(len(types)))]
        obj = self.invented_object(
            int(picks[int(self.rng.integers(picks.size))]), "другой тип", type_=type_
        )
        return obj if self.register(obj) else None

    def beside(self, b: Booked) -> SocialObject | None:
        """Register an object of a type ``b``'s category may not travel to on the same site as
        ``b``'s destination (20–60 m from it, inside its geofence); ``None`` when no place
        keeps the earlier drop-offs' margins."""
        assert b.obj is not None
        types = self._not_allowed(b.category)
        if not types:
            raise ScenarioError(f"категории «{b.category}» разрешены все типы объектов")
        type_ = types[int(self.rng.integers(len(types)))]
        for _ in range(10):
            obj = self.invented_object(
                b.obj.node,
                f"рядом с № {b.obj.id}",
                type_=type_,
                offset_m=float(self.rng.uniform(20, 60)),
            )
            if self.register(obj):
                return obj
        return None

    def register(self, obj: SocialObject) -> bool:
        """Add an invented object to the registry unless its geofence edge passes within
        ``GEOFENCE_MARGIN_M`` of a drop-off already made (the registry every trip is audited
        against only grows, and must not move an earlier trip next to a threshold)."""
        if self.dropoffs:
            xy = np.array(list(self.dropoffs.values()))
            ox, oy = self.kit.proj.to_xy(np.array([obj.lat]), np.array([obj.lon]))
            edge = np.hypot(xy[:, 0] - ox[0], xy[:, 1] - oy[0]) - obj.geofence_m
            if np.any(np.abs(edge) < GEOFENCE_MARGIN_M):
                return False
        self.objects.append(obj)
        return True

    def quota_group(self) -> None:
        """One passenger's trips that reach a limit and go past it: ``limit − 1`` trips
        (``quota_history``), the one exactly at the limit (``quota_at_limit``), one more
        (``over_quota``) and one more with an approved override (``quota_override``). Groups
        alternate: the category's monthly limit (trips on distinct days of ``--day``'s month)
        and an object type's yearly cap (trips in distinct months of its year)."""
        rng, rules = self.rng, self.rules
        pool = _PAYING + _EXEMPT
        yearly = self.quota_groups % 2 == 1
        self.quota_groups += 1
        capped = [
            (c, t.code, t.yearly_limit)
            for t in rules.social_object_types
            if t.yearly_limit is not None
            for c in pool
            if t.code in self.allowed(c)
        ]
        year = self.opts.day.year
        if yearly and capped:
            category, type_, limit = capped[int(rng.integers(len(capped)))]
            for _ in range(50):
                if any(o.type == type_ for o in self.objects):
                    break
                self.register(self.invented_object(self.node(), "лимит на год", type_=type_))
            months = np.sort(rng.choice(12, size=limit + 2, replace=False)) + 1
            days = [date(year, int(mo), int(rng.integers(1, 29))) for mo in months]
            objs = [o for o in self.objects if o.type == type_]
        else:
            monthly = [c for c in pool if rules.category(c).monthly_limit <= 6]
            category = monthly[int(rng.integers(len(monthly)))]
            limit = rules.category(category).monthly_limit
            first = self.opts.day.replace(day=1)
            n_days = ((first + timedelta(days=32)).replace(day=1) - first).days
            picks = np.sort(rng.choice(n_days, size=limit + 2, replace=False)) + 1
            days = [first.replace(day=int(d)) for d in picks]
            # types without a yearly cap of their own, so only the monthly limit is reached
            objs = [
                o
                for o in self.objects
                if o.type in self.allowed(category)
                and rules.object_type(o.type).yearly_limit is None
            ]
        if not objs:
            raise ScenarioError(f"нет объекта для поездок категории «{category}» сверх лимита")
        first_b: Booked | None = None
        for k, day in enumerate(days):
            kind = (
                "quota_history"
                if k < limit - 1
                else ("quota_at_limit", "over_quota", "quota_override")[k - limit + 1]
            )
            b = self.book(
                kind,
                obj=objs[int(rng.integers(len(objs)))],
                category=category,
                home=None if first_b is None else first_b.home,
                passenger=None if first_b is None else first_b.passenger,
                day=day,
                quota_override=kind == "quota_override",
            )
            first_b = first_b or b
            recipe = {
                "quota_group": self.quota_groups,
                "period": "year" if yearly and capped else "month",
                "rank": k + 1,
                "limit": limit,
            }
            self.finish(kind, b, self.honest(b), recipe)

    def alternative_kind(self) -> tuple[Booked, Run, dict[str, Any]]:
        """Driven by an equally short route on mostly other streets. When no registered object
        has such an approach from the homes tried, an object is invented at a node that has."""
        for attempt in range(60):
            obj = self.invented_object(self.node(), "объезд") if attempt >= 20 else None
            b = self.book("alternative_route", obj=obj)
            alt = self.alternative(b)
            if alt is None or (obj is not None and not self.register(obj)):
                continue
            legs, sh = alt
            run = self.honest(b, legs=legs)
            via = "penalty" if isinstance(legs[0], np.ndarray) else int(self.g.node_id[legs[0]])
            return b, run, {"via": via, "shared_share": round(sh, 3)}
        raise ScenarioError("не удалось построить сценарий «alternative_route» на этой карте")

    def one_way(self) -> tuple[Booked, Run, dict[str, Any]]:
        """A destination object where the fastest way there is much longer than the way back
        (one-way streets): driven as planned, so no deviation. When no registered object has
        such an approach, one is invented at a node that has (said in its name)."""
        objs = np.array([o.node for o in self.objects])
        for attempt in range(12):
            homes = self.nodes(150)
            targets = objs if attempt < 6 else self.nodes(150)
            there = self.kit.dist_m(homes, targets)
            back = self.kit.dist_m(targets, homes).T
            ok = np.argwhere(
                np.isfinite(there) & (there >= 1.3 * back) & (there - back >= 400) & (back >= 300)
            )
            if not ok.size:
                continue
            i, j = (int(v) for v in ok[int(self.rng.integers(len(ok)))])
            if attempt < 6:
                obj = self.objects[j]
            else:
                obj = self.invented_object(int(targets[j]), "за односторонним движением")
                if not self.register(obj):
                    continue
            b = self.book("one_way_detour", home=int(homes[i]), obj=obj)
            run = self.honest(b)
            return (
                b,
                run,
                {
                    "there_m": round(float(there[i, j]), 1),
                    "back_m": round(float(back[i, j]), 1),
                    "ratio": round(float(there[i, j] / back[i, j]), 2),
                },
            )
        raise ScenarioError("на карте не найдено одностороннего объезда")

    def false_no_show(self, b: Booked) -> Run | None:
        px, py = self.kit.nx[b.home], self.kit.ny[b.home]
        d = np.hypot(self.kit.nx - px, self.kit.ny - py)
        far = np.flatnonzero(d > 700)
        if far.size < 2:
            return None
        rng = self.rng
        for _ in range(10):
            start, park = (int(v) for v in rng.choice(far, 2, replace=False))
            tb = TrajectoryBuilder((float(self.kit.nx[start]), float(self.kit.ny[start])), rng)
            try:
                self.kit.drive(tb, self.kit.route(start, park), _style(rng))
            except NoRoute:
                continue
            arrive = tb.mark("at_pickup")
            wait = float(rng.uniform(8, 15)) * 60
            tb.dwell(wait)
            tb.mark("no_show")
            traj = tb.build()
            if traj.min_distance_to(float(px), float(py)) <= FALSE_NO_SHOW_M + 100:
                continue
            t0 = b.pickup_time + timedelta(seconds=float(rng.uniform(-120, 300)) - arrive)
            run = Run(traj=traj, t0=t0, final_status="no_show")
            run.events = [
                (0.0, EventType.EN_ROUTE, {}),
                (arrive, EventType.ARRIVED_AT_PICKUP, {}),
                (arrive + wait, EventType.NO_SHOW, {"reason": "Пассажир не вышел"}),
            ]
            return run
        return None

    def away_from_objects(self, b: Booked) -> int | None:
        ox, oy = self.kit.proj.to_xy(
            np.array([o.lat for o in self.objects]), np.array([o.lon for o in self.objects])
        )
        d = np.hypot(self.kit.nx[:, None] - ox[None, :], self.kit.ny[:, None] - oy[None, :])
        ok = np.flatnonzero(d.min(axis=1) > self.rules.audit.destination_geofence_m + 400)
        if ok.size == 0:
            return None
        cands = ok[self.rng.choice(ok.size, size=min(40, ok.size), replace=False)]
        dist = self.kit.dist_m(np.array([b.home]), cands)[0]
        good = cands[np.isfinite(dist) & (dist > 500)]
        return int(good[int(self.rng.integers(good.size))]) if good.size else None

    def phantom(self, b: Booked) -> Run:
        """Completed with no movement: every event sent from one parking spot, spaced as a
        real trip would be."""
        rng = self.rng
        spot = self.node()
        tb = TrajectoryBuilder((float(self.kit.nx[spot]), float(self.kit.ny[spot])), rng)
        approach = float(rng.uniform(300, 900))
        ride = float(b.planned.duration_s) * float(rng.uniform(1.0, 1.3))
        times = np.cumsum([0.0, approach, float(rng.uniform(60, 180)), ride, 60.0])
        tb.dwell(float(times[-1]))
        traj = tb.build()
        traj.marks.update(
            at_pickup=times[1], on_board=times[2], at_destination=times[3], completed=times[4]
        )
        t0 = b.pickup_time - timedelta(seconds=approach)
        run = Run(traj=traj, t0=t0)
        kinds = (
            EventType.EN_ROUTE,
            EventType.ARRIVED_AT_PICKUP,
            EventType.PASSENGER_ON_BOARD,
            EventType.ARRIVED_AT_DESTINATION,
            EventType.TRIP_COMPLETED,
        )
        run.events = [(float(t), k, {}) for t, k in zip(times, kinds, strict=True)]
        return run

    def not_completed(self, b: Booked) -> tuple[Run, dict[str, Any]]:
        """Payment collected on a trip that ended no-show (the vehicle really came and waited)
        or was cancelled while the vehicle was on its way."""
        rng = self.rng
        start = self.start_near(b.home)
        tb = TrajectoryBuilder((float(self.kit.nx[start]), float(self.kit.ny[start])), rng)
        self.kit.drive(tb, self.kit.route(start, b.home), _style(rng))
        arrive = tb.mark("at_pickup")
        cancelled = bool(rng.random() < 0.5)
        wait = float(rng.uniform(10, 16)) * 60
        tb.dwell(wait)
        traj = tb.build()
        t0 = b.pickup_time + timedelta(seconds=float(rng.uniform(-240, 120)) - arrive)
        run = Run(traj=traj, t0=t0, final_status="cancelled" if cancelled else "no_show")
        run.events = [(0.0, EventType.EN_ROUTE, {}), (arrive, EventType.ARRIVED_AT_PICKUP, {})]
        if not cancelled:
            run.events.append((arrive + wait, EventType.NO_SHOW, {"reason": "Пассажир не вышел"}))
        amount = b.co_payment_due_kop or int(rng.integers(50, 300)) * 100
        pay(run, amount, rng)
        return run, {"ended": run.final_status, "amount_kop": amount}

    # ---- GPS and payments ---------------------------------------------------------------
    def gps(self, kind: str, run: Run) -> dict[str, Any]:
        rng = self.rng
        recipe: dict[str, Any] = {}
        if kind == "noisy_honest":
            model = GpsModel(sigma_m=float(rng.uniform(15, 20)), tau_s=float(rng.uniform(30, 60)))
            interval = 30.0
        else:
            model = GpsModel(sigma_m=float(rng.uniform(3, 8)), tau_s=float(rng.uniform(20, 60)))
            interval = float(rng.choice([1.0, 2.0, 5.0, 5.0, 10.0]))
        end = max(e[0] for e in run.events if e[1] is not EventType.PAYMENT_COLLECTED)
        t = sample_times(end + 30.0, interval, rng)
        dropouts: list[tuple[float, float]] = []
        offline: list[tuple[float, float]] = []
        m = run.traj.marks
        ride = (m.get("on_board", 0.0), m.get("at_destination", end))
        if kind == "gps_gap":
            # uncovered for 35–60 % of the trip: the coverage measure forgives max_gps_gap_s / 2
            # on each side of a fix, so the dropout is that much longer
            share = float(rng.uniform(0.35, 0.6))
            gap = min(share * end + self.rules.audit.max_gps_gap_s, 0.95 * end)
            a0 = float(rng.uniform(0.02 * end, 0.98 * end - gap))
            dropouts.append((a0, a0 + gap))
            recipe["gap_share"] = round(share, 2)
            recipe["gap_s"] = round(gap, 1)
        elif kind == "tunnel_dropout":
            interval = 5.0
            t = sample_times(end + 30.0, interval, rng)
            length = float(rng.uniform(40, 90))
            a0 = float(rng.uniform(ride[0], max(ride[0], ride[1] - length)))
            dropouts.append((a0, a0 + length))
            recipe["dropout_s"] = round(length, 1)
        elif kind == "honest" and rng.random() < 0.5 and ride[1] - ride[0] > 240:
            a0 = float(rng.uniform(ride[0], ride[1] - 180))
            offline.append((a0, a0 + float(rng.uniform(60, 180))))
            recipe["offline_s"] = round(offline[0][1] - offline[0][0], 1)
        run.obs = observe(run.traj.sample(t), t, model, rng, dropouts=dropouts, offline=offline)
        recipe.update(
            sigma_m=round(model.sigma_m, 1), tau_s=round(model.tau_s, 1), interval_s=interval
        )
        return recipe

    def payments(self, kind: str, b: Booked, run: Run) -> dict[str, Any]:
        rng = self.rng
        due = b.co_payment_due_kop
        if run.final_status != "completed":
            return {}
        if kind == "overcharge":
            extra = int(rng.integers(5, 40)) * 1000
            pay(run, due + extra, rng)
            return {"overcharge_kop": extra}
        if kind == "exempt_payment":
            amount = int(rng.integers(50, 300)) * 100
            pay(run, amount, rng)
            return {"amount_kop": amount}
        if due > 0:
            pay(run, due, rng)
            if kind == "repeated_payment":
                pay(run, due, rng, after_s=float(rng.uniform(30, 600)))
                return {"payments": 2}
        return {}

    # ---- output -------------------------------------------------------------------------
    def emit(self, kind: str, b: Booked, run: Run, recipe: dict[str, Any]) -> None:
        assert run.obs is not None
        obs = run.obs
        t0_us = to_epoch_us(run.t0)
        lat, lon = self.kit.proj.to_latlon(obs.x, obs.y)
        ts_us = t0_us + np.round(obs.t_s * 1e6).astype(np.int64)
        fixes = fixes_from_columns(
            ts_us,
            lat,
            lon,
            speed_kmh=obs.speed_kmh,
            heading_deg=obs.heading_deg,
            accuracy_m=obs.accuracy_m,
            satellites=obs.satellites,
        )
        events = []
        traj = run.traj
        ex, ey = traj.point_at_distance(traj.distance_at(np.array([e[0] for e in run.events])))
        elat, elon = self.kit.proj.to_latlon(ex, ey)
        for k, ((t, etype, extra), la, lo) in enumerate(
            zip(run.events, elat.tolist(), elon.tolist(), strict=True)
        ):
            ts = run.t0 + timedelta(microseconds=round(t * 1e6))
            ev = VehicleEvent(
                type=etype,
                ts=ts.replace(microsecond=(ts.microsecond // 1000) * 1000),
                trip_id=b.trip_id,
                event_id=f"{b.vehicle_id}-{b.trip_id}-{k + 1}",
                lat=round(la, 6),
                lon=round(lo, 6),
                amount_kop=extra.get("amount_kop"),
                method=extra.get("method"),
                reason=extra.get("reason"),
            )
            events.append(event_object(ev))
        pid = int(b.passenger["id"])
        prior = self.history.setdefault(pid, [])
        truth = truth_of(
            b,
            run,
            rules=self.rules,
            objects=self.objects,
            kit=self.kit,
            unsuitable=b.passenger["wheelchair"]
            and self.rules.tariff(b.vehicle_type).wheelchair_places == 0,
            prior=[p for p in prior if p.pickup_at < b.pickup_time],
        )
        prior.append(
            CountedTrip(b.pickup_time, run.final_status, b.obj.type if b.obj else "", b.category)
        )
        geometry = np.round(np.asarray(b.planned.geometry.coords)[:, ::-1], 6).tolist()
        if len(prior) == 1:
            self.passengers.append(b.passenger)
        if run.final_status == "completed":
            self.dropoffs[b.trip_id] = dropoff_xy(run)
        self.vehicles.append({"id": b.vehicle_id, "type": b.vehicle_type})
        local = b.pickup_time.astimezone(self.tz)
        self.trips.append(
            {
                "id": b.trip_id,
                "passenger_id": b.passenger["id"],
                "vehicle_id": b.vehicle_id,
                "category": b.category,
                "vehicle_type": b.vehicle_type,
                "pickup": {
                    "lat": round(float(self.g.node_lat[b.home]), 6),
                    "lon": round(float(self.g.node_lon[b.home]), 6),
                },
                "destination_object_id": b.obj.id if b.obj else None,
                "destination": {
                    "lat": round(float(self.g.node_lat[b.dest_node]), 6),
                    "lon": round(float(self.g.node_lon[b.dest_node]), 6),
                },
                "pickup_time": local.isoformat(),
                "planned": {
                    "distance_m": round(float(b.planned.dist_m), 1),
                    "duration_s": round(float(b.planned.duration_s), 1),
                    "geometry": geometry,
                },
                "fare_kop": b.fare_kop,
                "co_payment_due_kop": b.co_payment_due_kop,
                "quota_override": b.quota_override,
                "final_status": run.final_status,
                "events": events,
                "fixes": [fix_object(f, ts_format="iso") for f in fixes],
                "kind": kind,
                "recipe": recipe,
                "truth": truth,
            }
        )

    def finish(self, kind: str, b: Booked, run: Run, recipe: dict[str, Any]) -> None:
        """GPS and payments for a driven trip, then its record."""
        recipe = {**recipe, **self.gps(kind, run), **self.payments(kind, b, run)}
        self.emit(kind, b, run, recipe)

    def run(self) -> dict[str, Any]:
        kinds = self.opts.kinds
        # the quota kinds come as one group (made when the first of them is due)
        leader = next((k for k in kinds if k in QUOTA_KINDS), None)
        i = 0
        while len(self.trips) < self.opts.trips:
            kind = kinds[i % len(kinds)]
            i += 1
            if kind in QUOTA_KINDS:
                if kind == leader:
                    self.quota_group()
                continue
            b, run, recipe = self.make(kind)
            self.finish(kind, b, run, recipe)
        # objects invented on the way (shared sites, ...) are in the registry every trip is
        # audited against: the destination truth is taken against the final registry
        for trip in self.trips:
            if trip["id"] in self.dropoffs:
                x, y = self.dropoffs[trip["id"]]
                allowed = self.allowed(trip["category"])
                trip["truth"]["non_social_destination"] = not at_allowed_object(
                    x, y, allowed, self.objects, self.kit
                )
        return {
            "schema": SCHEMA,
            "generator": {
                "seed": self.opts.seed,
                "map": self.opts.map_name,
                "map_sha256": self.opts.map_sha256,
                "rules_version": self.rules.version,
                "day": self.opts.day.isoformat(),
            },
            "timezone": self.rules.timezone,
            "social_objects": [
                {
                    "id": o.id,
                    "name": o.name,
                    "type": o.type,
                    "lat": o.lat,
                    "lon": o.lon,
                    "geofence_m": o.geofence_m,
                }
                for o in self.objects
            ],
            "passengers": self.passengers,
            "vehicles": self.vehicles,
            "trips": self.trips,
        }


def generate(
    graph: GraphLike,
    rules: Rules,
    opts: ScenarioOptions,
    *,
    objects: Sequence[SocialObject] = (),
) -> dict[str, Any]:
    """A labelled scenario document (``docs/scenarios.md``): ``opts.trips`` trips, kinds taken
    in turn from ``opts.kinds``. ``objects`` is the social-object registry (invented on road
    nodes when empty).

    Raises
    ------
    ScenarioError
        A recipe that cannot be made on this graph (too small, no one-way system, ...).
    """
    unknown = [k for k in opts.kinds if k not in KINDS]
    if unknown:
        raise ScenarioError(f"неизвестные виды сценариев: {', '.join(unknown)}")
    if opts.trips < 1:
        raise ScenarioError("число поездок должно быть не меньше 1")
    return _Generator(graph, rules, opts, list(objects)).run()
