"""Registries (passengers, social objects with their geofence, carriers, vehicles, drivers) and
the rules in force (read-only, with their file and version).

The lists are here; adding, editing and deactivating entries is :mod:`web.pages.admin_registry`
(included below). Users are managed here with the security issue's account services.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dispatch.errors import DispatchError, Invalid
from dispatch.models import User
from dispatch.services import accounts
from dispatch.services import registry as reg_svc
from dispatch.store import users as ustore
from web.auth import hash_password
from web.deps import Conn, NowDep, RulesDep, SettingsDep
from web.pages import admin_registry
from web.pages.forms import Errors
from web.pages.render import render
from web.pages.session import AdminPage, Csrf, page_roles

router = APIRouter(prefix="/admin", include_in_schema=False)
RulesReader = Annotated[User, Depends(page_roles("controller", "supervisor", "admin"))]
PER_PAGE = 50
ROLE_NAMES = {
    "operator": "оператор",
    "dispatcher": "диспетчер",
    "controller": "контролёр",
    "supervisor": "старший смены",
    "admin": "администратор",
}

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
    table, _title = REGISTRIES[kind]
    offset = (page - 1) * PER_PAGE
    rows: list[Any]
    if kind == "passengers":
        rows = reg_svc.list_passengers(
            conn, active=None, limit=PER_PAGE + 1, offset=offset, actor=user,
            purpose=admin_registry.PURPOSE,
        )  # fmt: skip
    else:
        rows = reg_svc.list_entries(
            conn, table=table, active=None, limit=PER_PAGE + 1, offset=offset, actor=user
        )
    return _registry_page(request, conn, user=user, kind=kind, rows=rows, page=page)


@router.post("/passengers/search", response_class=HTMLResponse, dependencies=[Csrf])
async def search_passengers(request: Request, conn: Conn, user: AdminPage) -> HTMLResponse:
    """The passenger list narrowed by phone (any format, partial) or ФИО (+ birth date), as the
    operator's search; the best PER_PAGE matches. POST: personal data stays out of URLs (and so
    out of the server's access log)."""
    form = await request.form()
    q = str(form.get("q", "")).strip()[:200]
    rows: list[Any] = []
    error = None
    if len(q) < 3:
        error = "Введите не меньше трёх знаков: телефон или фамилию (можно с датой рождения)"
    else:
        try:
            rows = reg_svc.search_passengers(
                conn, text=q, limit=PER_PAGE, actor=user, purpose=admin_registry.PURPOSE
            )
        except Invalid as exc:
            error = exc.message
        if not rows and error is None:
            error = "Никого не найдено. Проверьте написание или ищите по телефону."
    return _registry_page(request, conn, user=user, kind="passengers", rows=rows, page=1, q=q,
                          search_error=error, searched=True)  # fmt: skip


def _registry_page(
    request: Request,
    conn: Any,
    *,
    user: User,
    kind: str,
    rows: list[Any],
    page: int,
    q: str = "",
    search_error: str | None = None,
    searched: bool = False,
) -> HTMLResponse:
    carriers = {
        c.id: c.name
        for c in reg_svc.list_entries(
            conn, table="carriers", active=None, limit=10_000, offset=0, actor=user
        )
    }
    return render(
        request,
        "admin.html",
        user=user,
        kind=kind,
        title=REGISTRIES[kind][1],
        registries=REGISTRIES,
        rows=rows[:PER_PAGE],
        more=len(rows) > PER_PAGE and not searched,
        page=page,
        q=q,
        search_error=search_error,
        searched=searched,
        carriers=carriers,
    )


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


# --- users (admin only; the security issue's account services) --------------------------------
UsersAdmin = Annotated[User, Depends(page_roles("admin"))]
UserId = Annotated[int, Path(ge=1, le=2**63 - 1)]
MIN_PASSWORD = 8


def _users_page(
    request: Request,
    conn: Any,
    *,
    user: User,
    errors: Errors | None = None,
    values: dict[str, Any] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    carriers = reg_svc.list_entries(conn, table="carriers", active=None, limit=10_000, offset=0)
    return render(
        request,
        "users.html",
        user=user,
        users=ustore.list_users(conn),
        carriers=carriers,
        carrier_names={c.id: c.name for c in carriers},
        roles=ROLE_NAMES,
        errors=errors or Errors(),
        v=values or {},
        notice=notice,
        status_code=status_code,
    )


@router.get("/users", response_class=HTMLResponse)
def users(request: Request, conn: Conn, user: UsersAdmin, done: str = "") -> HTMLResponse:
    notice = {
        "created": "Пользователь добавлен",
        "password": "Пароль изменён, сеансы пользователя завершены",
        "roles": "Роли изменены, сеансы пользователя завершены",
        "deactivated": "Пользователь заблокирован, его сеансы завершены",
        "activated": "Пользователь разблокирован",
    }.get(done)
    return _users_page(request, conn, user=user, notice=notice)


def _roles_of(form: Any) -> list[str]:
    return [r for r in form.getlist("roles") if r in ROLE_NAMES]


@router.post("/users", response_class=HTMLResponse, dependencies=[Csrf])
async def add_user(request: Request, conn: Conn, user: UsersAdmin) -> Response:
    form = await request.form()
    login = str(form.get("login", "")).strip()
    full_name = str(form.get("full_name", "")).strip()
    password = str(form.get("password", ""))
    carrier = str(form.get("carrier_id", ""))
    roles = _roles_of(form)
    errors = Errors()
    if not login or len(login) > 100:
        errors.add("login", "Логин: от 1 до 100 знаков")
    if not full_name or len(full_name) > 300:
        errors.add("full_name", "ФИО: от 1 до 300 знаков")
    if not MIN_PASSWORD <= len(password) <= 200:
        errors.add("password", f"Пароль: не короче {MIN_PASSWORD} знаков")
    if not roles:
        errors.add("roles", "Выберите хотя бы одну роль")
    carrier_id = int(carrier) if carrier.isdigit() and len(carrier) < 19 else None
    if not errors:
        try:
            accounts.create_user(
                conn, login=login, full_name=full_name, password_hash=hash_password(password),
                roles=roles, carrier_id=carrier_id,
            )  # fmt: skip
            return RedirectResponse("/admin/users?done=created", status_code=303)
        except DispatchError as exc:
            conn.rollback()
            errors.add("login" if exc.code in ("conflict", "login_taken") else "roles", exc.message)
    values = {"login": login, "full_name": full_name, "carrier_id": carrier, "roles": roles}
    return _users_page(request, conn, user=user, errors=errors, values=values, status_code=422)


@router.post("/users/{user_id}/{action}", response_class=HTMLResponse, dependencies=[Csrf])
async def user_action(
    request: Request,
    user_id: UserId,
    action: Annotated[str, Path(pattern="^(password|roles|deactivate|activate)$")],
    conn: Conn,
    now: NowDep,
    user: UsersAdmin,
) -> Response:
    form = await request.form()
    errors = Errors()
    try:
        if action == "password":
            password = str(form.get("password", ""))
            if not MIN_PASSWORD <= len(password) <= 200:
                errors.add(f"password-{user_id}", f"Пароль: не короче {MIN_PASSWORD} знаков")
            else:
                accounts.change_password(
                    conn, user_id=user_id, password_hash=hash_password(password), now=now
                )
        elif action == "roles":
            roles = _roles_of(form)
            if not roles:
                errors.add(f"roles-{user_id}", "Выберите хотя бы одну роль")
            else:
                accounts.set_roles(conn, user_id=user_id, roles=roles, now=now)
        else:
            if user_id == user.id and action == "deactivate":
                errors.add(f"roles-{user_id}", "Нельзя заблокировать самого себя")
            else:
                accounts.set_active(conn, user_id=user_id, active=action == "activate", now=now)
    except DispatchError as exc:
        conn.rollback()
        errors.add(f"roles-{user_id}", exc.message)
    if errors:
        return _users_page(request, conn, user=user, errors=errors, status_code=422)
    done = {"deactivate": "deactivated", "activate": "activated"}.get(action, action)
    return RedirectResponse(f"/admin/users?done={done}", status_code=303)


# after this module's own routes: /admin/users/… is matched before /admin/{registry}/…
router.include_router(admin_registry.router)
