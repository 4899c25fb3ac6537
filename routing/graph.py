"""The road graph as flat numpy arrays, with snapping, routes and matrices (pure, no file I/O).

A :class:`RoadGraph` is built once from an osmnx ``MultiDiGraph`` (:func:`arrays_from_osmnx`)
or from plain arrays (generated graphs), keeps the largest strongly connected component,
contracts it (:mod:`routing.ch`) and is then saved/loaded as arrays by :mod:`routing.store`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
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
from routing.turns import TurnCosts, TurnHierarchy, connected_bans

#: arrays that make up a graph (besides the hierarchy), in the order they are saved
GRAPH_ARRAYS = (
    "node_id", "node_lat", "node_lon",
    "edge_u", "edge_v", "edge_length_m", "edge_time_s", "edge_speed_kmh", "edge_class",
    "geom_ptr", "geom_lon", "geom_lat", "turn_ban_from", "turn_ban_to",
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
    rows: list[tuple[int, int, float, float, float, str, Any, Any]] = []
    for u, v, data in graph.edges(data=True):
        if u == v:
            continue
        iu, iv = index[int(u)], index[int(v)]
        length_m = float(data.get("length", 0.0))
        kmh = edge_speed_kmh(
            data.get("highway"), data.get("maxspeed"), data.get("name"), d, data.get("service")
        )
        time_s = max(length_m, 0.1) / (kmh / 3.6)  # free-flow: picks the fastest parallel edge
        key = (iu, iv)
        cls = str(_first(data.get("highway")) or "")
        row = (iu, iv, length_m, time_s, kmh, cls, data.get("geometry"), data.get("osmid"))
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
    # gates: OSRM car.lua barrier_penalties, a delay per gate passed (found like signals)
    barriers = graph.graph.get("barriers", [])
    for kind, delay_s in d.barrier_s.items():
        xy = np.array([(x, y) for x, y, k in barriers if k == kind], np.float64).reshape(-1, 2)
        if xy.shape[0] and delay_s:
            edge_time_s = edge_time_s + delay_s * signals_per_edge(
                geom_ptr, geom_lon, geom_lat, xy[:, 0], xy[:, 1]
            )
    ban_from, ban_to = banned_turns(
        [r[7] for r in rows], edge_u, edge_v, index, graph.graph.get("turn_restrictions", [])
    )
    blocked_xy = np.array([(x, y) for x, y, k in barriers if k == IMPASSABLE], np.float64).reshape(
        -1, 2
    )
    out: dict[str, np.ndarray] = {
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
        "turn_ban_from": ban_from,
        "turn_ban_to": ban_to,
    }
    return block_barriers(out, blocked_xy[:, 0], blocked_xy[:, 1])


#: the value :func:`routing._io.extract_drivable_xml` gives a barrier a car cannot pass
IMPASSABLE = "impassable"


def block_barriers(
    arrays: Mapping[str, np.ndarray], lon: np.ndarray, lat: np.ndarray
) -> dict[str, np.ndarray]:
    """Apply barriers a car cannot pass (OSRM ``car.lua``: bollards, fences, ...; not gates).

    An edge with such a barrier inside its geometry is dropped (nothing drives through it);
    at a graph node only U-turns stay allowed (OSRM allows only U-turns at a barrier node): every
    other turn through it is banned. Barriers are found by exact coordinates, as signals are.
    """
    arrays = with_turn_arrays(arrays)
    if len(lon) == 0 or arrays["edge_u"].shape[0] == 0:
        return arrays
    from routing.traveltime import _coord_keys

    keys = _coord_keys(lon, lat)
    ptr = arrays["geom_ptr"]
    hit = np.isin(_coord_keys(arrays["geom_lon"], arrays["geom_lat"]), keys)
    hit[ptr[:-1]] = False
    hit[ptr[1:] - 1] = False
    blocked_edge = np.add.reduceat(hit.astype(np.int32), ptr[:-1]) > 0
    node_hit = np.isin(_coord_keys(arrays["node_lon"], arrays["node_lat"]), keys)
    u = np.asarray(arrays["edge_u"], np.int64)
    v = np.asarray(arrays["edge_v"], np.int64)
    if node_hit.any():
        from routing.turns import turn_pairs

        e1, e2 = turn_pairs(u, v, node_hit.shape[0], np.empty(0), np.empty(0))
        through = node_hit[v[e1]] & (v[e2] != u[e1])
        arrays["turn_ban_from"] = np.concatenate((arrays["turn_ban_from"], e1[through]))
        arrays["turn_ban_to"] = np.concatenate((arrays["turn_ban_to"], e2[through]))
        pairs = np.unique(
            np.column_stack((arrays["turn_ban_from"], arrays["turn_ban_to"])).astype(np.int64),
            axis=0,
        )
        arrays["turn_ban_from"] = pairs[:, 0].astype(np.int32)
        arrays["turn_ban_to"] = pairs[:, 1].astype(np.int32)
    if not blocked_edge.any():
        return arrays
    return _subgraph(arrays, np.ones(arrays["node_id"].shape[0], bool), ~blocked_edge)


def _way_ids(osmid: Any) -> list[int]:
    if osmid is None:
        return []
    if isinstance(osmid, (list, tuple, set)):
        return [int(x) for x in osmid]
    return [int(osmid)]


def banned_turns(
    edge_ways: list[Any],
    edge_u: np.ndarray,
    edge_v: np.ndarray,
    node_index: Mapping[int, int],
    restrictions: list[tuple[str, int, int, int]],
) -> tuple[np.ndarray, np.ndarray]:
    """Turn restrictions (``(kind, from_way, via_node, to_way)``, :func:`routing._io.
    turn_restriction`) as banned pairs of edge indices.

    ``no_*`` bans every turn from an edge of the from-way that ends at the via node onto an
    edge of the to-way that starts there; ``only_*`` bans every other turn from such an edge.
    An edge of a simplified graph lists all OSM ways it was merged from (``edge_ways``).
    Restrictions whose via node or ways are not in the graph are dropped.
    """
    if not restrictions:
        return np.empty(0, np.int32), np.empty(0, np.int32)
    into: dict[tuple[int, int], list[int]] = {}
    out_of: dict[tuple[int, int], list[int]] = {}
    outs: dict[int, list[int]] = {}
    for e, ways in enumerate(edge_ways):
        for w in _way_ids(ways):
            into.setdefault((int(edge_v[e]), w), []).append(e)
            out_of.setdefault((int(edge_u[e]), w), []).append(e)
        outs.setdefault(int(edge_u[e]), []).append(e)
    pairs: set[tuple[int, int]] = set()
    for kind, frm, via, to in restrictions:
        v = node_index.get(int(via))
        if v is None:
            continue
        src = into.get((v, frm), [])
        dst = set(out_of.get((v, to), []))
        if not src or not dst:
            continue
        for e1 in src:
            banned = dst if kind == "no" else set(outs.get(v, [])) - dst
            pairs.update((e1, e2) for e2 in banned)
    if not pairs:
        return np.empty(0, np.int32), np.empty(0, np.int32)
    arr = np.array(sorted(pairs), np.int32)
    return arr[:, 0].copy(), arr[:, 1].copy()


def _empty_arrays() -> dict[str, np.ndarray]:
    f = np.empty(0, np.float64)
    i = np.empty(0, np.int32)
    return {
        "node_id": np.empty(0, np.int64), "node_lat": f, "node_lon": f,
        "edge_u": i, "edge_v": i, "edge_length_m": f, "edge_time_s": f,
        "edge_speed_kmh": np.empty(0, np.float32), "edge_class": np.empty(0, "U24"),
        "geom_ptr": np.zeros(1, np.int64), "geom_lon": f, "geom_lat": f,
        "turn_ban_from": i, "turn_ban_to": i,
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
        return with_turn_arrays(arrays)
    return _subgraph(arrays, keep, keep[u] & keep[v])


def _subgraph(
    arrays: Mapping[str, np.ndarray], keep: np.ndarray, ekeep: np.ndarray
) -> dict[str, np.ndarray]:
    """The nodes ``keep`` and edges ``ekeep`` (both ends kept) of a graph, renumbered."""
    n = arrays["node_id"].shape[0]
    u, v = arrays["edge_u"], arrays["edge_v"]
    new_index = np.full(n, -1, np.int64)
    new_index[keep] = np.arange(int(keep.sum()))
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
    arrays = with_turn_arrays(arrays)
    new_edge = np.cumsum(ekeep) - 1
    bf, bt = arrays["turn_ban_from"], arrays["turn_ban_to"]
    bkeep = ekeep[bf] & ekeep[bt]
    out["turn_ban_from"] = new_edge[bf[bkeep]].astype(np.int32)
    out["turn_ban_to"] = new_edge[bt[bkeep]].astype(np.int32)
    return out


def with_turn_arrays(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``arrays`` with empty banned-turn arrays where they are missing (generated graphs)."""
    out = dict(arrays)
    for name in ("turn_ban_from", "turn_ban_to"):
        out[name] = np.asarray(out.get(name, np.empty(0, np.int32)), np.int32)
    return out


class RoadGraph:
    """A drivable road network ready for routing.

    Build it with :meth:`from_arrays` (contracts the graph) or load it with
    :func:`routing.load_graph`. Thread-safe for queries (scratch space is per thread).

    Attributes
    ----------
    meta
        Provenance: source file name and digest, speed defaults, build time, ...; ``turns``
        holds the turn model's parameters when the graph is turn-aware.
    hierarchy
        The node-based contraction hierarchy (turns free): :meth:`route` and :meth:`matrix`
        use it when the graph has no turn model, the map matcher always (it needs path lengths
        between road nodes, which turn costs barely change).
    turns
        The turn-aware hierarchy (:mod:`routing.turns`: turn costs and restrictions) that
        :meth:`route` and :meth:`matrix` use, or ``None``.
    """

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray],
        hierarchy: Hierarchy,
        meta: Mapping[str, Any],
        turns: TurnHierarchy | None = None,
    ) -> None:
        arrays = with_turn_arrays(arrays)
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
        self.turn_ban_from: np.ndarray
        self.turn_ban_to: np.ndarray
        self.hierarchy = hierarchy
        self.turns = turns
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
        """Build a routable graph: optionally keep the largest SCC, then contract it — and,
        when ``meta["turns"]`` holds turn-model parameters (:class:`routing.turns.TurnCosts`
        fields), contract its edge-expanded graph too."""
        arrays = largest_scc(arrays) if keep_largest_scc else with_turn_arrays(arrays)
        n = int(arrays["node_id"].shape[0])
        if n == 0:
            raise ValueError("empty graph")
        started = time.perf_counter()
        hierarchy = Hierarchy.build(
            n, arrays["edge_u"], arrays["edge_v"], arrays["edge_time_s"], arrays["edge_length_m"]
        )
        meta = dict(meta or {})
        contract_s = {"nodes": round(time.perf_counter() - started, 2)}
        turns = None
        if meta.get("turns"):
            started = time.perf_counter()
            bf, bt, dropped = connected_bans(
                arrays["edge_u"], arrays["edge_v"], n,
                arrays["turn_ban_from"], arrays["turn_ban_to"],
            )  # fmt: skip
            arrays["turn_ban_from"], arrays["turn_ban_to"] = bf, bt
            meta["banned_turns_dropped"] = meta.get("banned_turns_dropped", 0) + dropped
            turns = TurnHierarchy.build(arrays, TurnCosts.from_dict(meta["turns"]))
            contract_s["turns"] = round(time.perf_counter() - started, 2)
        meta["contract_s"] = contract_s
        return cls(arrays, hierarchy, meta, turns)

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
    def banned_count(self) -> int:
        """How many turns (pairs of edges) the turn restrictions ban."""
        return int(self.turn_ban_from.shape[0])

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
        turns = self.turns.hierarchy.nbytes if self.turns is not None else 0
        return sum(a.nbytes for a in self.arrays().values()) + self.hierarchy.nbytes + turns

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

    def to_networkx_turns(self) -> nx.DiGraph:
        """The turn-aware reference: a networkx DiGraph of the edge-expanded graph with the same
        arc costs as :attr:`turns` (``travel_time``, ``length``). Node ``("s", v)`` starts and
        ``("t", v)`` ends a route at road node ``v``; a road edge ``e`` is node ``e``."""
        from routing.turns import allowed_turns

        if self.turns is None:
            raise ValueError("graph has no turn model")
        tr = allowed_turns(
            self.edge_u, self.edge_v, self.geom_ptr, self.geom_lon, self.geom_lat,
            self.node_count, self.turn_ban_from, self.turn_ban_to, self.turns.costs,
        )  # fmt: skip
        g = nx.DiGraph()
        t, d = self.edge_time_s, self.edge_length_m
        g.add_edges_from(
            (int(a), int(b), {"travel_time": float(c + t[b]), "length": float(d[b])})
            for a, b, c in zip(tr.turn_from, tr.turn_to, tr.turn_s, strict=True)
        )
        for e, (u, v) in enumerate(zip(self.edge_u.tolist(), self.edge_v.tolist(), strict=True)):
            g.add_edge(("s", u), e, travel_time=float(t[e]), length=float(d[e]))
            g.add_edge(e, ("t", v), travel_time=0.0, length=0.0)
        return g

    def warm_up(self) -> RoadGraph:
        """Build the snapping index and load the compiled search code now, not on the first
        request (a service calls this at start-up). Returns ``self``."""
        self._snapper()
        self.route_nodes(0, 0)
        self.travel_time(0, min(1, self.node_count - 1))  # a real search (turn-aware: s != t)
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
        # NaN and infinities fail both comparisons. The common case (every point valid and
        # near a road) takes no masking: a route snaps two points, and each numpy call on
        # them costs about a microsecond, as much as the R-tree search itself
        small = la.shape[0] <= 16  # Python floats beat numpy's reductions (~2 us each) here
        if small:
            all_valid = all(abs(a) <= 90 for a in la.tolist()) and all(
                abs(b) <= 180 for b in lo.tolist()
            )
        else:
            all_valid = bool(((np.abs(la) <= 90) & (np.abs(lo) <= 180)).all())
        if not all_valid:
            valid = (np.abs(la) <= 90) & (np.abs(lo) <= 180)
            lo = np.where(valid, lo, 0.0)
            la = np.where(valid, la, 0.0)
        xy = np.empty((la.shape[0], 2))
        xy[:, 0], xy[:, 1] = tr.transform(lo, la)
        pts = shapely.points(xy)
        (src, edge_idx), dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
        if all_valid and src.shape[0] == la.shape[0]:  # one match per point, in point order
            edge = edge_idx.astype(np.int64)
            dist_m = dist
        else:
            edge = np.full(la.shape[0], -1, np.int64)
            dist_m = np.full(la.shape[0], np.inf)
            edge[src] = edge_idx
            dist_m[src] = dist
            if not all_valid:
                dist_m[~valid] = np.inf
        if not (
            max(dist_m.tolist(), default=0.0) <= max_dist_m
            if small
            else bool((dist_m <= max_dist_m).all())
        ):
            bad = np.flatnonzero(~(dist_m <= max_dist_m))
            raise OutOfServiceArea(bad.tolist(), dist_m[bad].tolist(), max_dist_m)
        along = shapely.line_locate_point(lines[edge], pts, normalized=True)
        index = np.where(along <= 0.5, self.edge_u[edge], self.edge_v[edge]).astype(np.int64)
        node_dist = np.hypot(*(node_xy[index] - xy).T)
        return Snapped(
            node=self.node_id[index],
            index=index,
            dist_m=dist_m,
            node_dist_m=node_dist,
            edge=edge,
        )

    # ---- routes --------------------------------------------------------------------------

    def _workspace(self) -> Workspace:
        """This thread's scratch space of the hierarchy routes use (turn-aware if any)."""
        try:
            return self._local.ws  # type: ignore[no-any-return]
        except AttributeError:
            if self.turns is not None:
                ws = self._local.ws = self.turns.workspace(self.node_id, self.edge_v)
            else:
                ws = self._local.ws = self.hierarchy.workspace(self.node_id)
            return ws

    def _check_index(self, orig_index: int, dest_index: int) -> None:
        n = self.node_count
        if not (0 <= orig_index < n and 0 <= dest_index < n):
            raise IndexError(f"node index out of range: {orig_index}, {dest_index}")

    def route_nodes(self, orig_index: int, dest_index: int) -> Route:
        """Fastest route between two internal node indices.

        Raises
        ------
        NoRoute
            When ``dest_index`` cannot be reached.
        """
        turns = self.turns
        if turns is not None:
            self._check_index(orig_index, dest_index)
            res = None
            if orig_index != dest_index:
                res = turns.hierarchy.path(
                    turns.m + orig_index, turns.m + turns.n + dest_index, self._workspace()
                )
                if res is None:
                    raise NoRoute(int(self.node_id[orig_index]), int(self.node_id[dest_index]))
            route = self._make_route(
                res.nodes[1:-1] if res is not None else np.empty(0, np.int64), orig_index
            )
            if res is None:
                return route
            return dataclasses.replace(route, duration_s=float(res.duration_s))
        res = self.hierarchy.path(orig_index, dest_index, self._workspace())
        if res is None:
            raise NoRoute(int(self.node_id[orig_index]), int(self.node_id[dest_index]))
        return self._make_route(res.edges, orig_index)

    def _make_route(self, edges: np.ndarray, orig_index: int) -> Route:
        """The route along ``edges`` (road edge indices) from node ``orig_index``."""
        return make_route(
            self.node_id,
            edges,
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
        turns = self.turns
        if turns is not None:
            if not (0 <= orig_index < turns.n and 0 <= dest_index < turns.n):
                raise IndexError(f"node index out of range: {orig_index}, {dest_index}")
            if orig_index == dest_index:
                return 0.0, [int(self.node_id[orig_index])]
            res = ws.route(turns.m + orig_index, turns.m + turns.n + dest_index, ws.graph, ws.buf)
            if res[1]:
                res[1].pop()  # the target node's label comes twice (its last edge and T_t)
                return res  # type: ignore[no-any-return]
            raise NoRoute(int(self.node_id[orig_index]), int(self.node_id[dest_index]))
        res = ws.route(orig_index, dest_index, ws.graph, ws.buf)
        if res[1]:
            return res  # type: ignore[no-any-return]
        if res[0] != res[0]:  # NaN: refused index
            raise IndexError(f"node index out of range: {orig_index}, {dest_index}")
        raise NoRoute(int(self.node_id[orig_index]), int(self.node_id[dest_index]))

    def travel_time(self, orig_index: int, dest_index: int) -> float:
        """Cost (s) of the fastest path between two node indices (``inf`` if unreachable)."""
        turns = self.turns
        if turns is not None:
            self._check_index(orig_index, dest_index)
            if orig_index == dest_index:
                return 0.0
            return float(
                turns.hierarchy.query(
                    turns.m + orig_index, turns.m + turns.n + dest_index, self._workspace()
                )[0]
            )
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
        if self.turns is not None:
            n = self.node_count
            if o.size and (o.min() < 0 or o.max() >= n) or d.size and (d.min() < 0 or d.max() >= n):
                raise IndexError("node index out of range")
            dur, dist = self.turns.table(o, d)
        else:
            dur, dist = self.hierarchy.table(o, d)
        return Matrix(
            duration_s=dur, dist_m=dist, orig_node=self.node_id[o], dest_node=self.node_id[d]
        )
