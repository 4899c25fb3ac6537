"""The JSON API, ``/api/v1``: one module per domain; handlers parse, call a service, return."""

from __future__ import annotations

from fastapi import APIRouter

API_PREFIX = "/api/v1"


def api_router() -> APIRouter:
    from web.routes import addresses, assignment, auth, passengers, registry, trips, users
    from web.schemas import ERROR_RESPONSES

    router = APIRouter(prefix=API_PREFIX, responses=ERROR_RESPONSES)
    router.include_router(auth.router)
    router.include_router(passengers.router)
    router.include_router(assignment.router)
    router.include_router(registry.router)
    router.include_router(trips.router)
    router.include_router(users.router)
    router.include_router(addresses.router)
    return router
