"""Assignment: propose vehicles for a trip, assign one (manual override allowed), plan a whole
day for the fleet, and the vehicles' last positions for the dispatcher's map.

Travel times come from routing's matrix, wrapped as the pure module's ``TravelFn``; vehicles start
from their last reported position (``vehicle_last_position``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
from pydantic import BaseModel, ConfigDict

from config.rules import Rules
from dispatch import assignment as algo
from dispatch.errors import Conflict, Invalid, NotFound
from dispatch.lifecycle import TripAction
from dispatch.services import AssignmentConflicts, Unavailable
from dispatch.services.trips import apply_action, get_trip
from dispatch.store import registry as rstore
from dispatch.store import trips as tstore
from dispatch.store.models import Trip, User, Vehicle, VehiclePosition

# Trips whose vehicle may still be changed by planning.
_PLANNABLE = ("booked", "assigned")


class CandidateView(BaseModel):
    model_config = ConfigDict(frozen=True)

    vehicle_id: int
    plate: str
    empty_s: float
    empty_m: float
    arrival_at: datetime
    lateness_s: float


class ConflictView(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: str
    vehicle_id: int
    trip_ids: list[int]
    message: str


class AssignResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    trip: Trip
    conflicts: list[ConflictView]
    forced: bool


class DayPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    day: date
    assignments: dict[int, int]
    unassigned: list[int]
    empty_m: float
    lateness_s: float
    conflicts: list[ConflictView]
    routes: dict[int, list[int]]
    applied: bool
    vehicles_without_position: list[int]


def _travel(graph: Any) -> algo.TravelFn:
    if graph is None:
        raise Unavailable("Дорожный граф не загружен: подбор машин недоступен", code="no_graph")

    def travel(orig: np.ndarray, dest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = graph.matrix(orig[:, 0], orig[:, 1], dest[:, 0], dest[:, 1])
        return np.asarray(m.duration_s, dtype=float), np.asarray(m.dist_m, dtype=float)

    return travel


def _job(t: Trip) -> algo.TripJob:
    return algo.TripJob(
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


def _in_area(
    graph: Any, positions: list[VehiclePosition], rules: Rules
) -> tuple[list[VehiclePosition], list[int]]:
    """Positions the graph can snap (the others cannot be routed from)."""
    from routing import OutOfServiceArea

    if not positions:
        return [], []
    lats = np.array([p.lat for p in positions])
    lons = np.array([p.lon for p in positions])
    try:
        graph.snap(lats, lons, max_dist_m=rules.booking.service_area_snap_m)
    except OutOfServiceArea as exc:
        bad = set(exc.indices)
        return [p for i, p in enumerate(positions) if i not in bad], [
            positions[i].vehicle_id for i in sorted(bad)
        ]
    return positions, []


def _fleet(
    conn: psycopg.Connection, *, graph: Any, rules: Rules, available_from: datetime
) -> tuple[list[algo.VehicleState], dict[int, Vehicle], list[int]]:
    vehicles = {
        v.id: v
        for v in rstore.list_rows(conn, table="vehicles", active=True, limit=10_000, offset=0)
    }
    positions = [p for p in rstore.last_positions(conn) if p.vehicle_id in vehicles]
    ok, out_of_area = _in_area(graph, positions, rules)
    located = {p.vehicle_id for p in positions}
    missing = sorted(set(vehicles) - located) + out_of_area
    states = [
        algo.VehicleState(
            id=p.vehicle_id,
            vehicle_type=vehicles[p.vehicle_id].vehicle_type,
            seats=vehicles[p.vehicle_id].seats,
            wheelchair_places=vehicles[p.vehicle_id].wheelchair_places,
            lat=p.lat,
            lon=p.lon,
            available_from=available_from,
        )
        for p in ok
    ]
    return states, vehicles, missing


def _conflict_views(conflicts: Any) -> list[ConflictView]:
    return [
        ConflictView(
            kind=c.kind, vehicle_id=c.vehicle_id, trip_ids=list(c.trip_ids), message=c.message
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
) -> list[CandidateView]:
    """The vehicles that can take the trip given their other trips that day, best first."""
    trip = get_trip(conn, trip_id=trip_id)
    if trip.status not in _PLANNABLE:
        raise Conflict(
            "Машину можно подобрать только для забронированной поездки", code="not_plannable"
        )
    travel = _travel(graph)
    day = trip.pickup_at.astimezone(ZoneInfo(rules.timezone)).date()
    start, end = _local_day_bounds(day, rules.timezone)
    states, vehicles, _ = _fleet(conn, graph=graph, rules=rules, available_from=max(now, start))
    schedule: dict[int, list[algo.TripJob]] = defaultdict(list)
    for t in tstore.open_trips_between(conn, start=start, end=end):
        if t.vehicle_id is not None and t.id != trip.id:
            schedule[t.vehicle_id].append(_job(t))
    if not states:
        return []
    cands = algo.propose(_job(trip), states, schedule, travel)
    return [
        CandidateView(
            vehicle_id=c.vehicle_id,
            plate=vehicles[c.vehicle_id].plate,
            empty_s=c.empty_s,
            empty_m=c.empty_m,
            arrival_at=c.arrival_at,
            lateness_s=c.lateness_s,
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
    trip = get_trip(conn, trip_id=trip_id, lock=True)
    vehicle = rstore.get(conn, table="vehicles", row_id=vehicle_id)
    if vehicle is None:
        raise NotFound("Автомобиль не найден", code="not_found")
    if not vehicle.active:
        raise Invalid("Автомобиль выведен из эксплуатации", code="vehicle_inactive")
    if driver_id is not None:
        driver = rstore.get(conn, table="drivers", row_id=driver_id)
        if driver is None:
            raise NotFound("Водитель не найден", code="not_found")
        if not driver.active:
            raise Invalid("Водитель не работает", code="driver_inactive")
        if driver.carrier_id != vehicle.carrier_id:
            raise Invalid(
                "Водитель и автомобиль принадлежат разным перевозчикам", code="carrier_mismatch"
            )
    travel = _travel(graph)
    day = trip.pickup_at.astimezone(ZoneInfo(rules.timezone)).date()
    start, end = _local_day_bounds(day, rules.timezone)
    day_trips = [
        t
        for t in tstore.open_trips_between(conn, start=start, end=end, vehicle_id=vehicle_id)
        if t.id != trip.id
    ]
    jobs = [_job(t) for t in day_trips] + [_job(trip)]
    positions = {p.vehicle_id: p for p in rstore.last_positions(conn)}
    pos = positions.get(vehicle_id)
    ok = _in_area(graph, [pos], rules)[0] if pos is not None else []
    lat, lon = (
        (pos.lat, pos.lon) if ok and pos is not None else (jobs[0].pickup_lat, jobs[0].pickup_lon)
    )
    first_pickup = min(j.pickup_at for j in jobs)
    state = algo.VehicleState(
        id=vehicle.id,
        vehicle_type=vehicle.vehicle_type,
        seats=vehicle.seats,
        wheelchair_places=vehicle.wheelchair_places,
        lat=lat,
        lon=lon,
        available_from=min(max(now, start), first_pickup)
        if ok
        else first_pickup - timedelta(hours=1),
    )
    conflicts = _conflict_views(
        algo.find_conflicts({j.id: vehicle.id for j in jobs}, jobs, [state], travel)
    )
    if conflicts and not force:
        raise AssignmentConflicts(
            "Назначение конфликтует с расписанием машины: "
            + "; ".join(c.message for c in conflicts),
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
            "forced": bool(conflicts),
            "conflicts": [c.model_dump() for c in conflicts],
        },
    )
    return AssignResult(trip=updated, conflicts=conflicts, forced=bool(conflicts))


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
    only returned.
    """
    travel = _travel(graph)
    start, end = _local_day_bounds(day, rules.timezone)
    trips = [
        t for t in tstore.open_trips_between(conn, start=start, end=end) if t.status in _PLANNABLE
    ]
    states, _, missing = _fleet(conn, graph=graph, rules=rules, available_from=max(now, start))
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
        )
    plan = algo.plan_day([_job(t) for t in trips], states, travel, fixed=fixed)
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
    )


def vehicle_positions(
    conn: psycopg.Connection, *, carrier_id: int | None = None
) -> list[VehiclePosition]:
    return rstore.last_positions(conn, carrier_id=carrier_id)
