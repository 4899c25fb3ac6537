"""The server-rendered pages (Jinja2 + htmx + a little plain JS), in Russian.

Handlers parse the form, call the same ``dispatch`` services the JSON API calls, and render a
template; no SQL here. Every asset is served from ``web/static`` (nothing from another host).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from web.pages.session import CsrfFailed, LoginRequired, PageForbidden, login_url

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

_ROLES_RU = {
    "operator": "оператор",
    "dispatcher": "диспетчер",
    "controller": "контролёр",
    "supervisor": "старший смены",
    "admin": "администратор",
}


def _to_login(request: Request, next_url: str, reason: str | None) -> Response:
    url = login_url(next_url, reason)
    if request.headers.get("HX-Request"):
        # htmx follows this with a full page load (a plain redirect would swap the login page
        # into the fragment's target).
        return Response(status_code=401, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    reason = "expired" if request.cookies.get("socialtaxi_session") else None
    return _to_login(request, exc.next_url, reason)


async def _csrf_failed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CsrfFailed)
    return _to_login(request, exc.next_url, "expired")


async def _forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageForbidden)
    from web.pages.render import render

    roles = ", ".join(_ROLES_RU[r] for r in exc.roles)
    user = getattr(request.state, "page_user", None)
    return render(request, "forbidden.html", user=user, status_code=403, roles=roles)


def _is_page(request: Request) -> bool:
    return not request.url.path.startswith(("/api/", "/static/", "/health"))


async def _dispatch_error(request: Request, exc: Exception) -> Response:
    """Service errors on a page become a Russian error page; on the API, the JSON body."""
    from dispatch.errors import DispatchError
    from web.errors import DISPATCH_STATUS, dispatch_response
    from web.pages.render import render

    assert isinstance(exc, DispatchError)
    if not _is_page(request):
        return dispatch_response(exc)
    code = next(c for cls, c in DISPATCH_STATUS if isinstance(exc, cls))
    user = getattr(request.state, "page_user", None)
    title = "Не найдено" if code == 404 else "Действие невозможно"
    return render(request, "error.html", user=user, status_code=code, title=title,
                  message=exc.message)  # fmt: skip


def install(app: FastAPI) -> None:
    """Mount the static files and the page routers, register the page exception handlers."""
    from web.pages import admin, auth, basemap, controller, dispatcher, docs, live, operator

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(CsrfFailed, _csrf_failed)
    app.add_exception_handler(PageForbidden, _forbidden)
    from dispatch.errors import DispatchError

    app.add_exception_handler(DispatchError, _dispatch_error)  # replaces web.errors' one
    for module in (auth, operator, dispatcher, live, controller, admin, docs, basemap):
        app.include_router(module.router)
