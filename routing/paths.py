"""Routes and travel-time matrices as values, and the geometry of a path (pure, no I/O).

All geometry is WGS 84 longitude/latitude (EPSG:4326), as GeoJSON and folium expect; lengths
are metres measured along the road (haversine sums from osmnx), durations seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString


def path_coords(
    edges: np.ndarray, geom_ptr: np.ndarray, geom_lon: np.ndarray, geom_lat: np.ndarray
) -> np.ndarray:
    """Coordinates (lon, lat) of consecutive edges joined into one line.

    Each edge's coordinates are ``geom_*[geom_ptr[e]:geom_ptr[e + 1]]``; the shared point where
    one edge ends and the next begins is kept once.

    Parameters
    ----------
    edges
        Edge ids in travel order (each edge's head is the next edge's tail).
    geom_ptr, geom_lon, geom_lat
        Flat edge geometry (CSR layout), degrees.

    Returns
    -------
    ndarray
        Shape ``(k, 2)``: longitude, latitude.
    """
    edges = np.asarray(edges, np.int64)
    if edges.size == 0:
        return np.empty((0, 2))
    starts = geom_ptr[edges].copy()
    starts[1:] += 1  # drop the joint point of every edge after the first
    ends = geom_ptr[edges + 1]
    counts = ends - starts
    total = int(counts.sum())
    offsets = np.cumsum(counts) - counts
    idx = np.repeat(starts - offsets, counts) + np.arange(total)
    return np.column_stack((geom_lon[idx], geom_lat[idx]))


@dataclass(frozen=True)
class Route:
    """The fastest drive between two graph nodes.

    Attributes
    ----------
    nodes
        OSM node ids in travel order (one id when origin and destination snap to one node).
    geometry
        The road line, longitude/latitude (WGS 84), following the real edge shapes.
    dist_m
        Length along the roads, metres.
    duration_s
        Travel time, seconds (the model of :mod:`routing.traveltime`).
    """

    nodes: list[int]
    geometry: LineString
    dist_m: float
    duration_s: float
    edges: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64), repr=False)

    def eta(self, depart_at: datetime) -> datetime:
        """Arrival time for a departure at ``depart_at`` (timezone-aware; same zone back).

        Raises
        ------
        ValueError
            For a naive datetime.
        """
        if depart_at.tzinfo is None or depart_at.utcoffset() is None:
            raise ValueError("depart_at must be timezone-aware")
        return depart_at + timedelta(seconds=self.duration_s)

    def to_geojson(self) -> dict[str, Any]:
        """A GeoJSON Feature (plain dict, JSON-serialisable) for folium or the web API."""
        coords = shapely.get_coordinates(self.geometry)
        return {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": coords.tolist()},
            "properties": {
                "dist_m": round(float(self.dist_m), 1),
                "duration_s": round(float(self.duration_s), 1),
                "nodes": [int(n) for n in self.nodes],
            },
        }


@dataclass(frozen=True, eq=False)
class Matrix:
    """Travel times and distances from each origin (rows) to each destination (columns).

    Attributes
    ----------
    duration_s
        ``(n, m)`` seconds; ``np.inf`` where a destination cannot be reached.
    dist_m
        ``(n, m)`` metres along the fastest path; ``np.inf`` where unreachable.
    orig_node, dest_node
        The OSM node ids the points snapped to.
    """

    duration_s: np.ndarray
    dist_m: np.ndarray
    orig_node: np.ndarray
    dest_node: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.duration_s.shape)  # type: ignore[return-value]


def make_route(
    node_ids: np.ndarray,
    edges: np.ndarray,
    *,
    edge_v: np.ndarray,
    edge_length_m: np.ndarray,
    edge_time_s: np.ndarray,
    geom_ptr: np.ndarray,
    geom_lon: np.ndarray,
    geom_lat: np.ndarray,
    start_node: int,
    start_lonlat: tuple[float, float],
) -> Route:
    """Assemble a :class:`Route` from the original edge ids of a path.

    Parameters
    ----------
    node_ids
        OSM ids of all graph nodes (index → id).
    edges
        Edge ids in travel order; empty for a zero-length route.
    edge_v, edge_length_m, edge_time_s
        Edge heads (node indices), lengths (m) and travel times (s).
    geom_ptr, geom_lon, geom_lat
        Flat edge geometry.
    start_node
        Node index where the route starts (needed when ``edges`` is empty).
    start_lonlat
        That node's coordinates.
    """
    edges = np.asarray(edges, np.int64)
    if edges.size == 0:
        pt = (float(start_lonlat[0]), float(start_lonlat[1]))
        return Route(
            nodes=[int(node_ids[start_node])],
            geometry=LineString([pt, pt]),
            dist_m=0.0,
            duration_s=0.0,
            edges=edges,
        )
    node_idx = np.concatenate(([start_node], edge_v[edges]))
    coords = path_coords(edges, geom_ptr, geom_lon, geom_lat)
    return Route(
        nodes=node_ids[node_idx].tolist(),
        geometry=LineString(coords),
        dist_m=float(edge_length_m[edges].sum()),
        duration_s=float(edge_time_s[edges].sum()),
        edges=edges,
    )
