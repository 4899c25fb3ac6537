"""Registries (passengers, social objects with their geofence, carriers, vehicles, drivers) and
the rules in force (read-only, with their file and version).

Changes to the registries go through the JSON API's forms for now (``/api/v1/docs``); user
management waits for the security issue's user services.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse

from dispatch.errors import NotFound
from dispatch.services import registry as reg_svc
from dispatch.store.models import User
from web.deps import Conn, RulesDep, SettingsDep
from web.pages.render import render
from web.pages.session import AdminPage, page_roles

router = APIRouter(prefix="/admin", include_in_schema=False)
RulesReader = Annotated[User, Depends(page_roles("controller", "supervisor", "admin"))]
PER_PAGE = 50

REGISTRIES: dict[str, tuple[str, str]] = {
    # key: (table, Russian title)
    "passengers": ("passengers", "Пассажиры"),
    "objects": ("social_objects", "Социальные объекты"),
    "carriers": ("carriers", "Перевозчики"),
    "vehicles": ("vehicles", "Автомобили"),
    "drivers": ("drivers", "Водители"),
}


@router.get("", response_class=HTMLResponse)
def registry(
    request: Request,
    conn: Conn,
    user: AdminPage,
    kind: Annotated[str, Query(max_length=20)] = "objects",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    if kind not in REGISTRIES:
        kind = "objects"
    table, title = REGISTRIES[kind]
    offset = (page - 1) * PER_PAGE
    rows: list[Any]
    if kind == "passengers":
        rows = reg_svc.list_passengers(
            conn, active=None, limit=PER_PAGE + 1, offset=offset, actor=user, purpose="registry"
        )
    else:
        rows = reg_svc.list_entries(
            conn, table=table, active=None, limit=PER_PAGE + 1, offset=offset
        )
    carriers = {
        c.id: c.name
        for c in reg_svc.list_entries(conn, table="carriers", active=None, limit=10_000, offset=0)
    }
    return render(
        request,
        "admin.html",
        user=user,
        kind=kind,
        title=title,
        registries=REGISTRIES,
        rows=rows[:PER_PAGE],
        more=len(rows) > PER_PAGE,
        page=page,
        carriers=carriers,
    )


@router.get("/objects/{object_id}", response_class=HTMLResponse)
def social_object(
    request: Request,
    object_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    conn: Conn,
    rules: RulesDep,
    user: AdminPage,
) -> HTMLResponse:
    obj = reg_svc.get_entry(conn, table="social_objects", row_id=object_id)
    if obj is None:
        raise NotFound("Социальный объект не найден", code="not_found")
    types = {t.code: t.name for t in rules.social_object_types}
    return render(request, "admin_object.html", user=user, o=obj, types=types)


@router.get("/rules", response_class=HTMLResponse)
def rules_page(
    request: Request, rules: RulesDep, settings: SettingsDep, user: RulesReader
) -> HTMLResponse:
    return render(
        request,
        "rules.html",
        user=user,
        rules=rules,
        rules_file=str(settings.rules_file),
        booking=rules.booking.model_dump(),
        audit=rules.audit.model_dump(),
        telemetry=rules.telemetry.model_dump(),
    )
