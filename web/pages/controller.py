"""The controller's pages: findings with filters and paging, a chart of findings per week per
carrier, one finding on its map (planned route, the actual track both raw and matched onto the
roads by the audit's matcher, off-route stretches, pickup and destination geofences, vehicle
events with times) with the numbers behind it, confirm / dismiss with a comment, track replay
with times and speeds, and the monthly report download (the audit API's CSV/XLSX)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from audit import service_findings as audit_svc
from audit import service_track as track_svc
from audit.facts import RULE_RU
from audit.service import find_matcher
from audit.store import FindingFilter
from dispatch.errors import DispatchError
from dispatch.services import registry as reg_svc
from dispatch.services import trips as trip_svc
from web.deps import Conn, NowDep, RulesDep
from web.pages.charts import weekly_chart, weekly_counts
from web.pages.forms import Errors
from web.pages.render import EVENT_RU, render
from web.pages.session import ControllerPage, Csrf
from web.pages.trackmap import track_json

router = APIRouter(prefix="/controller", include_in_schema=False)
FindingId = Annotated[int, Path(ge=1, le=2**63 - 1)]
PER_PAGE = 25
CHART_WEEKS = 8
STATUS_RU = {"new": "новое", "confirmed": "подтверждено", "dismissed": "отклонено"}
ROLE_RU = {
    "planned": "плановый маршрут",
    "actual": "фактический трек",
    "approach": "подъезд к подаче",
    "off_route": "отклонение",
    "booked_pickup": "место подачи",
    "closest": "ближайшая точка",
    "dropoff": "высадка",
}
PART_RU = {"approach": "подъезд", "passenger": "с пассажиром", "trip": "поездка"}


def _day(text: str, tz: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)) if text else None
    except ValueError:
        return None


def _id(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 19 else None


@router.get("", response_class=HTMLResponse)
def findings(
    request: Request,
    conn: Conn,
    rules: RulesDep,
    now: NowDep,
    user: ControllerPage,
    rule: Annotated[str, Query(max_length=40)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    carrier_id: Annotated[str, Query(max_length=19)] = "",
    vehicle_id: Annotated[str, Query(max_length=19)] = "",
    day_from: Annotated[str, Query(max_length=10)] = "",
    day_to: Annotated[str, Query(max_length=10)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    tz = rules.timezone
    errors = Errors()
    start, end = _day(day_from, tz), _day(day_to, tz)
    if day_from and start is None:
        errors.add("day_from", "Дата в формате ГГГГ-ММ-ДД")
    if day_to and end is None:
        errors.add("day_to", "Дата в формате ГГГГ-ММ-ДД")
    flt = FindingFilter(
        rule=rule if rule in RULE_RU else None,
        status=status if status in STATUS_RU else None,
        carrier_id=_id(carrier_id),
        vehicle_id=_id(vehicle_id),
        start=start,
        end=end + timedelta(days=1) if end else None,
    )
    listed = audit_svc.list_findings(
        conn, user=user, flt=flt, limit=PER_PAGE, offset=(page - 1) * PER_PAGE
    )
    carriers = {
        c.id: c.name
        for c in reg_svc.list_entries(
            conn, table="carriers", active=None, limit=10_000, offset=0, actor=user
        )
    }
    # the chart: the last CHART_WEEKS weeks (or the filtered period), same filters otherwise
    local_today = now.astimezone(ZoneInfo(tz)).date()
    last_monday = local_today - timedelta(days=local_today.weekday())
    weeks = [last_monday - timedelta(weeks=k) for k in range(CHART_WEEKS - 1, -1, -1)]
    chart_start = datetime.combine(weeks[0], datetime.min.time(), tzinfo=ZoneInfo(tz))
    chart_flt = FindingFilter(**(flt.__dict__ | {"start": flt.start or chart_start}))
    chart_rows = audit_svc.list_findings(conn, user=user, flt=chart_flt, limit=10_000, offset=0)
    counts = weekly_counts(((i["pickup_at"], i["carrier_id"]) for i in chart_rows["items"]), tz)
    if flt.start is not None:
        first = flt.start.astimezone(ZoneInfo(tz)).date()
        first -= timedelta(days=first.weekday())
        last = max([w for w, _ in counts] or [first])
        n = min(26, (last - first).days // 7 + 1)
        weeks = [first + timedelta(weeks=k) for k in range(n)]
    chart = weekly_chart(counts, weeks=weeks, carriers={**carriers, None: "без перевозчика"})
    month = now.astimezone(ZoneInfo(tz)).strftime("%Y-%m")
    return render(
        request,
        "findings.html",
        user=user,
        items=listed["items"],
        total=listed["total"],
        page=page,
        pages=max(1, -(-listed["total"] // PER_PAGE)),
        rules_ru=RULE_RU,
        statuses=STATUS_RU,
        carriers=carriers,
        f={
            "rule": rule, "status": status, "carrier_id": carrier_id, "vehicle_id": vehicle_id,
            "day_from": day_from, "day_to": day_to,
        },
        errors=errors,
        chart=chart,
        month=month,
    )  # fmt: skip


def _finding_page(
    request: Request,
    conn: Any,
    *,
    finding_id: int,
    user: Any,
    errors: Errors | None = None,
    status_code: int = 200,
    notice: str | None = None,
) -> HTMLResponse:
    finding = audit_svc.get_finding(conn, user=user, finding_id=finding_id)
    trip = trip_svc.read_trip(conn, trip_id=finding["trip_id"], actor=user, purpose="audit")
    events = trip_svc.list_events(conn, trip_id=trip.id, actor=user, purpose="audit")
    dest = next(
        (
            o
            for o in reg_svc.list_entries(
                conn, table="social_objects", active=None, limit=10_000, offset=0
            )
            if o.id == trip.dest_object_id
        ),
        None,
    )
    state = request.app.state
    zone = ZoneInfo(state.rules.timezone)
    track = track_svc.trip_track(
        conn, user=user, trip_id=trip.id, rules=state.rules, graph=state.graph,
        matcher=find_matcher(), now=state.clock(),
    )  # fmt: skip
    marks = [
        {
            "lat": e.lat,
            "lon": e.lon,
            "label": f"{EVENT_RU.get(e.event_type, e.event_type)} "
            f"{e.occurred_at.astimezone(zone):%H:%M:%S}",
        }
        for e in events
        if e.lat is not None and e.lon is not None
    ]
    map_data = {
        "geometry": finding["geometry"],
        "pickup": {"lat": trip.pickup_lat, "lon": trip.pickup_lon},
        "pickup_radius_m": request.app.state.rules.audit.destination_geofence_m,
        "dest": {
            "lat": trip.dest_lat,
            "lon": trip.dest_lon,
            "radius_m": dest.radius_m if dest else None,
            "geofence": dest.geofence if dest else None,
        },
        "events": marks,
        "roles": ROLE_RU,
        "parts": PART_RU,
        "track": track_json(track),
        "tz": state.rules.timezone,
    }
    return render(
        request,
        "finding.html",
        user=user,
        fd=finding,
        t=trip,
        events=events,
        dest=dest,
        statuses=STATUS_RU,
        map_json=orjson.dumps(map_data).decode(),
        errors=errors or Errors(),
        status_code=status_code,
        notice=notice,
        roles_ru=ROLE_RU,
        track=map_data["track"],
        parts_ru=PART_RU,
    )


@router.get("/findings/{finding_id}", response_class=HTMLResponse)
def finding_page(
    request: Request, finding_id: FindingId, conn: Conn, user: ControllerPage, done: str = ""
) -> HTMLResponse:
    notice = {"confirm": "Нарушение подтверждено", "dismiss": "Нарушение отклонено",
              "reopen": "Нарушение снова открыто"}.get(done)  # fmt: skip
    return _finding_page(request, conn, finding_id=finding_id, user=user, notice=notice)


@router.post("/findings/{finding_id}/review", response_class=HTMLResponse, dependencies=[Csrf])
async def review(
    request: Request, finding_id: FindingId, conn: Conn, now: NowDep, user: ControllerPage
) -> Response:
    form = await request.form()
    action = str(form.get("action", ""))
    comment = str(form.get("comment", "")).strip()
    errors = Errors()
    if action not in ("confirm", "dismiss", "reopen"):
        errors.add("action", "Выберите решение")
    if not comment:
        errors.add("comment", "Комментарий к решению обязателен")
    elif len(comment) > 2000:
        errors.add("comment", "Комментарий — не длиннее 2000 знаков")
    if not errors:
        try:
            audit_svc.review_finding(
                conn, user=user, finding_id=finding_id, action=action, comment=comment, now=now
            )
            return RedirectResponse(
                f"/controller/findings/{finding_id}?done={action}", status_code=303
            )
        except DispatchError as exc:
            conn.rollback()
            errors.add("comment", exc.message)
    return _finding_page(
        request, conn, finding_id=finding_id, user=user, errors=errors, status_code=422
    )


@router.get("/report", response_class=HTMLResponse)
def report_form(
    request: Request,
    conn: Conn,
    now: NowDep,
    rules: RulesDep,
    user: ControllerPage,
    month: Annotated[str, Query(max_length=7)] = "",
    carrier_id: Annotated[str, Query(max_length=19)] = "",
) -> HTMLResponse:
    """Choose the month and carrier; the files come from the audit API (same session)."""
    carriers = reg_svc.list_entries(
        conn, table="carriers", active=None, limit=10_000, offset=0, actor=user
    )
    default = now.astimezone(ZoneInfo(rules.timezone)).date().replace(day=1) - timedelta(days=1)
    error = None
    try:
        chosen = datetime.strptime(month, "%Y-%m").strftime("%Y-%m") if month else None
    except ValueError:
        chosen, error = None, "Месяц в формате ГГГГ-ММ"
    query = f"?carrier_id={_id(carrier_id)}" if _id(carrier_id) else ""
    return render(
        request,
        "report.html",
        user=user,
        carriers=carriers,
        month=chosen or date(default.year, default.month, 1).strftime("%Y-%m"),
        chosen=chosen,
        carrier_id=carrier_id,
        query=query,
        error=error,
    )
