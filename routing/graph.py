"""The road graph as flat numpy arrays, with snapping, routes and matrices (pure, no file I/O).

A :class:`RoadGraph` is built once from an osmnx ``MultiDiGraph`` (:func:`arrays_from_osmnx`)
or from plain arrays (generated graphs), keeps the largest strongly connected component,
contracts it (:mod:`routing.ch`) and is then saved/loaded as arrays by :mod:`routing.store`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sp
import shapely
from numpy.typing import ArrayLike
from pyproj import Transformer
from scipy.sparse.csgraph import connected_components

from routing.ch import Hierarchy, Workspace
from routing.errors import NoRoute, OutOfServiceArea
from routing.paths import Matrix, Route, make_route
from routing.speeds import SpeedDefaults, edge_speed_kmh
from routing.traveltime import edge_times_s, junction_heads, signals_per_edge

#: arrays that make up a graph (besides the hierarchy), in the order they are saved
GRAPH_ARRAYS = (
    "node_id", "node_lat", "node_lon",
    "edge_u", "edge_v", "edge_length_m", "edge_time_s", "edge_speed_kmh", "edge_class",
    "geom_ptr", "geom_lon", "geom_lat",
)  # fmt: skip

DEFAULT_MAX_SNAP_M = 500.0


def utm_epsg(lat: float, lon: float) -> int:
    """EPSG code of the UTM zone containing a point (e.g. 32636 for Leningrad Oblast)."""
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


@dataclass(frozen=True)
class Snapped:
    """Points snapped to the road network.

    Attributes
    ----------
    node
        OSM id of the graph node each point is routed from/to.
    index
        Internal index of that node.
    dist_m
        Distance from the point to the nearest road (edge geometry), metres.
    node_dist_m
        Distance from the point to the chosen node, metres.
    edge
        Internal index of the nearest edge.
    """

    node: np.ndarray
    index: np.ndarray
    dist_m: np.ndarray
    node_dist_m: np.ndarray
    edge: np.ndarray


def _first(value: Any) -> Any:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def arrays_from_osmnx(
    graph: nx.MultiDiGraph, speeds: SpeedDefaults | None = None
) -> dict[str, np.ndarray]:
    """Flat arrays of an unprojected osmnx graph, with travel times from :mod:`routing.traveltime`.

    Parallel edges collapse to the fastest one; self-loops are dropped (no shortest path uses
    them). Edge geometry is oriented from ``u`` to ``v``; straight edges get their two end points.

    Parameters
    ----------
    graph
        osmnx graph (node attributes ``x``, ``y``; edge attributes ``length`` and optionally
        ``geometry``, ``highway``, ``maxspeed``, ``name``).
    speeds
        Speed defaults.

    Returns
    -------
    dict
        The :data:`GRAPH_ARRAYS`.
    """
    d = speeds or SpeedDefaults()
    # sorted ids and edges: the same file always gives the same arrays and hierarchy
    node_id = np.sort(np.fromiter(graph.nodes, np.int64, graph.number_of_nodes()))
    index = {int(n): i for i, n in enumerate(node_id)}
    node_lon = np.array([graph.nodes[n]["x"] for n in node_id], np.float64)
    node_lat = np.array([graph.nodes[n]["y"] for n in node_id], np.float64)

    best: dict[tuple[int, int], int] = {}
    rows: list[tuple[int, int, float, float, float, str, Any]] = []
    for u, v, data in graph.edges(data=True):
        if u == v:
            continue
        iu, iv = index[int(u)], index[int(v)]
        length_m = float(data.get("length", 0.0))
        kmh = edge_speed_kmh(data.get("highway"), data.get("maxspeed"), data.get("name"), d)
        time_s = max(length_m, 0.1) / (kmh / 3.6)  # free-flow: picks the fastest parallel edge
        key = (iu, iv)
        cls = str(_first(data.get("highway")) or "")
        row = (iu, iv, length_m, time_s, kmh, cls, data.get("geometry"))
        at = best.get(key)
        if at is None:
            best[key] = len(rows)
            rows.append(row)
        elif time_s < rows[at][3]:
            rows[at] = row
    if not rows:
        return _empty_arrays()
    rows.sort(key=lambda r: (r[0], r[1]))
    edge_u = np.array([r[0] for r in rows], np.int32)
    edge_v = np.array([r[1] for r in rows], np.int32)
    counts = np.empty(len(rows), np.int64)
    lon_parts: list[np.ndarray] = []
    lat_parts: list[np.ndarray] = []
    for i, r in enumerate(rows):
        geom = r[6]
        if geom is None:
            xy = np.array(
                [[node_lon[r[0]], node_lat[r[0]]], [node_lon[r[1]], node_lat[r[1]]]], np.float64
            )
        else:
            xy = shapely.get_coordinates(geom)
            start, end = xy[0], xy[-1]
            pu = (node_lon[r[0]], node_lat[r[0]])
            if np.hypot(*(start - pu)) > np.hypot(*(end - pu)):
                xy = xy[::-1]
        counts[i] = len(xy)
        lon_parts.append(xy[:, 0])
        lat_parts.append(xy[:, 1])
    geom_ptr = np.concatenate(([0], np.cumsum(counts)))
    geom_lon = np.concatenate(lon_parts)
    geom_lat = np.concatenate(lat_parts)
    edge_length_m = np.array([r[2] for r in rows], np.float64)
    edge_kmh = np.array([r[4] for r in rows], np.float64)
    signals = np.asarray(graph.graph.get("traffic_signals", np.empty((0, 2))), np.float64)
    edge_time_s = edge_times_s(
        edge_length_m,
        edge_kmh,
        signals_per_edge(geom_ptr, geom_lon, geom_lat, signals[:, 0], signals[:, 1]),
        junction_heads(edge_u, edge_v, len(node_id)),
        speed_factor=d.speed_factor,
        traffic_signal_s=d.traffic_signal_s,
        junction_s=d.junction_s,
    )
    return {
        "node_id": node_id,
        "node_lat": node_lat,
        "node_lon": node_lon,
        "edge_u": edge_u,
        "edge_v": edge_v,
        "edge_length_m": edge_length_m,
        "edge_time_s": edge_time_s,
        "edge_speed_kmh": edge_kmh.astype(np.float32),
        "edge_class": np.array([r[5] for r in rows], dtype="U24"),
        "geom_ptr": geom_ptr.astype(np.int64),
        "geom_lon": geom_lon,
        "geom_lat": geom_lat,
    }


def _empty_arrays() -> dict[str, np.ndarray]:
    f = np.empty(0, np.float64)
    i = np.empty(0, np.int32)
    return {
        "node_id": np.empty(0, np.int64), "node_lat": f, "node_lon": f,
        "edge_u": i, "edge_v": i, "edge_length_m": f, "edge_time_s": f,
        "edge_speed_kmh": np.empty(0, np.float32), "edge_class": np.empty(0, "U24"),
        "geom_ptr": np.zeros(1, np.int64), "geom_lon": f, "geom_lat": f,
    }  # fmt: skip


def largest_scc(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Keep only the largest strongly connected component (every node reaches every other)."""
    n = arrays["node_id"].shape[0]
    u, v = arrays["edge_u"], arrays["edge_v"]
    adj = sp.csr_matrix((np.ones(u.shape[0], np.int8), (u, v)), shape=(n, n))
    _, labels = connected_components(adj, directed=True, connection="strong")
    keep_label = np.bincount(labels).argmax()
    keep = labels == keep_label
    if keep.all():
        return dict(arrays)
    new_index = np.full(n, -1, np.int64)
    new_index[keep] = np.arange(int(keep.sum()))
    ekeep = keep[u] & keep[v]
    ptr = arrays["geom_ptr"]
    counts = np.diff(ptr)[ekeep]
    starts = ptr[:-1][ekeep]
    offsets = np.cumsum(counts) - counts
    gidx = np.repeat(starts - offsets, counts) + np.arange(int(counts.sum()))
    out = {
        "node_id": arrays["node_id"][keep],
        "node_lat": arrays["node_lat"][keep],
        "node_lon": arrays["node_lon"][keep],
        "edge_u": new_index[u[ekeep]].astype(np.int32),
        "edge_v": new_index[v[ekeep]].astype(np.int32),
        "geom_ptr": np.concatenate(([0], np.cumsum(counts))).astype(np.int64),
        "geom_lon": arrays["geom_lon"][gidx],
        "geom_lat": arrays["geom_lat"][gidx],
    }
    for name in ("edge_length_m", "edge_time_s", "edge_speed_kmh", "edge_class"):
        out[name] = arrays[name][ekeep]
    return out


class RoadGraph:
    """A drivable road network ready for routing.

    Build it with :meth:`from_arrays` (contracts the graph) or load it with
    :func:`routing.load_graph`. Thread-safe for queries (scratch space is per thread).

    Attributes
    ----------
    meta
        Provenance: source file name and digest, speed defaults, build time, ...
    hierarchy
        The contraction hierarchy used by :meth:`route` and :meth:`matrix`.
    """

    def __init__(
        self, arrays: Mapping[str, np.ndarray], hierarchy: Hierarchy, meta: Mapping[str, Any]
    ) -> None:
        for name in GRAPH_ARRAYS:
            setattr(self, name, arrays[name])
        self.node_id: np.ndarray
        self.node_lat: np.ndarray
        self.node_lon: np.ndarray
        self.edge_u: np.ndarray
        self.edge_v: np.ndarray
        self.edge_length_m: np.ndarray
        self.edge_time_s: np.ndarray
        self.edge_speed_kmh: np.ndarray
        self.edge_class: np.ndarray
        self.geom_ptr: np.ndarray
        self.geom_lon: np.ndarray
        self.geom_lat: np.ndarray
        self.hierarchy = hierarchy
        self.meta = dict(meta)
        self._local = threading.local()  # .ws: query scratch space, made on first use
        self._lock = threading.Lock()
        self._snap_index: tuple[Transformer, shapely.STRtree, np.ndarray, np.ndarray] | None = None

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def from_arrays(
        cls,
        arrays: Mapping[str, np.ndarray],
        meta: Mapping[str, Any] | None = None,
        *,
        keep_largest_scc: bool = True,
    ) -> RoadGraph:
        """Build a routable graph: optionally keep the largest SCC, then contract it."""
        arrays = largest_scc(arrays) if keep_largest_scc else dict(arrays)
        n = int(arrays["node_id"].shape[0])
        if n == 0:
            raise ValueError("empty graph")
        hierarchy = Hierarchy.build(
            n, arrays["edge_u"], arrays["edge_v"], arrays["edge_time_s"], arrays["edge_length_m"]
        )
        return cls(arrays, hierarchy, meta or {})

    def arrays(self) -> dict[str, np.ndarray]:
        """The graph arrays (without the hierarchy)."""
        return {name: getattr(self, name) for name in GRAPH_ARRAYS}

    # ---- facts ----------------------------------------------------------------------------

    @property
    def node_count(self) -> int:
        return int(self.node_id.shape[0])

    @property
    def edge_count(self) -> int:
        return int(self.edge_u.shape[0])

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(min_lat, min_lon, max_lat, max_lon) of the nodes, degrees."""
        return (
            float(self.node_lat.min()),
            float(self.node_lon.min()),
            float(self.node_lat.max()),
            float(self.node_lon.max()),
        )

    @property
    def nbytes(self) -> int:
        """Bytes held by the graph and hierarchy arrays."""
        return sum(a.nbytes for a in self.arrays().values()) + self.hierarchy.nbytes

    @property
    def utm_epsg(self) -> int:
        """The metric CRS used for snapping (UTM zone of the graph centre)."""
        lat0, lon0, lat1, lon1 = self.bounds
        return utm_epsg((lat0 + lat1) / 2, (lon0 + lon1) / 2)

    def __repr__(self) -> str:
        return (
            f"RoadGraph({self.meta.get('source', '?')!r}, nodes={self.node_count}, "
            f"edges={self.edge_count}, shortcuts={self.hierarchy.shortcut_count})"
        )

    def node_index(self, osm_ids: ArrayLike) -> np.ndarray:
        """Internal indices of OSM node ids (KeyError for ids not in the graph)."""
        ids = np.asarray(osm_ids, np.int64)
        order = np.argsort(self.node_id)
        pos = np.searchsorted(self.node_id, ids, sorter=order)
        pos = np.clip(pos, 0, self.node_count - 1)
        idx = order[pos]
        missing = self.node_id[idx] != ids
        if np.any(missing):
            raise KeyError(f"nodes not in graph: {ids[missing][:5].tolist()}")
        return idx

    def to_networkx(self) -> nx.DiGraph:
        """A networkx DiGraph over node indices with ``travel_time`` and ``length`` (baselines)."""
        g = nx.DiGraph()
        g.add_nodes_from(range(self.node_count))
        g.add_edges_from(
            (int(u), int(v), {"travel_time": float(t), "length": float(m)})
            for u, v, t, m in zip(
                self.edge_u, self.edge_v, self.edge_time_s, self.edge_length_m, strict=True
            )
        )
        return g

    def warm_up(self) -> RoadGraph:
        """Build the snapping index and load the compiled search code now, not on the first
        request (a service calls this at start-up). Returns ``self``."""
        self._snapper()
        self.route_nodes(0, 0)
        self.matrix_nodes([0], [0])
        return self

    # ---- snapping ------------------------------------------------------------------------

    def _snapper(self) -> tuple[Transformer, shapely.STRtree, np.ndarray, np.ndarray]:
        if self._snap_index is None:
            with self._lock:
                if self._snap_index is None:
                    tr = Transformer.from_crs(4326, self.utm_epsg, always_xy=True)
                    gx, gy = tr.transform(self.geom_lon, self.geom_lat)
                    counts = np.diff(self.geom_ptr)
                    lines = shapely.linestrings(
                        np.column_stack((gx, gy)),
                        indices=np.repeat(np.arange(self.edge_count), counts),
                    )
                    nx_, ny_ = tr.transform(self.node_lon, self.node_lat)
                    self._snap_index = (
                        tr,
                        shapely.STRtree(lines),
                        lines,
                        np.column_stack((nx_, ny_)),
                    )
        return self._snap_index

    def snap(
        self, lat: ArrayLike, lon: ArrayLike, *, max_dist_m: float = DEFAULT_MAX_SNAP_M
    ) -> Snapped:
        """Snap points to the nearest road (vectorised).

        The nearest edge is found by its real geometry in the graph's UTM zone; the point is
        routed from that edge's end node nearer along the edge.

        Parameters
        ----------
        lat, lon
            Degrees, WGS 84; scalars or equal-length arrays.
        max_dist_m
            Points farther than this from every road are refused.

        Raises
        ------
        OutOfServiceArea
            Lists every refused point's index and distance.
        """
        la = np.atleast_1d(np.asarray(lat, np.float64))
        lo = np.atleast_1d(np.asarray(lon, np.float64))
        if la.shape != lo.shape or la.ndim != 1:
            raise ValueError("lat and lon must be scalars or 1-D arrays of equal length")
        tr, tree, lines, node_xy = self._snapper()
        valid = np.isfinite(la) & np.isfinite(lo) & (np.abs(la) <= 90) & (np.abs(lo) <= 180)
        x, y = tr.transform(np.where(valid, lo, 0.0), np.where(valid, la, 0.0))
        pts = shapely.points(x, y)
        (src, edge_idx), dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
        edge = np.full(la.shape[0], -1, np.int64)
        dist_m = np.full(la.shape[0], np.inf)
        edge[src] = edge_idx
        dist_m[src] = dist
        dist_m[~valid] = np.inf
        bad = np.flatnonzero(~(dist_m <= max_dist_m))
        if bad.size:
            raise OutOfServiceArea(bad.tolist(), dist_m[bad].tolist(), max_dist_m)
        along = shapely.line_locate_point(lines[edge], pts, normalized=True)
        index = np.where(along <= 0.5, self.edge_u[edge], self.edge_v[edge]).astype(np.int64)
        node_dist = np.hypot(node_xy[index, 0] - x, node_xy[index, 1] - y)
        return Snapped(
            node=self.node_id[index],
            index=index,
            dist_m=dist_m,
            node_dist_m=node_dist,
            edge=edge,
        )

    # ---- routes --------------------------------------------------------------------------

    def _workspace(self) -> Workspace:
        try:
            return self._local.ws  # type: ignore[no-any-return]
        except AttributeError:
            ws = self._local.ws = self.hierarchy.workspace(self.node_id)
            return ws

    def route_nodes(self, orig_index: int, dest_index: int) -> Route:
        """Fastest route between two internal node indices.

        Raises
        ------
        NoRoute
            When ``dest_index`` cannot be reached.
        """
        res = self.hierarchy.path(orig_index, dest_index, self._workspace())
        if res is None:
            raise NoRoute(int(self.node_id[orig_index]), int(self.node_id[dest_index]))
        return make_route(
            self.node_id,
            res.edges,
            edge_v=self.edge_v,
            edge_length_m=self.edge_length_m,
            edge_time_s=self.edge_time_s,
            geom_ptr=self.geom_ptr,
            geom_lon=self.geom_lon,
            geom_lat=self.geom_lat,
            start_node=int(orig_index),
            start_lonlat=(float(self.node_lon[orig_index]), float(self.node_lat[orig_index])),
        )

    def fastest_path(self, orig_index: int, dest_index: int) -> tuple[float, list[int]]:
        """Cost (s) and OSM node ids of the fastest path between two node indices — the lean
        form of :meth:`route_nodes` (no geometry), the equivalent of ``nx.shortest_path``.

        Raises
        ------
        NoRoute
            When ``dest_index`` cannot be reached.
        """
        # _workspace and the body of Hierarchy.query, inlined: this is the hot path
        try:
            ws = self._local.ws
        except AttributeError:
            ws = self._workspace()
        res = ws.route(orig_index, dest_index, ws.graph, ws.buf)
        if res[1]:
            return res  # type: ignore[no-any-return]
        if res[0] != res[0]:  # NaN: refused index
            raise IndexError(f"node index out of range: {orig_index}, {dest_index}")
        raise NoRoute(int(self.node_id[orig_index]), int(self.node_id[dest_index]))

    def travel_time(self, orig_index: int, dest_index: int) -> float:
        """Cost (s) of the fastest path between two node indices (``inf`` if unreachable)."""
        return float(self.hierarchy.query(orig_index, dest_index, self._workspace())[0])

    def route(
        self,
        orig: tuple[float, float],
        dest: tuple[float, float],
        *,
        max_snap_m: float = DEFAULT_MAX_SNAP_M,
    ) -> Route:
        """Fastest route between two points given as ``(lat, lon)``.

        Both points are snapped to their nearest road node; the route runs node to node.

        Raises
        ------
        OutOfServiceArea
            Index 0 is the origin, 1 the destination.
        NoRoute
            When no drivable path exists.
        """
        snapped = self.snap([orig[0], dest[0]], [orig[1], dest[1]], max_dist_m=max_snap_m)
        return self.route_nodes(int(snapped.index[0]), int(snapped.index[1]))

    def matrix(
        self,
        orig_lat: ArrayLike,
        orig_lon: ArrayLike,
        dest_lat: ArrayLike,
        dest_lon: ArrayLike,
        *,
        max_snap_m: float = DEFAULT_MAX_SNAP_M,
    ) -> Matrix:
        """Many-to-many travel times and distances (rows: origins, columns: destinations).

        Raises
        ------
        OutOfServiceArea
            Indices count origins first, then destinations (``len(orig) + j``).
        """
        olat = np.atleast_1d(np.asarray(orig_lat, np.float64))
        dlat = np.atleast_1d(np.asarray(dest_lat, np.float64))
        snapped = self.snap(
            np.concatenate((olat, dlat)),
            np.concatenate(
                (
                    np.atleast_1d(np.asarray(orig_lon, np.float64)),
                    np.atleast_1d(np.asarray(dest_lon, np.float64)),
                )
            ),
            max_dist_m=max_snap_m,
        )
        o = snapped.index[: olat.shape[0]]
        d = snapped.index[olat.shape[0] :]
        return self.matrix_nodes(o, d)

    def matrix_nodes(self, orig_index: ArrayLike, dest_index: ArrayLike) -> Matrix:
        """:meth:`matrix` for internal node indices."""
        o = np.atleast_1d(np.asarray(orig_index, np.int64))
        d = np.atleast_1d(np.asarray(dest_index, np.int64))
        dur, dist = self.hierarchy.table(o, d)
        return Matrix(
            duration_s=dur, dist_m=dist, orig_node=self.node_id[o], dest_node=self.node_id[d]
        )
