"""The dispatcher's page: the live map of the fleet, today's trips with their assignment and
lateness, vehicle candidates for a trip, assign / reassign, and the day plan."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from dispatch.errors import DispatchError
from dispatch.models import Trip
from dispatch.services import AssignmentConflicts
from dispatch.services import assignment as assign_svc
from dispatch.services import registry as reg_svc
from dispatch.services import trips as trip_svc
from web.deps import Conn, GraphDep, NowDep, RulesDep
from web.pages.live import STALE_S
from web.pages.render import render
from web.pages.session import Csrf, DispatcherPage

router = APIRouter(prefix="/dispatcher", include_in_schema=False)
TripId = Annotated[int, Path(ge=1, le=2**63 - 1)]

STATUS_COLOURS = {
    "free": ("#1e8449", "свободна"),
    "assigned": ("#2e86c1", "назначена на поездку"),
    "en_route": ("#d68910", "едет к пассажиру"),
    "arrived": ("#8e44ad", "на месте подачи"),
    "on_board": ("#c0392b", "с пассажиром"),
    "stale": ("#7f8c8d", "нет связи"),
}


def lateness_s(trip: Trip, now: datetime) -> float | None:
    """Seconds the pickup is (or was) late: picked up after the booked time, or still waiting
    past it. ``None`` when not late (or the trip ended without a pickup)."""
    if trip.picked_up_at is not None:
        late = (trip.picked_up_at - trip.pickup_at).total_seconds()
    elif trip.status in ("booked", "assigned", "en_route", "arrived"):
        late = (now - trip.pickup_at).total_seconds()
    else:
        return None
    return late if late > 0 else None


def _day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    start = datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo(tz))
    return start, start + timedelta(days=1)


PLATES_S = 30.0


def _plates(request: Request, conn: Any, needed: set[int]) -> dict[int, str]:
    """vehicle id → plate, re-read every ``PLATES_S`` or when a vehicle is missing (a fleet of
    thousands changes plates rarely; reading all of them for every page view was a third of the
    page's time)."""
    cached = getattr(request.app.state, "plates", None)
    now_m = time.monotonic()
    if cached is None or now_m - cached[0] > PLATES_S or not needed <= cached[1].keys():
        vehicles = reg_svc.list_entries(
            conn, table="vehicles", active=None, limit=100_000, offset=0
        )
        cached = (now_m, {v.id: v.plate for v in vehicles})
        request.app.state.plates = cached
    return cached[1]


def _trips_table(
    request: Request, conn: Any, *, user: Any, day: date, tz: str, now: datetime, **extra: Any
) -> HTMLResponse:
    start, end = _day_bounds(day, tz)
    trips = trip_svc.read_trips(
        conn, actor=user, purpose="dispatch", start=start, end=end, limit=2000, offset=0
    )
    if user.carrier_id is not None:  # a carrier's dispatcher sees its trips and the open ones
        trips = [t for t in trips if t.carrier_id in (None, user.carrier_id)]
    plates = _plates(request, conn, {t.vehicle_id for t in trips if t.vehicle_id is not None})
    names = {
        o.id: o.name
        for o in reg_svc.list_entries(
            conn, table="social_objects", active=None, limit=100_000, offset=0
        )
    }
    rows = [(t, lateness_s(t, now)) for t in trips]
    return render(
        request,
        "_dispatch_trips.html",
        user=user,
        rows=rows,
        plates=plates,
        names=names,
        day=day,
        **extra,
    )


@router.get("", response_class=HTMLResponse)
def page(
    request: Request,
    conn: Conn,
    rules: RulesDep,
    now: NowDep,
    user: DispatcherPage,
    day: Annotated[date | None, Query()] = None,
) -> HTMLResponse:
    tz = rules.timezone
    today = now.astimezone(ZoneInfo(tz)).date()
    day = day or today
    # the vehicles come with the live feed's first event (its snapshot), not with the page
    return render(
        request,
        "dispatcher.html",
        user=user,
        day=day,
        colours=STATUS_COLOURS,
        colours_json=orjson.dumps({k: c for k, (c, _) in STATUS_COLOURS.items()}).decode(),
        stale_s=STALE_S,
        now_iso=now.isoformat(),
        trips_table=bytes(
            _trips_table(request, conn, user=user, day=day, tz=tz, now=now).body
        ).decode(),
    )


@router.get("/trips", response_class=HTMLResponse)
def trips_fragment(
    request: Request,
    conn: Conn,
    rules: RulesDep,
    now: NowDep,
    user: DispatcherPage,
    day: Annotated[date | None, Query()] = None,
) -> HTMLResponse:
    tz = rules.timezone
    day = day or now.astimezone(ZoneInfo(tz)).date()
    return _trips_table(request, conn, user=user, day=day, tz=tz, now=now)


@router.get("/trips/{trip_id}/candidates", response_class=HTMLResponse)
def candidates(
    request: Request,
    trip_id: TripId,
    conn: Conn,
    rules: RulesDep,
    graph: GraphDep,
    now: NowDep,
    user: DispatcherPage,
) -> HTMLResponse:
    error = None
    cands: list[Any] = []
    try:
        cands = assign_svc.propose_vehicles(
            conn, trip_id=trip_id, rules=rules, graph=graph, now=now, limit=8, actor=user
        )
    except DispatchError as exc:
        error = exc.message
    return render(request, "_candidates.html", user=user, trip_id=trip_id, cands=cands, error=error)


@router.post("/trips/{trip_id}/assign", response_class=HTMLResponse, dependencies=[Csrf])
async def assign(
    request: Request,
    trip_id: TripId,
    conn: Conn,
    rules: RulesDep,
    graph: GraphDep,
    now: NowDep,
    user: DispatcherPage,
) -> HTMLResponse:
    form = await request.form()
    vehicle = str(form.get("vehicle_id", ""))
    force = str(form.get("force", "")) == "1"
    tz = rules.timezone
    if not vehicle.isdigit() or len(vehicle) > 18:
        return render(
            request, "_candidates.html", user=user, trip_id=trip_id, cands=[],
            error="Выберите машину", status_code=200,
        )  # fmt: skip
    try:
        result = assign_svc.assign_vehicle(
            conn, trip_id=trip_id, vehicle_id=int(vehicle), driver_id=None, force=force,
            rules=rules, graph=graph, actor=user, now=now,
        )  # fmt: skip
    except AssignmentConflicts as exc:
        conn.rollback()
        return render(
            request, "_candidates.html", user=user, trip_id=trip_id, cands=[],
            error=exc.message, conflicts=exc.conflicts, vehicle_id=int(vehicle),
        )  # fmt: skip
    except DispatchError as exc:
        conn.rollback()
        return render(
            request, "_candidates.html", user=user, trip_id=trip_id, cands=[], error=exc.message
        )
    day = result.trip.pickup_at.astimezone(ZoneInfo(tz)).date()
    notice = f"Поездка № {trip_id}: назначена машина {vehicle}" + (
        " (вопреки конфликтам)" if result.forced else ""
    )
    return _trips_table(request, conn, user=user, day=day, tz=tz, now=now, notice=notice, oob=True)


@router.post("/plan", response_class=HTMLResponse, dependencies=[Csrf])
async def plan(
    request: Request,
    conn: Conn,
    rules: RulesDep,
    graph: GraphDep,
    now: NowDep,
    user: DispatcherPage,
) -> HTMLResponse:
    form = await request.form()
    apply = str(form.get("apply", "")) == "1"
    try:
        day = date.fromisoformat(str(form.get("day", "")))
    except ValueError:
        return render(request, "_plan.html", user=user, error="Укажите день плана", plan=None)
    try:
        result = assign_svc.plan_fleet_day(
            conn, day=day, apply=apply, rules=rules, graph=graph, actor=user, now=now
        )
    except DispatchError as exc:
        conn.rollback()
        return render(request, "_plan.html", user=user, error=exc.message, plan=None)
    return render(request, "_plan.html", user=user, plan=result, error=None, day=day)
