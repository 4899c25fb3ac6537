"""The FastAPI application factory. One psycopg pool and one road graph, set up in the lifespan."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from fastapi import FastAPI
from psycopg_pool import ConnectionPool

from config.rules import load_rules
from config.settings import Settings, get_settings

log = logging.getLogger("web.app")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def load_map(settings: Settings) -> Any:
    """The road graph of ``settings.map_source`` (cached by routing), or ``None`` without one."""
    if not settings.map_source:
        log.warning("no map configured (SOCIALTAXI_MAP_SOURCE): routing is unavailable")
        return None
    from routing import SpeedDefaults
    from routing.sources import load_map_source

    speeds = SpeedDefaults.from_mapping(settings.map_speeds) if settings.map_speeds else None
    graph = load_map_source(settings.map_source, cache_dir=settings.map_cache_dir, speeds=speeds)
    # Build the snapping index and load the compiled search now, not on the first request.
    graph = graph.warm_up()
    # The map matcher's compiled code takes seconds to load on its first call (the controller's
    # finding map matches the trip per view): load it beside the start-up, not in a request.
    threading.Thread(target=_warm_matcher, args=(graph,), name="warm-matcher", daemon=True).start()
    return graph


def _warm_matcher(graph: Any) -> None:
    from routing.matching import match_track

    try:
        lat, lon = float(graph.node_lat[0]), float(graph.node_lon[0])
        match_track(graph, [lat, lat + 0.001], [lon, lon], [0.0, 10.0])
    except Exception:  # a warm-up must never take the app down; the first view just waits
        log.warning("map matcher warm-up failed", exc_info=True)


def active_graphs(graph: Any, *, rules: Any, settings: Settings) -> Any:
    """The routing graphs that follow the database's active speed profile (``None`` without a
    map)."""
    if graph is None:
        return None
    from routing.profile_store import ActiveGraphs

    return ActiveGraphs(graph, timezone=rules.timezone, max_graphs=settings.map_profile_graphs)


_LOG_PRIVACY = {"log_error_verbosity": "terse", "log_min_error_statement": "panic"}


def log_privacy(conn: psycopg.Connection) -> None:
    """Make this connection's errors reach the PostgreSQL log without the failing row and the
    statement's parameters (``DETAIL: Failing row contains (...)``, ``STATEMENT: ...``).

    Normally the database or the role already has these (migration 0500, ``scripts/setup.sh``,
    docs/security.md); then nothing is set. Setting them needs a superuser or ``GRANT SET ON
    PARAMETER`` (PostgreSQL 15+); without the right the connection is used as it is and a
    warning says so once.
    """
    current = conn.execute(
        "SELECT current_setting('log_error_verbosity'), current_setting('log_min_error_statement')"
    ).fetchone()
    if current == tuple(_LOG_PRIVACY.values()):
        conn.commit()
        return
    try:
        for name, value in _LOG_PRIVACY.items():
            conn.execute(f"SET {name} = {value}")
        conn.commit()
    except psycopg.errors.InsufficientPrivilege:
        conn.rollback()
        if not _warned:
            _warned.append(True)
            log.warning(
                "the database role may not set log_error_verbosity: failing rows may reach the"
                " PostgreSQL log (see docs/security.md)"
            )


_warned: list[bool] = []


def _document_errors(app: FastAPI) -> None:
    """Make the OpenAPI document describe our error body (``web.errors``) instead of FastAPI's
    default ``HTTPValidationError`` for 422 responses."""
    from fastapi.openapi.utils import get_openapi

    from web.schemas import ErrorOut

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            error_ref = {"$ref": "#/components/schemas/ErrorOut"}
            schemas.setdefault(
                "ErrorOut", ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
            )
            for item in spec.get("paths", {}).values():
                for op in item.values():
                    resp = op.get("responses", {}).get("422")
                    if resp:
                        resp["content"] = {"application/json": {"schema": error_ref}}
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    settings: Settings | None = None,
    graph: Any = None,
    *,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """Build the app.

    Parameters
    ----------
    settings
        Defaults to :func:`config.settings.get_settings`.
    graph
        An already-loaded road graph (tests); otherwise it is loaded at start from
        ``settings.map_source``.
    clock
        Returns the current UTC-aware time; tests pass a frozen one.
    """
    settings = settings or get_settings()
    from web import logmask

    logmask.install()  # before the first request can log anything

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rules = load_rules(settings.rules_file)
        pool = ConnectionPool(
            settings.database_url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            # Timestamps come back in the region's time with its offset (10:00+03:00), the way
            # operators read them; instants are unchanged.
            kwargs={"options": f"-c TimeZone={rules.timezone}"},
            open=False,
            configure=log_privacy,
        )
        pool.open(wait=False)
        app.state.pool = pool
        app.state.settings = settings
        app.state.rules = rules
        app.state.graph = graph if graph is not None else load_map(settings)
        # routes follow the active speed profile (``socialtaxi map profile activate``), per
        # hour of the week; the base graph above stays for what does not depend on speeds
        app.state.graphs = active_graphs(app.state.graph, rules=rules, settings=settings)
        app.state.clock = clock or _utcnow
        try:
            yield
        finally:
            pool.close()

    app = FastAPI(
        title="Социальное такси",
        version="0.1.0",
        lifespan=lifespan,
        description="Диспетчеризация социального такси: реестры, бронирование, назначение машин.",
        openapi_url="/api/v1/openapi.json",
        # the docs pages are web.pages.docs (vendored assets, login required, no inline script)
        docs_url=None,
        redoc_url=None,
    )

    from web import errors, pages
    from web.routes import api_router

    errors.install(app)
    from web.middleware import BodyLimit, SecurityHeaders

    app.add_middleware(
        BodyLimit, json_bytes=settings.max_json_bytes, upload_bytes=settings.max_upload_bytes
    )
    # The headers wrap the whole stack, Starlette's ServerErrorMiddleware included (user
    # middleware sits inside it), so that a 500 carries them too.
    build_stack = app.build_middleware_stack
    hsts = settings.mode == "production"
    app.build_middleware_stack = lambda: SecurityHeaders(build_stack(), hsts=hsts)  # type: ignore[method-assign]
    app.include_router(api_router())
    pages.install(app)
    _document_errors(app)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
