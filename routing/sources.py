"""Where a road graph comes from: an OSM file, or a place name downloaded once when online.

``Settings.map_source`` may be either. A place is downloaded on first use into the cache
directory (``downloads/<slug>.osm``) and imported like any file; later starts load the cached
graph and never download again. Requests never download: only process start-up calls this.
"""

from __future__ import annotations

from pathlib import Path

from routing import _io
from routing.errors import GraphImportError
from routing.graph import RoadGraph
from routing.speeds import SpeedDefaults
from routing.store import load_graph

OSM_SUFFIXES = (".osm", ".xml", ".pbf", ".gz", ".bz2", ".npz")


def place_download_path(place: str, cache_dir: Path) -> Path:
    """The file a place's download is kept in, inside ``cache_dir``."""
    slug = "".join(c if c.isalnum() else "_" for c in place).strip("_")[:80] or "place"
    return cache_dir / "downloads" / f"{slug}.osm"


def is_file_source(source: str) -> bool:
    """Whether ``source`` names a file (an existing one, or one with an OSM file suffix)."""
    path = Path(source).expanduser()
    return path.is_file() or path.name.lower().endswith(OSM_SUFFIXES)


def load_map_source(
    source: str,
    *,
    cache_dir: Path,
    speeds: SpeedDefaults | None = None,
    progress: bool = False,
) -> RoadGraph:
    """The graph of an OSM file or of a place name (downloaded once, then cached).

    Raises
    ------
    GraphImportError
        A missing file, or a place that could not be downloaded (offline, unknown place).
    """
    if not source.strip():
        raise GraphImportError("no map source given")
    if is_file_source(source):
        return load_graph(
            Path(source).expanduser(), cache_dir=cache_dir, speeds=speeds, progress=progress
        )
    target = place_download_path(source, cache_dir)
    if not target.is_file():
        try:
            _io.fetch_place(source, target)
        except Exception as exc:  # noqa: BLE001 - geocoding, network and Overpass errors vary
            raise GraphImportError(f"could not download {source!r}: {exc}") from exc
    return load_graph(target, cache_dir=cache_dir, speeds=speeds, progress=progress)
