"""Graph files: import an OSM file once, keep the routable arrays in a cache, load them fast.

The cache is one uncompressed ``.npz`` per (source file content, speed defaults, network type,
format version): graph arrays, the contraction hierarchy and a JSON ``meta`` record. Loading it
takes well under a second even for a 100,000-node graph, and nothing is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from routing import _io
from routing.ch import HIERARCHY_ARRAYS, Hierarchy
from routing.errors import GraphImportError
from routing.graph import GRAPH_ARRAYS, RoadGraph, arrays_from_osmnx
from routing.osmfilter import NETWORK_TYPES, NetworkType
from routing.speeds import SpeedDefaults
from routing.turns import TurnCosts, TurnHierarchy

if TYPE_CHECKING:
    from routing.calibration import SpeedProfile

log = logging.getLogger(__name__)

#: bump when the cache layout or the build changes
#: 2: banned turns, the turn-aware hierarchy (``t_*``), service sub-tag speeds, barriers;
#: 3: an original edge slower than a path through a contracted node gets a parallel shortcut
CACHE_FORMAT = 3
CACHE_SUFFIX = ".graph.npz"


def _cache_dir(cache_dir: Path | None) -> Path:
    """The cache directory the caller gave. The caller's shell reads ``Settings.map_cache_dir``
    (the command line, the web app, the demo): routing itself never reads the settings, so that
    importing any of its modules (the package ``__init__`` imports this one) stays pure."""
    if cache_dir is None:
        raise TypeError("cache_dir is required to import an OSM file (Settings.map_cache_dir)")
    return cache_dir


def cache_key(
    source_digest: str, speeds: SpeedDefaults, network_type: NetworkType = "drive_service"
) -> str:
    """Key of a cached graph: changes with the file content, speeds, network type and format."""
    text = f"{CACHE_FORMAT}|{source_digest}|{network_type}|{speeds.fingerprint()}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def cache_path(source: Path, cache_dir: Path, key: str) -> Path:
    stem = source.name.split(".")[0] or "graph"
    return cache_dir / f"{stem}-{key}{CACHE_SUFFIX}"


def save_graph(graph: RoadGraph, path: Path) -> Path:
    """Write a graph (arrays, hierarchy, meta) to ``path`` atomically."""
    arrays: dict[str, Any] = {f"g_{k}": v for k, v in graph.arrays().items()}
    arrays.update({f"h_{k}": v for k, v in graph.hierarchy.arrays().items()})
    meta = {**graph.meta, "format": CACHE_FORMAT, "m0": graph.hierarchy.m0}
    if graph.turns is not None:
        arrays.update({f"t_{k}": v for k, v in graph.turns.hierarchy.arrays().items()})
        meta["turn_m0"] = graph.turns.hierarchy.m0
    arrays["meta"] = np.array(json.dumps(meta, ensure_ascii=False))
    with _io.atomic_path(path) as tmp:
        with tmp.open("wb") as f:
            np.savez(f, **arrays)
    return path


def read_graph(path: Path) -> RoadGraph:
    """Load a graph written by :func:`save_graph`.

    Raises
    ------
    GraphImportError
        For a missing, foreign or outdated file.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format") != CACHE_FORMAT:
                raise GraphImportError(f"{path}: cache format {meta.get('format')} is outdated")
            g = {k: z[f"g_{k}"] for k in GRAPH_ARRAYS}
            h = {k: z[f"h_{k}"] for k in HIERARCHY_ARRAYS}
            t = {k: z[f"t_{k}"] for k in HIERARCHY_ARRAYS} if meta.get("turns") else None
    except (OSError, KeyError, ValueError) as exc:
        raise GraphImportError(f"cannot read graph cache {path}: {exc}") from exc
    n = g["node_id"].shape[0]
    hierarchy = Hierarchy.from_arrays(n, int(meta["m0"]), h)
    turns = None
    if t is not None:
        m = g["edge_u"].shape[0]
        th = Hierarchy.from_arrays(m + 2 * n, int(meta["turn_m0"]), t)
        turns = TurnHierarchy(th, m, n, TurnCosts.from_dict(meta["turns"]))
    return RoadGraph(g, hierarchy, meta, turns)


def turn_costs(speeds: SpeedDefaults) -> TurnCosts:
    """The turn model's parameters from the speed settings."""
    return TurnCosts(
        turn_penalty_s=speeds.turn_penalty_s,
        turn_bias=speeds.turn_bias,
        u_turn_penalty_s=speeds.u_turn_penalty_s,
        oncoming_turn_penalty_s=speeds.oncoming_turn_penalty_s,
    )


def build_graph(
    source: Path,
    *,
    speeds: SpeedDefaults,
    network_type: NetworkType = "drive_service",
    progress: bool = False,
    digest: str | None = None,
) -> RoadGraph:
    """Import an OSM file: filter, build with osmnx, set speeds, keep the largest SCC, contract."""
    from tqdm import tqdm

    if network_type not in NETWORK_TYPES:
        raise ValueError(f"unknown network type {network_type!r}")
    started = time.perf_counter()
    with tqdm(total=3, desc="Импорт карты", unit="этап", disable=not progress) as bar:
        bar.set_postfix_str("osmnx")
        nx_graph = _io.graph_from_osm_file(source, network_type=network_type, progress=progress)
        bar.update(1)
        bar.set_postfix_str("скорости")
        arrays = arrays_from_osmnx(nx_graph, speeds)
        counts = nx_graph.graph.get("restriction_counts", {})
        n_restrictions = len(nx_graph.graph.get("turn_restrictions", []))
        del nx_graph
        bar.update(1)
        bar.set_postfix_str("иерархия")
        meta = {
            "source": source.name,
            "source_digest": digest or _io.file_digest(source),
            "network_type": network_type,
            "speeds": speeds.fingerprint(),
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "turns": turn_costs(speeds).as_dict() if speeds.turn_aware else None,
            "turn_restrictions": n_restrictions,
            "turn_restrictions_via_way": counts.get("restrictions_via_way", 0),
            "turn_restrictions_skipped": counts.get("restrictions_skipped", 0),
            "banned_turns": int(arrays["turn_ban_from"].shape[0]),
        }
        try:
            graph = RoadGraph.from_arrays(arrays, meta)
        except ValueError as exc:
            raise GraphImportError(f"{source.name}: {exc}") from exc
        bar.update(1)
    graph.meta["build_s"] = round(time.perf_counter() - started, 2)
    log.info("imported %s in %.1f s: %r", source.name, graph.meta["build_s"], graph)
    return graph


def import_graph(
    source: str | Path,
    *,
    cache_dir: Path | None = None,
    speeds: SpeedDefaults | None = None,
    network_type: NetworkType = "drive_service",
    progress: bool = False,
) -> RoadGraph:
    """Build a graph from an OSM file and (re)write its cache entry, even if one exists.

    Parameters
    ----------
    source
        ``.osm``, ``.osm.xml``, ``.osm.gz``, ``.osm.bz2`` or ``.osm.pbf``.
    cache_dir
        Where the cache goes (the caller passes ``Settings.map_cache_dir``); required.
    speeds
        Speed defaults (part of the cache key).
    network_type
        ``"drive_service"`` (with yard access roads) or ``"drive"``.
    progress
        Show progress bars.
    """
    src = Path(source)
    if not src.is_file():
        raise GraphImportError(f"OSM file not found: {src}")
    speeds = speeds or SpeedDefaults()
    digest = _io.file_digest(src)
    graph = build_graph(
        src, speeds=speeds, network_type=network_type, progress=progress, digest=digest
    )
    directory = _cache_dir(cache_dir)
    path = cache_path(src, directory, cache_key(digest, speeds, network_type))
    save_graph(graph, path)
    graph.meta["cache_path"] = str(path)
    return graph


def load_graph(
    source: str | Path,
    *,
    cache_dir: Path | None = None,
    speeds: SpeedDefaults | None = None,
    progress: bool = False,
    network_type: NetworkType = "drive_service",
    profile: SpeedProfile | None = None,
    profile_hour: int | None = None,
) -> RoadGraph:
    """The routable graph of an OSM file: from the cache when present, else imported and cached.

    Parameters
    ----------
    source
        An OSM file (any supported format), or a ``.graph.npz`` cache file to load directly.
    cache_dir
        Cache directory (the caller passes ``Settings.map_cache_dir``); required unless
        ``source`` is a cache file.
    speeds
        Speed defaults; a change gives a new cache entry.
    progress
        Show progress bars while importing.
    network_type
        ``"drive_service"`` or ``"drive"``.
    profile
        A calibrated speed profile (:mod:`routing.calibration`, stored by
        ``socialtaxi map calibrate``): edge times come from its observed speeds where it has
        them and the hierarchy is contracted on them (not cached). ``None``: the model's
        speeds, unchanged.
    profile_hour
        Hour of the week (0 = Monday 00:00 local) of the profile to apply; ``None``: its
        all-hours speeds.

    Raises
    ------
    GraphImportError
        When the file is missing, unreadable or holds no roads.
    """
    graph = _load_graph(
        source, cache_dir=cache_dir, speeds=speeds, progress=progress, network_type=network_type
    )
    if profile is None:
        return graph
    from routing.calibration import apply_profile

    return apply_profile(graph, profile, hour=profile_hour)


def _load_graph(
    source: str | Path,
    *,
    cache_dir: Path | None,
    speeds: SpeedDefaults | None,
    progress: bool,
    network_type: NetworkType,
) -> RoadGraph:
    src = Path(source)
    if src.name.endswith(CACHE_SUFFIX):
        return read_graph(src)
    if not src.is_file():
        raise GraphImportError(f"OSM file not found: {src}")
    speeds = speeds or SpeedDefaults()
    digest = _io.file_digest(src)
    directory = _cache_dir(cache_dir)
    path = cache_path(src, directory, cache_key(digest, speeds, network_type))
    if path.is_file():
        try:
            graph = read_graph(path)
            graph.meta["cache_path"] = str(path)
            return graph
        except GraphImportError as exc:
            log.warning("rebuilding graph: %s", exc)
    graph = build_graph(
        src, speeds=speeds, network_type=network_type, progress=progress, digest=digest
    )
    save_graph(graph, path)
    graph.meta["cache_path"] = str(path)
    return graph
