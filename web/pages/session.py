"""Page sessions: who is logged in, role guards that send a browser back to the login page, and
the CSRF token every form and every state-changing htmx request carries.

The pages use the API's own session (the HttpOnly cookie set by the login, checked by
:func:`web.auth.current_user`), so revoking or expiring a session ends both at once. What the
pages add is what a browser needs: a redirect to ``/login`` instead of a JSON 401, a Russian 403
page, and CSRF protection.

CSRF: the token is an HMAC of the session cookie under the app's secret (session-bound, so it
needs no storage and dies with the session). Forms send it as the ``csrf_token`` field, htmx as
the ``X-CSRF-Token`` header (``hx-headers`` on ``<body>``). Before a session exists, the login
form uses a double-submit cookie instead. The cookie itself is ``SameSite=Lax``, which already
stops cross-site POSTs in current browsers; the token covers the rest (older browsers, same-site
subdomains).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request

from dispatch.models import User
from web.auth import COOKIE_NAME, ROLES, current_user
from web.deps import Conn, NowDep, SettingsDep

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
LOGIN_CSRF_COOKIE = "socialtaxi_login_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequired(Exception):
    """No valid session: the browser goes to the login page (and back to ``next_url`` after)."""

    def __init__(self, next_url: str, message: str) -> None:
        super().__init__(message)
        self.next_url = next_url
        self.message = message


class PageForbidden(Exception):
    """Logged in, but the role does not open this page."""

    def __init__(self, roles: tuple[str, ...]) -> None:
        super().__init__("forbidden")
        self.roles = roles


def _safe_next(request: Request) -> str:
    """Where to come back after login: this page for a GET, the page the form was on otherwise.

    Only a local path is kept (never another host)."""
    if request.method in SAFE_METHODS and not request.headers.get("HX-Request"):
        path = request.url.path
        if request.url.query:
            path += "?" + request.url.query
        return path
    current = request.headers.get("HX-Current-URL") or request.headers.get("Referer") or "/"
    base = str(request.base_url)
    if current.startswith(base):
        current = "/" + current[len(base) :]
    return current if current.startswith("/") and not current.startswith("//") else "/"


def login_url(next_url: str, reason: str | None = None) -> str:
    url = "/login?next=" + quote(next_url, safe="/")
    return url + ("&reason=" + reason if reason else "")


def csrf_for(session_token: str, secret: str) -> str:
    """The CSRF token bound to one session cookie."""
    mac = hmac.new(secret.encode(), b"csrf." + session_token.encode(), hashlib.sha256)
    return mac.hexdigest()


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def page_user(request: Request, conn: Conn, settings: SettingsDep, now: NowDep) -> User:
    """The logged-in user of a page request; :class:`LoginRequired` without a valid session.

    Delegates to :func:`web.auth.current_user` with the session cookie (pages never take a
    bearer token), so every session rule of the API applies unchanged.
    """
    cookie = request.cookies.get(COOKIE_NAME)
    try:
        user = current_user(request, conn, settings, now, None, cookie)
    except HTTPException as exc:
        raise LoginRequired(_safe_next(request), str(exc.detail)) from None
    request.state.page_user = user
    request.state.csrf = csrf_for(cookie or "", settings.secret_key.get_secret_value())
    return user


PageUser = Annotated[User, Depends(page_user)]


def page_roles(*roles: str) -> Callable[[User], User]:
    """A dependency: the page user when they hold one of ``roles``; :class:`PageForbidden` else."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")

    def dependency(user: PageUser) -> User:
        if not set(user.roles) & set(roles):
            raise PageForbidden(roles)
        return user

    dependency.required_roles = roles  # type: ignore[attr-defined]
    return dependency


class CsrfFailed(Exception):
    """A state-changing page request without the session's CSRF token."""

    def __init__(self, next_url: str) -> None:
        super().__init__("csrf")
        self.next_url = next_url


async def check_csrf(request: Request, user: PageUser) -> None:
    """For every non-GET page route: the token from the header or the form must match."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        form = await request.form()  # cached by Starlette; the handler's Form() reads it again
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    expected = getattr(request.state, "csrf", "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise CsrfFailed(_safe_next(request))


Csrf = Depends(check_csrf)


def roles_of(user: User) -> set[str]:
    return set(user.roles)


OPERATOR_ROLES = ("operator", "supervisor", "admin")
DISPATCH_ROLES = ("dispatcher", "supervisor", "admin")
CONTROL_ROLES = ("controller", "supervisor", "admin")
ADMIN_ROLES = ("admin",)
REGISTRY_ROLES = ("supervisor", "admin")

OperatorPage = Annotated[User, Depends(page_roles(*OPERATOR_ROLES))]
DispatcherPage = Annotated[User, Depends(page_roles(*DISPATCH_ROLES))]
ControllerPage = Annotated[User, Depends(page_roles(*CONTROL_ROLES))]
AdminPage = Annotated[User, Depends(page_roles(*REGISTRY_ROLES))]
AnyPage = Annotated[User, Depends(page_roles(*ROLES))]
