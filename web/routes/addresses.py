"""Offline address search over the map's own addresses (``socialtaxi map import``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from routing.address_store import search_addresses
from web.auth import Operator
from web.deps import Conn
from web.schemas import AddressOut

router = APIRouter(prefix="/addresses", tags=["Адреса"])


@router.get("/search", response_model=list[AddressOut])
def search(
    conn: Conn,
    user: Operator,
    q: Annotated[str, Query(min_length=1, max_length=300, description="Адрес, как его набрали")],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[AddressOut]:
    """Addresses best matching ``q`` («Гатчина, ул. Володарского, 27»): abbreviations, ё/е, any
    order and typos allowed; the exact house number ranks first."""
    return [AddressOut(**vars(h)) for h in search_addresses(conn, query=q, limit=limit)]
