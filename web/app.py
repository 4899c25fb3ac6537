"""The FastAPI application factory. One psycopg pool, opened in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from psycopg_pool import ConnectionPool

from config.rules import load_rules
from config.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = ConnectionPool(
            settings.database_url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            open=False,
        )
        pool.open(wait=False)
        app.state.pool = pool
        app.state.settings = settings
        app.state.rules = load_rules(settings.rules_file)
        try:
            yield
        finally:
            pool.close()

    app = FastAPI(title="Социальное такси", version="0.1.0", lifespan=lifespan)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
