"""The one place where exceptions become HTTP responses.

Body of every error: ``{"detail": "<Russian message>", "code": "<stable code>"}`` plus, where it
helps the form, ``errors`` (field, message), ``refusals`` (booking), ``quota`` or ``conflicts``.
Input values are never echoed back (they may be personal data), and nothing here logs them.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg import errors as pg_errors
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from dispatch.errors import Conflict, DispatchError, Invalid, NotFound
from dispatch.services import (
    AssignmentConflicts,
    BookingRefused,
    PermissionDenied,
    QuotaExceeded,
    Unavailable,
)
from web.validation_ru import FIELD_RU, error_ru

log = logging.getLogger("web.errors")

# Most specific first.
DISPATCH_STATUS: tuple[tuple[type[DispatchError], int], ...] = (
    (PermissionDenied, status.HTTP_403_FORBIDDEN),
    (Unavailable, status.HTTP_503_SERVICE_UNAVAILABLE),
    (NotFound, status.HTTP_404_NOT_FOUND),
    (Invalid, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (Conflict, status.HTTP_409_CONFLICT),
    (DispatchError, status.HTTP_400_BAD_REQUEST),
)

_HTTP_RU = {
    400: "Неверный запрос",
    401: "Требуется вход в систему",
    403: "Недостаточно прав",
    404: "Не найдено",
    405: "Метод не поддерживается",
    406: "Неподдерживаемый формат ответа",
    413: "Слишком большой запрос",
    415: "Неподдерживаемый тип содержимого",
    422: "Неверные данные",
}


def _body(detail: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"detail": detail, "code": code, **{k: v for k, v in extra.items() if v is not None}}


def dispatch_response(exc: DispatchError) -> JSONResponse:
    code = next(c for cls, c in DISPATCH_STATUS if isinstance(exc, cls))
    extra: dict[str, Any] = {}
    if isinstance(exc, BookingRefused):
        extra["refusals"] = [
            {"code": r.code, "field": r.field, "message": r.message} for r in exc.refusals
        ]
    if isinstance(exc, QuotaExceeded):
        extra["quota"] = jsonable_encoder(exc.quota)
    if isinstance(exc, AssignmentConflicts):
        extra["conflicts"] = [
            c.model_dump(mode="json") if hasattr(c, "model_dump") else c for c in exc.conflicts
        ]
    return JSONResponse(_body(exc.message, exc.code, **extra), status_code=code)


async def _dispatch_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DispatchError)
    return dispatch_response(exc)


async def _routing_handler(request: Request, exc: Exception) -> JSONResponse:
    from routing import GraphImportError, RoutingError

    assert isinstance(exc, RoutingError)
    code = 503 if isinstance(exc, GraphImportError) else 422
    return JSONResponse(_body(exc.message, type(exc).__name__.lower()), status_code=code)


def validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    out = []
    for err in errors:
        loc = tuple(err.get("loc", ()))
        skip = 1 if loc and loc[0] in ("body", "query", "path", "header", "cookie") else 0
        field, message = error_ru(err, skip_loc=skip)
        out.append({"field": field, "message": message})
    return out


async def _validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(list(exc.errors()))
    detail = "; ".join(e["message"] for e in errors) or "Неверные данные"
    return JSONResponse(
        _body(detail, "validation_error", errors=errors),
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


async def _http_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) and exc.status_code in (401, 403) else None
    message = detail or _HTTP_RU.get(exc.status_code, "Ошибка запроса")
    if (
        isinstance(exc.detail, str)
        and exc.status_code not in (401, 403)
        and _is_russian(exc.detail)
    ):
        message = exc.detail
    return JSONResponse(
        _body(message, f"http_{exc.status_code}"),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def _is_russian(text: str) -> bool:
    return any("а" <= ch.lower() <= "я" for ch in text)


async def _data_error_handler(request: Request, exc: Exception) -> JSONResponse:
    # e.g. a NUL character in a text field, a number beyond the column's range
    return JSONResponse(
        _body("Недопустимое значение или символы в данных", "bad_data"),
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


async def _integrity_handler(request: Request, exc: Exception) -> JSONResponse:
    """A constraint the schema did not catch first. The column is named; the error's DETAIL
    (PostgreSQL quotes the failing row or key: personal data) is never echoed nor logged."""
    assert isinstance(exc, psycopg.IntegrityError)
    diag = exc.diag
    column = diag.column_name
    log.warning(
        "integrity error %s (%s) in %s %s",
        type(exc).__name__, diag.constraint_name or column or "-", request.method,
        request.url.path,
    )  # fmt: skip
    if isinstance(exc, pg_errors.NotNullViolation):
        field = column or ""
        label = FIELD_RU.get(field, field)
        return JSONResponse(
            _body(f"{label}: не может быть пустым", "required",
                  errors=[{"field": field, "message": f"{label}: не может быть пустым"}]),
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )  # fmt: skip
    if isinstance(exc, pg_errors.UniqueViolation):
        return JSONResponse(
            _body("Такая запись уже существует", "duplicate"), status_code=status.HTTP_409_CONFLICT
        )
    return JSONResponse(
        _body("Недопустимое значение или ссылка на несуществующую запись", "constraint"),
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


async def _db_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.error(
        "database unavailable: %s in %s %s", type(exc).__name__, request.method, request.url.path
    )
    return JSONResponse(
        _body("База данных временно недоступна, повторите попытку позже", "db_unavailable"),
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
    )


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    # The message may quote data; log only the type and where it happened.
    log.error("unhandled %s in %s %s", type(exc).__name__, request.method, request.url.path)
    return JSONResponse(_body("Внутренняя ошибка сервера", "internal_error"), status_code=500)


def install(app: FastAPI) -> None:
    """Register every handler on ``app``."""
    from routing import RoutingError

    app.add_exception_handler(DispatchError, _dispatch_handler)
    app.add_exception_handler(RoutingError, _routing_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(psycopg.DataError, _data_error_handler)
    app.add_exception_handler(psycopg.IntegrityError, _integrity_handler)
    app.add_exception_handler(psycopg.OperationalError, _db_unavailable)
    app.add_exception_handler(PoolTimeout, _db_unavailable)
    app.add_exception_handler(Exception, _unhandled)
