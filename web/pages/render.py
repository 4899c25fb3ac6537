"""Rendering pages: one Jinja2 environment (autoescaped), Russian formats for dates and money,
the navigation by role, and the Content-Security-Policy every page is sent with."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from dispatch.models import User

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"

# The Content-Security-Policy (no inline script, nothing from another host) is set for every
# response by web.middleware; pages keep to it: JS lives in /static/js, data for scripts
# travels in data-* attributes or <script type="application/json"> blocks (never executed).

# (path, label, roles that see it)
NAV: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("/operator/book", "Новая поездка", ("operator", "supervisor", "admin")),
    ("/operator/trips", "Поездки", ("operator", "dispatcher", "supervisor", "admin")),
    ("/dispatcher", "Карта и назначение", ("dispatcher", "supervisor", "admin")),
    ("/controller", "Нарушения", ("controller", "supervisor", "admin")),
    ("/controller/report", "Отчёт за месяц", ("controller", "supervisor", "admin")),
    ("/admin", "Реестры", ("supervisor", "admin")),
    ("/admin/users", "Пользователи", ("admin",)),
    ("/admin/rules", "Правила", ("controller", "supervisor", "admin")),
    ("/api/v1/docs", "API", ("admin",)),
)

STATUS_RU = {
    "booked": "забронирована",
    "assigned": "назначена машина",
    "en_route": "машина едет к пассажиру",
    "arrived": "машина на месте подачи",
    "on_board": "пассажир в машине",
    "completed": "завершена",
    "cancelled": "отменена",
    "no_show": "неявка",
}


EVENT_RU = {
    "en_route": "выехал к пассажиру",
    "arrived_at_pickup": "прибыл на подачу",
    "passenger_on_board": "пассажир в машине",
    "arrived_at_destination": "прибыл к месту назначения",
    "trip_completed": "поездка завершена",
    "payment_collected": "доплата получена",
    "shift_start": "начало смены",
    "shift_end": "конец смены",
    "no_show": "неявка пассажира",
    "booked": "бронирование",
    "assigned": "назначена машина",
    "cancelled": "отмена",
    "book": "бронирование",
    "assign": "назначена машина",
    "unassign": "снята машина",
    "start": "выехал к пассажиру",
    "arrive": "прибыл на подачу",
    "board": "пассажир в машине",
    "complete": "поездка завершена",
    "cancel": "отмена",
}


def phone(value: str) -> str:
    """A stored phone (``7XXXXXXXXXX``) as «+7 (921) 123-45-67»."""
    if len(value) == 11 and value.isdigit() and value[0] == "7":
        return f"+7 ({value[1:4]}) {value[4:7]}-{value[7:9]}-{value[9:]}"
    return value


def _local(value: datetime | None, tz: str, fmt: str = "%d.%m.%Y %H:%M") -> str:
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(tz)).strftime(fmt)


def _local_iso(value: object, tz: str) -> object:
    """An ISO timestamp string in evidence shown as local time; anything else unchanged."""
    if isinstance(value, str) and len(value) >= 19 and value[10:11] == "T":
        try:
            return _local(datetime.fromisoformat(value), tz, "%d.%m.%Y %H:%M:%S")
        except ValueError:
            return value
    return value


def rub(kop: int | None) -> str:
    """Integer kopecks as «1 234,50 ₽»."""
    if kop is None:
        return "—"
    sign = "-" if kop < 0 else ""
    rub_, k = divmod(abs(kop), 100)
    return f"{sign}{rub_:,}".replace(",", "\u00a0") + f",{k:02d}\u00a0₽"


def ru_date(value: date | None) -> str:
    return value.strftime("%d.%m.%Y") if value else "—"


@lru_cache(maxsize=1)
def templates() -> Jinja2Templates:
    t = Jinja2Templates(directory=str(TEMPLATES_DIR))
    t.env.filters["rub"] = rub
    t.env.filters["ru_date"] = ru_date
    t.env.filters["phone"] = phone
    t.env.globals["STATUS_RU"] = STATUS_RU
    t.env.globals["EVENT_RU"] = EVENT_RU
    return t


def nav_for(user: User | None) -> list[tuple[str, str]]:
    if user is None:
        return []
    roles = set(user.roles)
    return [(path, label) for path, label, allowed in NAV if roles & set(allowed)]


def render(
    request: Request,
    name: str,
    *,
    user: User | None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render ``name`` with the user, the CSRF token, the navigation and local-time filters."""
    tz = request.app.state.rules.timezone
    env_ctx = {
        "user": user,
        "csrf": getattr(request.state, "csrf", ""),
        "nav": nav_for(user),
        "path": request.url.path,
        "tz": tz,
        "local": lambda v, fmt="%d.%m.%Y %H:%M": _local(v, tz, fmt),
        "local_iso": lambda v: _local_iso(v, tz),
        **context,
    }
    response = templates().TemplateResponse(
        request, name, env_ctx, status_code=status_code, headers=headers
    )
    response.headers.setdefault("Cache-Control", "no-store")
    # Pages tell the app (and only the app) where a form was sent from: a form whose session has
    # expired comes back to that page after the login. Other hosts get nothing (web.middleware's
    # default is no-referrer; our URLs carry no personal data either way).
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response
