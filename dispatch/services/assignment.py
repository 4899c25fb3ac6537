"""Assignment: propose vehicles for a trip, assign one (manual override allowed), plan a whole
day for the fleet, and the vehicles' last positions for the dispatcher's map.

Travel times come from routing's matrix, wrapped as the pure module's ``TravelFn``. A vehicle
starts from its last reported position (``vehicle_last_position``); without one (a morning plan
before the shift) from its carrier's depot; without a depot it is planned from its first pickup.
A vehicle carrying a passenger starts from that trip's destination at its planned end. The
candidates list and an assignment use the same vehicle state and schedule, so the lateness a
candidate shows is the lateness (a ``late`` conflict) the assignment reports.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg

from config.rules import Rules
from dispatch import planner
from dispatch.errors import Conflict, Invalid, NotFound
from dispatch.lifecycle import ASSIGNABLE, TripAction, TripStatus
from dispatch.models import (
    AssignResult,
    CandidateView,
    ConflictView,
    DayPlan,
    Trip,
    User,
    Vehicle,
    VehiclePosition,
)
from dispatch.services import AssignmentConflicts, Unavailable, scope
from dispatch.services.trips import apply_action, get_trip, log_trip_read
from dispatch.store import registry as rstore
from dispatch.store import trips as tstore


def _travel(graph: Any, when: datetime | None) -> planner.TravelFn:
    """Travel times on the graph of ``when``'s hour of the week under the active speed profile
    (``routing.profiled.graph_at``; ``None``: its all-hours speeds, for a whole day's plan)."""
    if graph is None:
        raise Unavailable("Дорожный граф не загружен: подбор машин недоступен", code="no_graph")
    from routing.profiled import graph_at

    graph = graph_at(graph, when)

    def travel(orig: np.ndarray, dest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = graph.matrix(orig[:, 0], orig[:, 1], dest[:, 0], dest[:, 1])
        return np.asarray(m.duration_s, dtype=float), np.asarray(m.dist_m, dtype=float)

    return travel


def _job(t: Trip) -> planner.TripJob:
    return planner.TripJob(
        id=t.id,
        pickup_at=t.pickup_at,
        pickup_lat=t.pickup_lat,
        pickup_lon=t.pickup_lon,
        dest_lat=t.dest_lat,
        dest_lon=t.dest_lon,
        duration_s=float(t.planned_duration_s or 0.0),
        dist_m=float(t.planned_dist_m or 0.0),
        vehicle_type=t.vehicle_type,
        wheelchair=t.wheelchair,
        companions=t.companions,
    )


def _local_day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def _snappable(graph: Any, points: list[tuple[float, float]], rules: Rules) -> list[bool]:
    """Whether the graph can snap each (lat, lon) (the others cannot be routed from)."""
    from routing import OutOfServiceArea

    if not points:
        return []
    lats = np.array([p[0] for p in points])
    lons = np.array([p[1] for p in points])
    try:
        graph.snap(lats, lons, max_dist_m=rules.booking.service_area_snap_m)
    except OutOfServiceArea as exc:
        bad = set(exc.indices)
        return [i not in bad for i in range(len(points))]
    return [True] * len(points)


START_POSITION, START_DEPOT, START_FIRST_PICKUP = "position", "depot", "first_pickup"


def _starts(
    conn: psycopg.Connection, *, graph: Any, rules: Rules, vehicles: dict[int, Vehicle]
) -> dict[int, tuple[float | None, float | None, str]]:
    """Where each vehicle starts its day: (lat, lon, kind).

    In order of preference: its last reported position (``position``); its carrier's depot
    (``depot``, a morning plan before the shift has begun); otherwise ``first_pickup``
    (``None`` coordinates: the vehicle is planned from its first pickup, that empty leg not
    counted). A point outside the service area is skipped as if it were missing.
    """
    positions = {p.vehicle_id: p for p in rstore.last_positions(conn) if p.vehicle_id in vehicles}
    carriers = {
        c.id: c
        for c in rstore.list_rows(conn, table="carriers", active=None, limit=100_000, offset=0)
    }
    options: list[tuple[int, float, float, str]] = []
    for vid, v in vehicles.items():
        pos = positions.get(vid)
        if pos is not None:
            options.append((vid, pos.lat, pos.lon, START_POSITION))
        depot = carriers.get(v.carrier_id)
        if depot is not None and depot.depot_lat is not None and depot.depot_lon is not None:
            options.append((vid, depot.depot_lat, depot.depot_lon, START_DEPOT))
    ok = _snappable(graph, [(o[1], o[2]) for o in options], rules)
    out: dict[int, tuple[float | None, float | None, str]] = {}
    for (vid, lat, lon, kind), good in zip(options, ok, strict=True):
        if good and vid not in out:
            out[vid] = (lat, lon, kind)
    for vid in vehicles:
        out.setdefault(vid, (None, None, START_FIRST_PICKUP))
    return out


START_CURRENT_TRIP = "current_trip"
# A vehicle with a passenger being boarded or on board is busy with that trip: it becomes free
# at the trip's destination, not where it is now.
_CARRYING = frozenset({TripStatus.AT_PICKUP, TripStatus.ON_BOARD})


def _state(
    v: Vehicle,
    start: tuple[float | None, float | None, str],
    *,
    trips: list[Trip],
    available_from: datetime,
    boarding_s: float,
) -> tuple[planner.VehicleState, list[planner.TripJob], str]:
    """The vehicle as a planning state, its trips still to drive to, and the kind of its start.

    Where the vehicle is when its next trips begin: if it is carrying a passenger (a trip
    ``at_pickup`` or ``on_board``), at that trip's destination once the trip's planned end
    (pickup time + boarding + planned drive, not before ``available_from``) is reached — that
    trip is not replayed from the vehicle's position as if its pickup were still ahead.
    Otherwise from ``start`` (:func:`_starts`) at ``available_from``; the trips after it are
    replayed from there in pickup order by the planner, so a later trip is reached from the
    destination of the previous one at its planned end.
    """
    lat, lon, kind = start
    carrying = [t for t in trips if t.status in _CARRYING]
    if carrying:
        cur = max(carrying, key=lambda t: (t.pickup_at, t.id))
        end = cur.pickup_at + timedelta(seconds=boarding_s + float(cur.planned_duration_s or 0.0))
        lat, lon, kind = cur.dest_lat, cur.dest_lon, START_CURRENT_TRIP
        available_from = max(available_from, end)
    state = planner.VehicleState(
        id=v.id,
        vehicle_type=v.vehicle_type,
        seats=v.seats,
        wheelchair_places=v.wheelchair_places,
        lat=lat,
        lon=lon,
        available_from=available_from,
    )
    return state, [_job(t) for t in trips if t.status not in _CARRYING], kind


def _fleet(
    conn: psycopg.Connection,
    *,
    graph: Any,
    rules: Rules,
    available_from: datetime,
    day_trips: list[Trip],
    vehicle: Vehicle | None = None,
    carrier_id: int | None = None,
) -> tuple[
    list[planner.VehicleState], dict[int, list[planner.TripJob]], dict[int, Vehicle], dict[int, str]
]:
    """Every active vehicle (of ``carrier_id`` when given; or just ``vehicle``) as a planning
    state, the trips of ``day_trips`` each still has to drive to, and the kind of its start
    (:func:`_starts`, :func:`_state`)."""
    if vehicle is None:
        vehicles = {
            v.id: v
            for v in rstore.list_rows(
                conn, table="vehicles", active=True, limit=10_000, offset=0,
                filters={"carrier_id": carrier_id},
            )
        }  # fmt: skip
    else:
        vehicles = {vehicle.id: vehicle}
    starts = _starts(conn, graph=graph, rules=rules, vehicles=vehicles)
    by_vehicle: dict[int, list[Trip]] = defaultdict(list)
    for t in day_trips:
        if t.vehicle_id is not None:
            by_vehicle[t.vehicle_id].append(t)
    states: list[planner.VehicleState] = []
    schedule: dict[int, list[planner.TripJob]] = {}
    kinds: dict[int, str] = {}
    for vid, v in vehicles.items():
        state, jobs, kind = _state(
            v,
            starts[vid],
            trips=by_vehicle.get(vid, []),
            available_from=available_from,
            boarding_s=rules.assignment.boarding_s,
        )
        states.append(state)
        schedule[vid] = jobs
        kinds[vid] = kind
    return states, schedule, vehicles, kinds


def _conflict_views(conflicts: Any) -> list[ConflictView]:
    return [
        ConflictView(
            kind=c.kind,
            vehicle_id=c.vehicle_id,
            trip_ids=list(c.trip_ids),
            message=c.message,
            lateness_s=c.lateness_s if np.isfinite(c.lateness_s) else None,
            blocking=c.kind in planner.BLOCKING_KINDS,
        )
        for c in conflicts
    ]


def propose_vehicles(
    conn: psycopg.Connection,
    *,
    trip_id: int,
    rules: Rules,
    graph: Any,
    now: datetime,
    limit: int = 10,
    actor: Any = None,
) -> list[CandidateView]:
    """The vehicles that can take the trip given their other trips that day, best first
    (for a carrier's staff: only its own trips, only its own vehicles)."""
    trip = get_trip(conn, trip_id=trip_id, actor=actor)
    if trip.status not in ASSIGNABLE:
        raise Conflict(
            "Машину можно подобрать только для забронированной поездки", code="not_plannable"
        )
    travel = _travel(graph, trip.pickup_at)
    day = trip.pickup_at.astimezone(ZoneInfo(rules.timezone)).date()
    start, end = _local_day_bounds(day, rules.timezone)
    day_trips = [
        t for t in tstore.open_trips_between(conn, start=start, end=end) if t.id != trip.id
    ]
    states, schedule, vehicles, kinds = _fleet(
        conn, graph=graph, rules=rules, available_from=max(now, start), day_trips=day_trips,
        carrier_id=scope.carrier_of(actor),
    )  # fmt: skip
    if not states:
        return []
    cands = planner.propose(
        _job(trip),
        states,
        schedule,
        travel,
        boarding_s=rules.assignment.boarding_s,
        max_late_s=rules.assignment.max_late_s,
    )

    # A vehicle whose start is unknown "costs nothing" to reach its first pickup of the day: when
    # this trip would be that first pickup, its zero is not comparable — list it after the ones
    # whose empty driving is real (stable: each group keeps the planner's order).
    def unknown_leg(c: planner.Candidate) -> bool:
        earlier = (j for j in schedule.get(c.vehicle_id, ()) if j.pickup_at < trip.pickup_at)
        return kinds[c.vehicle_id] == START_FIRST_PICKUP and next(earlier, None) is None

    cands.sort(key=unknown_leg)
    return [
        CandidateView(
            vehicle_id=c.vehicle_id,
            plate=vehicles[c.vehicle_id].plate,
            empty_s=c.empty_s,
            empty_m=c.empty_m,
            arrival_at=c.arrival_at,
            lateness_s=c.lateness_s,
            start=kinds[c.vehicle_id],
        )
        for c in cands[:limit]
    ]


def assign_vehicle(
    conn: psycopg.Connection,
    *,
    trip_id: int,
    vehicle_id: int,
    driver_id: int | None,
    force: bool,
    rules: Rules,
    graph: Any,
    actor: User,
    now: datetime,
) -> AssignResult:
    """Assign a vehicle (and optionally a driver) to a trip.

    The vehicle's day is replayed with the trip added; conflicts (wrong type, overlapping trips,
    unreachable pickup) refuse the assignment with 409 unless ``force`` (the dispatcher's manual
    override), in which case it is made and the conflicts are returned and recorded in the event.
    """
    trip = get_trip(conn, trip_id=trip_id, lock=True, actor=actor)
    # Serialise assignments to one vehicle: two dispatchers giving it two overlapping trips at
    # the same moment would each check its day without the other's trip.
    vehicle = rstore.get(conn, table="vehicles", row_id=vehicle_id, lock=True)
    if vehicle is None:
        raise NotFound("Автомобиль не найден", code="not_found")
    # a carrier's staff: never another carrier's vehicle (nor driver, below)
    scope.check_row(actor, "vehicles", vehicle, "Автомобиль не найден")
    if not vehicle.active:
        raise Invalid("Автомобиль выведен из эксплуатации", code="vehicle_inactive")
    if driver_id is not None:
        driver = rstore.get(conn, table="drivers", row_id=driver_id)
        if driver is None:
            raise NotFound("Водитель не найден", code="not_found")
        scope.check_row(actor, "drivers", driver, "Водитель не найден")
        if not driver.active:
            raise Invalid("Водитель не работает", code="driver_inactive")
        if driver.carrier_id != vehicle.carrier_id:
            raise Invalid(
                "Водитель и автомобиль принадлежат разным перевозчикам", code="carrier_mismatch"
            )
    travel = _travel(graph, trip.pickup_at)
    day = trip.pickup_at.astimezone(ZoneInfo(rules.timezone)).date()
    start, end = _local_day_bounds(day, rules.timezone)
    day_trips = [
        t
        for t in tstore.open_trips_between(conn, start=start, end=end, vehicle_id=vehicle_id)
        if t.id != trip.id
    ]
    # The same vehicle state and schedule as the candidates list (:func:`propose_vehicles`),
    # so the lateness shown there is the lateness reported here.
    states, schedule, _, _ = _fleet(
        conn,
        graph=graph,
        rules=rules,
        available_from=max(now, start),
        day_trips=day_trips,
        vehicle=vehicle,
    )
    conflicts = _conflict_views(
        planner.assignment_conflicts(
            _job(trip),
            states[0],
            schedule[vehicle.id],
            travel,
            boarding_s=rules.assignment.boarding_s,
            max_late_s=rules.assignment.max_late_s,
        )
    )
    blocking = [c for c in conflicts if c.blocking]
    if blocking and not force:
        raise AssignmentConflicts(
            "Назначение конфликтует с расписанием машины: "
            + "; ".join(c.message for c in blocking),
            conflicts=conflicts,
        )
    updated = apply_action(
        conn,
        trip_id=trip_id,
        action=TripAction.ASSIGN,
        actor=actor,
        now=now,
        rules=rules,
        extra={"vehicle_id": vehicle.id, "driver_id": driver_id, "carrier_id": vehicle.carrier_id},
        payload={
            "vehicle_id": vehicle.id,
            "driver_id": driver_id,
            "forced": bool(blocking),
            "conflicts": [c.model_dump() for c in conflicts],
        },
    )
    log_trip_read(conn, actor=actor, action="assign", trip=updated, purpose="dispatch")
    mine = [c for c in conflicts if c.trip_ids[-1] == trip.id and c.lateness_s is not None]
    return AssignResult(
        trip=updated,
        conflicts=conflicts,
        forced=bool(blocking),
        lateness_s=max((c.lateness_s or 0.0 for c in mine), default=0.0),
    )


def plan_fleet_day(
    conn: psycopg.Connection,
    *,
    day: date,
    apply: bool,
    rules: Rules,
    graph: Any,
    actor: User,
    now: datetime,
) -> DayPlan:
    """Plan the local ``day``: booked trips get vehicles; assigned ones stay with theirs (fixed).

    With ``apply`` the new assignments are made (each an ``assign`` event); otherwise the plan is
    only returned. The region's job: refused to a carrier's staff.
    """
    scope.refuse_carrier_staff(actor, "планирование дня по всему парку")
    travel = _travel(graph, None)  # a day spans many hours: the all-hours speeds
    start, end = _local_day_bounds(day, rules.timezone)
    open_trips = tstore.open_trips_between(conn, start=start, end=end)
    trips = [t for t in open_trips if t.status in ASSIGNABLE]
    # trips already under way only move the start of their vehicle (:func:`_state`)
    states, _, _, start_kinds = _fleet(
        conn,
        graph=graph,
        rules=rules,
        available_from=max(now, start),
        day_trips=[t for t in open_trips if t.status in _CARRYING],
    )
    missing = sorted(
        v for v, kind in start_kinds.items() if kind not in (START_POSITION, START_CURRENT_TRIP)
    )
    known = {s.id for s in states}
    fixed = {
        t.id: t.vehicle_id for t in trips if t.vehicle_id is not None and t.vehicle_id in known
    }
    if not trips or not states:
        return DayPlan(
            day=day,
            assignments={},
            unassigned=[t.id for t in trips if t.vehicle_id is None],
            empty_m=0.0,
            lateness_s=0.0,
            conflicts=[],
            routes={},
            applied=apply,
            vehicles_without_position=missing,
            vehicle_starts=start_kinds,
        )
    plan = planner.plan_day(
        [_job(t) for t in trips],
        states,
        travel,
        fixed=fixed,
        boarding_s=rules.assignment.boarding_s,
        max_late_s=rules.assignment.max_late_s,
    )
    if apply:
        current = {t.id: t.vehicle_id for t in trips}
        for tid, vid in sorted(plan.assignments.items()):
            if current.get(tid) != vid:
                veh = rstore.get(conn, table="vehicles", row_id=vid)
                apply_action(
                    conn,
                    trip_id=tid,
                    action=TripAction.ASSIGN,
                    actor=actor,
                    now=now,
                    rules=rules,
                    extra={"vehicle_id": vid, "driver_id": None, "carrier_id": veh.carrier_id},
                    payload={"vehicle_id": vid, "planned": True},
                )
    return DayPlan(
        day=day,
        assignments=dict(plan.assignments),
        unassigned=list(plan.unassigned),
        empty_m=float(plan.empty_m),
        lateness_s=float(plan.lateness_s),
        conflicts=_conflict_views(plan.conflicts),
        routes={v: list(r) for v, r in plan.routes.items()},
        applied=apply,
        vehicles_without_position=missing,
        vehicle_starts=start_kinds,
    )


def vehicle_positions(
    conn: psycopg.Connection, *, carrier_id: int | None = None, actor: Any = None
) -> list[VehiclePosition]:
    """Last positions (of ``carrier_id``'s vehicles); a carrier's staff sees only its own."""
    own = scope.carrier_of(actor)
    if own is not None:
        if carrier_id not in (None, own):
            return []
        carrier_id = own
    return rstore.last_positions(conn, carrier_id=carrier_id)
