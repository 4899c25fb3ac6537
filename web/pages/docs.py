"""The API documentation pages (Swagger UI and ReDoc) from the vendored assets.

FastAPI's ``get_swagger_ui_html`` can point at local files, but it writes its start-up code as an
inline ``<script>``, which our Content-Security-Policy (``script-src 'self'``) refuses. So the
page is a template and the start-up code is ``static/js/api-docs.js``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from web.pages.render import render
from web.pages.session import AnyPage

router = APIRouter(include_in_schema=False)


@router.get("/api/v1/docs", response_class=HTMLResponse)
def swagger(request: Request, user: AnyPage) -> HTMLResponse:
    return render(request, "api_docs.html", user=user, kind="swagger")


@router.get("/api/v1/redoc", response_class=HTMLResponse)
def redoc(request: Request, user: AnyPage) -> HTMLResponse:
    return render(request, "api_docs.html", user=user, kind="redoc")
