"""Adding, editing and deactivating registry entries (passengers, social objects, carriers,
vehicles, drivers) from the admin pages.

Each handler parses the form (:mod:`web.pages.admin_forms`), calls the registry service the JSON
API calls (``dispatch.services.registry``: the same checks, the same carrier-staff refusal, the
same access log for a passenger's personal data) and renders the form again with the refusals
next to their fields, or redirects to the saved entry. For supervisors and administrators, as
the API's registry writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from config.rules import Rules
from dispatch.errors import DispatchError
from dispatch.models import User
from dispatch.services import registry as reg_svc
from web.deps import Conn, RulesDep
from web.pages import admin_forms as af
from web.pages.forms import Errors
from web.pages.render import render
from web.pages.session import AdminPage, Csrf

router = APIRouter(include_in_schema=False)
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
PURPOSE = "registry"  # the access log's purpose of the registry pages' passenger reads
DONE_RU = {
    "created": "Запись добавлена",
    "saved": "Изменения сохранены",
    "deactivated": "Запись выведена из реестра",
    "activated": "Запись возвращена в реестр",
}


def _carriers(conn: Any, user: User) -> list[Any]:
    return list(
        reg_svc.list_entries(
            conn, table="carriers", active=None, limit=10_000, offset=0, actor=user
        )
    )


def _form_page(
    request: Request,
    conn: Any,
    rules: Rules,
    *,
    user: User,
    kind: str,
    values: dict[str, str],
    record: Any = None,
    errors: Errors | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    spec = af.FORMS[kind]
    carriers = _carriers(conn, user) if kind in ("vehicles", "drivers") else []
    return render(
        request,
        f"admin_{kind}_form.html",
        user=user,
        kind=kind,
        spec=spec,
        v=values,
        record=record,
        errors=errors or Errors(),
        notice=notice,
        status_code=status_code,
        object_types={t.code: t.name for t in rules.social_object_types},
        vehicle_types={t.vehicle_type: t.name for t in rules.tariffs},
        categories={c.code: c.name for c in rules.benefit_categories},
        carrier_options=[(c.id, c.name + ("" if c.active else " (не работает)")) for c in carriers],
        benefit_rows=af.benefit_rows(values),
        heading=_heading(kind, record),
        registry_title=REGISTRY_TITLES[kind],
    )


REGISTRY_TITLES = {
    "passengers": "Пассажиры",
    "objects": "Социальные объекты",
    "carriers": "Перевозчики",
    "vehicles": "Автомобили",
    "drivers": "Водители",
}


def _heading(kind: str, record: Any) -> str:
    if record is None:
        return ""
    if kind == "passengers":
        return " ".join(x for x in (record.last_name, record.first_name, record.middle_name) if x)
    if kind == "vehicles":
        return f"Автомобиль {record.plate}"
    return str(record.full_name if kind == "drivers" else record.name)


def _load(conn: Any, kind: str, row_id: int, user: User) -> Any:
    if kind == "passengers":
        return reg_svc.get_passenger(conn, passenger_id=row_id, actor=user, purpose=PURPOSE)
    return reg_svc.get_entry(conn, table=af.FORMS[kind].table, row_id=row_id, actor=user)


def _refusal(errors: Errors, exc: DispatchError) -> None:
    errors.add(af.field_of_message(exc.message), exc.message)


def _new_page(kind: str) -> Callable[..., HTMLResponse]:
    def new_form(request: Request, conn: Conn, rules: RulesDep, user: AdminPage) -> HTMLResponse:
        values = {"seats": "4", "wheelchair_places": "0"} if kind == "vehicles" else {}
        if kind == "objects":
            values = {"radius_m": "150", "zone_kind": "polygon"}
        return _form_page(request, conn, rules, user=user, kind=kind, values=values)

    return new_form


def _create(kind: str) -> Callable[..., Any]:
    async def create(request: Request, conn: Conn, rules: RulesDep, user: AdminPage) -> Response:
        form = await request.form()
        model, errors = af.parse(kind, form, editing=False)
        if model is not None:
            try:
                with conn.transaction():  # a savepoint: a refusal undoes only this write
                    row = _write_new(conn, kind, model, rules, user)
                return RedirectResponse(f"/admin/{kind}/{row.id}?done=created", status_code=303)
            except DispatchError as exc:
                _refusal(errors, exc)
            except psycopg.DataError:  # a value beyond a column's range the models let through
                errors.add(None, "Недопустимое значение или символы в данных")
        return _form_page(request, conn, rules, user=user, kind=kind,
                          values=af.form_values(form), errors=errors, status_code=422)  # fmt: skip

    return create


def _write_new(conn: Any, kind: str, model: Any, rules: Rules, user: User) -> Any:
    if kind == "passengers":
        return reg_svc.create_passenger(conn, data=model, rules=rules, actor=user)
    table = af.FORMS[kind].table
    return reg_svc.create_entry(conn, table=table, data=model, rules=rules, actor=user)


def _edit_page(kind: str) -> Callable[..., HTMLResponse]:
    def edit_form(
        request: Request,
        row_id: RowId,
        conn: Conn,
        rules: RulesDep,
        user: AdminPage,
        done: str = "",
    ) -> HTMLResponse:
        record = _load(conn, kind, row_id, user)
        return _form_page(request, conn, rules, user=user, kind=kind, record=record,
                          values=af.values_of(kind, record), notice=DONE_RU.get(done))  # fmt: skip

    return edit_form


def _update(kind: str) -> Callable[..., Any]:
    async def update(
        request: Request, row_id: RowId, conn: Conn, rules: RulesDep, user: AdminPage
    ) -> Response:
        form = await request.form()
        record = _load(conn, kind, row_id, user)  # 404 before anything else
        model, errors = af.parse(kind, form, editing=True)
        if model is not None:
            try:
                with conn.transaction():  # a savepoint: the read's access-log entry stays
                    _write_update(conn, kind, row_id, model, rules, user)
                return RedirectResponse(f"/admin/{kind}/{row_id}?done=saved", status_code=303)
            except DispatchError as exc:
                _refusal(errors, exc)
            except psycopg.DataError:  # a value beyond a column's range the models let through
                errors.add(None, "Недопустимое значение или символы в данных")
        return _form_page(request, conn, rules, user=user, kind=kind, record=record,
                          values=af.form_values(form), errors=errors, status_code=422)  # fmt: skip

    return update


def _write_update(conn: Any, kind: str, row_id: int, model: Any, rules: Rules, user: User) -> None:
    if kind == "passengers":
        reg_svc.update_passenger(conn, passenger_id=row_id, patch=model, rules=rules, actor=user)
    else:
        table = af.FORMS[kind].table
        reg_svc.update_entry(conn, table=table, row_id=row_id, patch=model, rules=rules, actor=user)


def _set_active(kind: str, active: bool) -> Callable[..., Any]:
    def set_active(row_id: RowId, conn: Conn, user: AdminPage) -> Response:
        if kind == "passengers":
            reg_svc.set_passenger_active(conn, passenger_id=row_id, active=active, actor=user)
        else:
            reg_svc.set_entry_active(
                conn, table=af.FORMS[kind].table, row_id=row_id, active=active, actor=user
            )
        done = "activated" if active else "deactivated"
        return RedirectResponse(f"/admin/{kind}/{row_id}?done={done}", status_code=303)

    return set_active


# One literal path per registry (not /admin/{kind}/…, which would also match /admin/users/…);
# web.pages.admin includes this router under its /admin prefix.
for _kind in af.FORMS:
    _base = f"/{_kind}"
    router.add_api_route(f"{_base}/new", _new_page(_kind), methods=["GET"],
                         response_class=HTMLResponse, name=f"admin_new_{_kind}")  # fmt: skip
    router.add_api_route(f"{_base}/new", _create(_kind), methods=["POST"],
                         dependencies=[Csrf], name=f"admin_create_{_kind}")  # fmt: skip
    router.add_api_route(f"{_base}/{{row_id}}", _edit_page(_kind), methods=["GET"],
                         response_class=HTMLResponse, name=f"admin_edit_{_kind}")  # fmt: skip
    router.add_api_route(f"{_base}/{{row_id}}", _update(_kind), methods=["POST"],
                         dependencies=[Csrf], name=f"admin_update_{_kind}")  # fmt: skip
    for _active, _action in ((False, "deactivate"), (True, "activate")):
        router.add_api_route(f"{_base}/{{row_id}}/{_action}", _set_active(_kind, _active),
                             methods=["POST"], dependencies=[Csrf],
                             name=f"admin_{_action}_{_kind}")  # fmt: skip
