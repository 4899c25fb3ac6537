"""Two pure-ASGI middlewares around the whole app: a request body limit enforced before anything
parses the body, and the security headers of every response (the policy in one place).

Written as raw ASGI (not Starlette's ``BaseHTTPMiddleware``) because the limit must sit between
the server and the body reader: it refuses a declared ``Content-Length`` over the limit without
reading a byte, and counts the bytes of a streamed (chunked) body as they arrive, cutting it off
at the limit. Starlette's own ``RequestBodyLimitMiddleware`` (and FastAPI's ``max_body_size``,
0.165+) apply one number to every request, or a number fixed when the route is declared; we need
two from the settings — the JSON limit, and the document limit for uploads — chosen by the
request's content type, so this is ~60 lines of our own.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The Content-Security-Policy of every response: nothing from another host, no inline scripts,
# no framing (clickjacking), no plugins, forms only to us. Pages ship their scripts and styles
# as files under web/static (issue 13); a page that needs more changes THIS line, nowhere else.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    ("permissions-policy", "geolocation=(), camera=(), microphone=()"),
)
# Production runs behind TLS only (deploy/caddy): browsers are told to keep to HTTPS.
HSTS = ("strict-transport-security", "max-age=31536000; includeSubDomains")


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.headers = [
            (k.encode(), v.encode()) for k, v in SECURITY_HEADERS + ((HSTS,) if hsts else ())
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _TooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit. An ``HTTPException`` so that
    FastAPI's body reader passes it on (it turns other errors into a 400) and ``web.errors``
    answers it as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_message(limit))


def _is_multipart(scope: Scope) -> bool:
    for k, v in scope.get("headers", []):
        if k == b"content-type":
            return v.lower().startswith(b"multipart/form-data")
    return False


def body_limit_for(scope: Scope, *, json_bytes: int, upload_bytes: int) -> int:
    """The limit of this request's body: uploads (multipart) get the document limit plus room
    for the form's other parts; everything else (JSON) the JSON limit."""
    return upload_bytes + 64 * 1024 if _is_multipart(scope) else json_bytes


class BodyLimit:
    def __init__(self, app: ASGIApp, *, json_bytes: int, upload_bytes: int) -> None:
        self.app = app
        self.json_bytes = json_bytes
        self.upload_bytes = upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit_for(scope, json_bytes=self.json_bytes, upload_bytes=self.upload_bytes)
        declared = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                await _refuse(send, 400, "Неверный заголовок Content-Length", "bad_length")
                return
            if too_big:
                await _refuse_too_large(send, limit)
                return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _refuse_too_large(send, limit)


def too_large_message(limit: int) -> str:
    size = f"{limit / (1024 * 1024):.0f} МБ" if limit >= 1024 * 1024 else f"{limit // 1024} КБ"
    return f"Слишком большой запрос: не больше {size}"


async def _refuse_too_large(send: Send, limit: int) -> None:
    await _refuse(send, 413, too_large_message(limit), "http_413")


async def _refuse(send: Send, status: int, detail: str, code: str) -> None:
    body = json.dumps({"detail": detail, "code": code}, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
