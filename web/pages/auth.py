"""The login page, logout and the start page (which sends each role to its work)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dispatch.store import sessions as sstore
from web.auth import COOKIE_NAME, LoginLocked, attempt_login
from web.deps import Conn, NowDep, PoolDep, SettingsDep
from web.pages.render import render
from web.pages.session import (
    LOGIN_CSRF_COOKIE,
    Csrf,
    PageUser,
    new_login_csrf,
)
from web.routes.auth import client_addr

router = APIRouter(include_in_schema=False)

_NOTICES = {
    "expired": "Сеанс истёк или устарел. Войдите снова — введённые данные формы сохранены.",
    "logout": "Вы вышли из системы.",
}


def _local_path(value: str | None) -> str:
    """Only a path on this server (never ``//host`` or a scheme) is a place to go back to."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _login_page(
    request: Request,
    *,
    next_url: str,
    error: str | None = None,
    notice: str | None = None,
    login: str | None = None,
    status_code: int = 200,
    expired: bool = False,
) -> HTMLResponse:
    token = new_login_csrf()
    response = render(
        request,
        "login.html",
        user=None,
        status_code=status_code,
        login_csrf=token,
        next_url=next_url,
        error=error,
        notice=notice,
        login=login,
        expired=expired,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.mode == "production",
        path="/login",
        max_age=3600,
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/", reason: str | None = None) -> HTMLResponse:
    return _login_page(
        request,
        next_url=_local_path(next),
        notice=_NOTICES.get(reason or ""),
        expired=reason == "expired",
    )


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    pool: PoolDep,
    settings: SettingsDep,
    now: NowDep,
    login: Annotated[str, Form(max_length=100)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    next_url = _local_path(next)
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, csrf_token):
        return _login_page(
            request,
            next_url=next_url,
            login=login,
            error="Форма входа устарела: введите пароль ещё раз",
            status_code=400,
        )
    login = login.strip()
    if not login or not password:
        return _login_page(
            request,
            next_url=next_url,
            login=login,
            error="Введите логин и пароль",
            status_code=422,
        )
    # the API's login: lockout, a server-side session (its own transaction, committed whatever
    # the outcome, so that a failure is counted)
    try:
        with pool.connection() as conn:
            result = attempt_login(
                conn,
                login=login,
                password=password,
                client_addr=client_addr(request),
                user_agent=request.headers.get("user-agent"),
                now=now,
                settings=settings,
            )
    except LoginLocked as exc:
        seconds = max(1, int(exc.retry_after.total_seconds() + 0.999))
        return _login_page(
            request,
            next_url=next_url,
            login=login,
            error=f"Слишком много неудачных попыток входа. Повторите через {seconds} с",
            status_code=429,
        )
    if result is None:
        return _login_page(
            request,
            next_url=next_url,
            login=login,
            error="Неверный логин или пароль",
            status_code=401,
        )
    _user, token, exp = result
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        token,
        httponly=True,
        samesite="lax",
        secure=settings.mode == "production",
        max_age=int((exp - now).total_seconds()),
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout", dependencies=[Csrf])
def logout(request: Request, user: PageUser, conn: Conn, now: NowDep) -> Response:
    """End this session (the token stops working at once, for the pages and the API)."""
    sstore.end_session(conn, session_id=request.state.session_id, now=now, reason="logout")
    response = RedirectResponse("/login?reason=logout", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: PageUser) -> Response:
    """Each role starts at its own work; someone with several roles gets the list."""
    roles = set(user.roles)
    single = {
        frozenset({"operator"}): "/operator/book",
        frozenset({"dispatcher"}): "/dispatcher",
        frozenset({"controller"}): "/controller",
    }.get(frozenset(roles))
    if single:
        return RedirectResponse(single, status_code=303)
    return render(request, "home.html", user=user)
