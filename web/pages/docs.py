"""The API documentation pages (Swagger UI and ReDoc) from the vendored assets.

FastAPI's ``get_swagger_ui_html`` can point at local files, but it writes its start-up code as an
inline ``<script>``, which our Content-Security-Policy (``script-src 'self'``) refuses. So the
page is a template and the start-up code is ``static/js/api-docs.js``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from web.middleware import CONTENT_SECURITY_POLICY
from web.pages.render import render
from web.pages.session import AnyPage

router = APIRouter(include_in_schema=False)

# Swagger UI and ReDoc (styled-components) write <style> elements at run time. On these two pages
# only, inline *styles* are allowed; scripts stay 'self' only (styles cannot run code, and these
# pages show no user data); ReDoc's search runs in a blob worker. Every other page keeps the
# strict policy of web.middleware.
DOCS_CSP = (
    CONTENT_SECURITY_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
    + "; worker-src 'self' blob:"  # ReDoc's search index runs in a worker made from a blob
)
assert DOCS_CSP != CONTENT_SECURITY_POLICY


@router.get("/api/v1/docs", response_class=HTMLResponse)
def swagger(request: Request, user: AnyPage) -> HTMLResponse:
    return render(
        request,
        "api_docs.html",
        user=user,
        kind="swagger",
        headers={"Content-Security-Policy": DOCS_CSP},
    )


@router.get("/api/v1/redoc", response_class=HTMLResponse)
def redoc(request: Request, user: AnyPage) -> HTMLResponse:
    return render(
        request,
        "api_docs.html",
        user=user,
        kind="redoc",
        headers={"Content-Security-Policy": DOCS_CSP},
    )
