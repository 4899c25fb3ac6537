"""The offline base map: the road graph's edges as lines for Leaflet.

There is no tile server on the committee's network, so the maps draw the roads the app routes on
(already loaded in memory) as a light canvas layer. Built once per graph and cached.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Request, Response

from web.pages.session import AnyPage

router = APIRouter(include_in_schema=False)


def road_lines(graph: Any) -> dict[str, Any]:
    """``{"bounds": [[lat, lon], [lat, lon]], "lines": [[lat0, lon0, lat1, lon1], ...]}``.

    Straight node-to-node segments, one per undirected edge (the two directions of a street
    share a line), coordinates rounded to ~1 m (5 decimals), degrees WGS 84.
    """
    if graph is None:
        return {"bounds": None, "lines": []}
    u = np.asarray(graph.edge_u)
    v = np.asarray(graph.edge_v)
    a, b = np.minimum(u, v), np.maximum(u, v)
    pairs = np.unique(np.stack([a, b], axis=1), axis=0)
    lat = np.round(np.asarray(graph.node_lat, dtype=np.float64), 5)
    lon = np.round(np.asarray(graph.node_lon, dtype=np.float64), 5)
    lines = np.stack([lat[pairs[:, 0]], lon[pairs[:, 0]], lat[pairs[:, 1]], lon[pairs[:, 1]]], 1)
    lat0, lon0, lat1, lon1 = graph.bounds
    return {"bounds": [[lat0, lon0], [lat1, lon1]], "lines": lines.tolist()}


@router.get("/map/roads.json")
def roads(request: Request, user: AnyPage) -> Response:
    state = request.app.state
    body = getattr(state, "roads_json", None)
    if body is None:
        body = orjson.dumps(road_lines(state.graph))
        state.roads_json = body
    return Response(
        body, media_type="application/json", headers={"Cache-Control": "private, max-age=3600"}
    )
