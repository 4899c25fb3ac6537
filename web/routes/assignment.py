"""Assignment: candidates for a trip, assign, plan a day; vehicle positions for the map."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from dispatch.models import AssignResult, CandidateView, DayPlan, VehiclePosition
from dispatch.services import assignment as svc
from web.auth import Dispatcher, Monitor
from web.deps import Conn, GraphDep, NowDep, RulesDep
from web.schemas import AssignIn, PlanDayIn

router = APIRouter(tags=["Назначение машин"])
TripId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("/trips/{trip_id}/candidates", response_model=list[CandidateView])
def propose(
    trip_id: TripId,
    conn: Conn,
    rules: RulesDep,
    graph: GraphDep,
    now: NowDep,
    user: Dispatcher,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[CandidateView]:
    """The best vehicles for the trip (least added empty driving, then lateness)."""
    return svc.propose_vehicles(
        conn, trip_id=trip_id, rules=rules, graph=graph, now=now, limit=limit, actor=user
    )


@router.post(
    "/trips/{trip_id}/assign",
    response_model=AssignResult,
    responses={409: {"description": "Конфликт с расписанием машины (без force)"}},
)
def assign(
    trip_id: TripId,
    body: AssignIn,
    conn: Conn,
    rules: RulesDep,
    graph: GraphDep,
    now: NowDep,
    user: Dispatcher,
) -> AssignResult:
    """Assign a vehicle; conflicts refuse it unless ``force`` (then reported and logged)."""
    return svc.assign_vehicle(
        conn,
        trip_id=trip_id,
        vehicle_id=body.vehicle_id,
        driver_id=body.driver_id,
        force=body.force,
        rules=rules,
        graph=graph,
        actor=user,
        now=now,
    )


@router.post("/plan/day", response_model=DayPlan)
def plan_day(
    body: PlanDayIn, conn: Conn, rules: RulesDep, graph: GraphDep, now: NowDep, user: Dispatcher
) -> DayPlan:
    """Plan a whole day for the fleet; ``apply`` makes the assignments."""
    return svc.plan_fleet_day(
        conn, day=body.day, apply=body.apply, rules=rules, graph=graph, actor=user, now=now
    )


@router.get("/fleet/positions", response_model=list[VehiclePosition])
def positions(
    conn: Conn, user: Monitor, carrier_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None
) -> list[VehiclePosition]:
    """Last known position of every active vehicle (for the dispatcher's map)."""
    return svc.vehicle_positions(conn, carrier_id=carrier_id, actor=user)
