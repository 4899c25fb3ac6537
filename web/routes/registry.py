"""Social objects, carriers, vehicles and drivers: the same five endpoints each.

(No ``from __future__ import annotations`` here: the handlers are built by :func:`_crud` and
their annotations must be real classes for FastAPI to read.)
"""

from typing import Annotated, Any

from fastapi import APIRouter, File, Path, UploadFile, status
from pydantic import BaseModel

from dispatch.models import (
    Carrier,
    CarrierIn,
    CarrierPatch,
    Driver,
    DriverIn,
    DriverPatch,
    SocialObject,
    SocialObjectIn,
    SocialObjectPatch,
    Vehicle,
    VehicleIn,
    VehiclePatch,
)
from dispatch.services import registry as svc
from web.auth import Anyone, FleetAdmin
from web.deps import Conn, RulesDep
from web.routes._common import Limit, Offset, read_upload
from web.schemas import ImportOut, RowErrorOut
from web.validation_ru import row_error_ru

router = APIRouter()
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _crud(
    path: str,
    table: str,
    tag: str,
    model_in: type[BaseModel],
    patch: type[BaseModel],
    out: type[BaseModel],
) -> APIRouter:
    r = APIRouter(prefix=path, tags=[tag])
    name = table.rstrip("s")

    def create(body: model_in, conn: Conn, rules: RulesDep, user: FleetAdmin) -> Any:  # type: ignore[valid-type]
        return svc.create_entry(conn, table=table, data=body, rules=rules, actor=user)

    def list_plain(
        conn: Conn, user: Anyone, limit: Limit = 100, offset: Offset = 0, active: bool | None = None
    ) -> Any:
        return svc.list_entries(
            conn, table=table, active=active, limit=limit, offset=offset, actor=user
        )

    def get(row_id: RowId, conn: Conn, user: Anyone) -> Any:
        return svc.get_entry(conn, table=table, row_id=row_id, actor=user)

    def update(row_id: RowId, body: patch, conn: Conn, rules: RulesDep, user: FleetAdmin) -> Any:  # type: ignore[valid-type]
        return svc.update_entry(
            conn, table=table, row_id=row_id, patch=body, rules=rules, actor=user
        )

    def deactivate(row_id: RowId, conn: Conn, user: FleetAdmin) -> Any:
        return svc.set_entry_active(conn, table=table, row_id=row_id, active=False, actor=user)

    def activate(row_id: RowId, conn: Conn, user: FleetAdmin) -> Any:
        return svc.set_entry_active(conn, table=table, row_id=row_id, active=True, actor=user)

    def import_(
        conn: Conn,
        rules: RulesDep,
        user: FleetAdmin,
        file: Annotated[UploadFile, File(description="CSV")],
    ) -> ImportOut:
        ids, errors = svc.import_csv(
            conn, kind=table, content=read_upload(file), rules=rules, actor=user
        )
        return ImportOut(
            created=len(ids),
            ids=ids,
            errors=[RowErrorOut(line=e.line, message=row_error_ru(e)) for e in errors],
        )

    r.add_api_route(
        "",
        create,
        methods=["POST"],
        response_model=out,
        status_code=status.HTTP_201_CREATED,
        name=f"create_{name}",
        summary=f"Создать: {tag}",
    )
    r.add_api_route(
        "",
        list_plain,
        methods=["GET"],
        response_model=list[out],  # type: ignore[valid-type]
        name=f"list_{table}",
        summary=f"Список: {tag}",
    )
    r.add_api_route(
        "/import",
        import_,
        methods=["POST"],
        response_model=ImportOut,
        name=f"import_{table}",
        summary=f"Импорт CSV: {tag}",
    )
    r.add_api_route("/{row_id}", get, methods=["GET"], response_model=out, name=f"get_{name}")
    r.add_api_route(
        "/{row_id}", update, methods=["PATCH"], response_model=out, name=f"update_{name}"
    )
    r.add_api_route(
        "/{row_id}/deactivate",
        deactivate,
        methods=["POST"],
        response_model=out,
        name=f"deactivate_{name}",
    )
    r.add_api_route(
        "/{row_id}/activate",
        activate,
        methods=["POST"],
        response_model=out,
        name=f"activate_{name}",
    )
    return r


router.include_router(
    _crud(
        "/social-objects",
        "social_objects",
        "Социальные объекты",
        SocialObjectIn,
        SocialObjectPatch,
        SocialObject,
    )
)
router.include_router(
    _crud("/carriers", "carriers", "Перевозчики", CarrierIn, CarrierPatch, Carrier)
)
router.include_router(
    _crud("/vehicles", "vehicles", "Автомобили", VehicleIn, VehiclePatch, Vehicle)
)
router.include_router(_crud("/drivers", "drivers", "Водители", DriverIn, DriverPatch, Driver))
