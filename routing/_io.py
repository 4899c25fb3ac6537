"""Reading OSM files and downloading OSM data (the only routing module that touches the network).

Every supported file format goes through one path: pyosmium reads the file (OSM XML, ``.gz`` or
``.bz2`` compressed XML, or PBF), keeps the drivable ways (:func:`routing.osmfilter.is_drivable`)
and the nodes they use, and writes them as plain OSM XML that :func:`osmnx.graph_from_xml` turns
into a simplified graph. Downloading (:func:`fetch_place`) saves OSM XML too, and the same
import path builds the graph from it, so everything but the download is testable offline.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import logging
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import networkx as nx
import numpy as np

from routing.errors import GraphImportError
from routing.osmfilter import NetworkType, is_drivable

log = logging.getLogger(__name__)

# (suffix chain, osmium format name), longest first
_FORMATS: tuple[tuple[str, str], ...] = (
    (".osm.pbf", "pbf"),
    (".pbf", "pbf"),
    (".osm.xml.gz", "osm.gz"),
    (".osm.xml.bz2", "osm.bz2"),
    (".osm.gz", "osm.gz"),
    (".osm.bz2", "osm.bz2"),
    (".xml.gz", "osm.gz"),
    (".xml.bz2", "osm.bz2"),
    (".osm.xml", "osm"),
    (".osm", "osm"),
    (".xml", "osm"),
)


def osm_format(path: Path) -> str:
    """The osmium format name of an OSM file, from its suffixes.

    Raises
    ------
    GraphImportError
        For an unknown extension.
    """
    name = path.name.lower()
    for suffix, fmt in _FORMATS:
        if name.endswith(suffix):
            return fmt
    raise GraphImportError(
        f"unsupported OSM file {path.name!r}: "
        "expected .osm, .osm.xml, .osm.gz, .osm.bz2 or .osm.pbf"
    )


def file_digest(path: Path, *, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(chunk_bytes):
            h.update(chunk)
    return h.hexdigest()


def _progress(enabled: bool, desc: str, unit: str) -> Any:
    from tqdm import tqdm

    return tqdm(desc=desc, unit=unit, unit_scale=True, disable=not enabled, leave=False)


def extract_drivable_xml(
    src: Path,
    dst: Path,
    *,
    network_type: NetworkType = "drive_service",
    progress: bool = False,
    signals: list[tuple[float, float]] | None = None,
    restrictions: list[tuple[str, int, int, int]] | None = None,
    counts: dict[str, int] | None = None,
    barriers: list[tuple[float, float, str]] | None = None,
) -> tuple[int, int]:
    """Copy the drivable ways of ``src`` and the nodes they use into the OSM XML file ``dst``.

    Parameters
    ----------
    src
        An OSM file in any supported format.
    dst
        Output path (``.osm``); overwritten.
    network_type
        Which ways count as drivable (see :func:`routing.osmfilter.is_drivable`).
    progress
        Show a progress bar.
    signals
        When given, the (lon, lat) of every written node tagged ``highway=traffic_signals`` is
        appended to it (the travel-time model charges a delay for each, see
        :mod:`routing.traveltime`).
    restrictions
        When given, the turn restrictions between written ways (:func:`turn_restriction`) are
        appended as ``(kind, from_way, via_node, to_way)``; ``kind`` is ``"no"`` or ``"only"``.
    barriers
        When given, the (lon, lat, value) of every written node tagged ``barrier=*`` is
        appended (gates cost a delay, see :attr:`routing.speeds.SpeedDefaults.barrier_s`).
    counts
        When given, receives ``restrictions_via_way`` (restrictions via a way: read, counted,
        not applied) and ``restrictions_skipped`` (not for cars, conditional, or malformed).

    Returns
    -------
    (ways, nodes)
        How many ways and nodes were written.
    """
    import osmium

    fmt = osm_format(src)
    if not src.is_file():
        raise GraphImportError(f"OSM file not found: {src}")
    with tempfile.TemporaryDirectory(prefix="socialtaxi-osm-") as tmp:
        if fmt != "pbf":
            patched = _normalise_xml_header(src, fmt, Path(tmp) / "input.osm")
            if patched is not None:
                src, fmt = patched, "osm"
        return _extract(
            osmium, src, fmt, dst, network_type, progress, signals, restrictions, counts, barriers
        )


_OSM_ROOT = re.compile(rb"<osm\b[^>]*>", re.DOTALL)
_VERSION_ATTR = re.compile(rb"""\bversion\s*=\s*(["'])([^"']*)\1""")


def _open_xml(src: Path, fmt: str) -> IO[bytes]:
    opened: Any
    if fmt == "osm.gz":
        opened = gzip.open(src, "rb")
    elif fmt == "osm.bz2":
        opened = bz2.open(src, "rb")
    else:
        opened = src.open("rb")
    return opened  # type: ignore[no-any-return]


def _normalise_xml_header(src: Path, fmt: str, dst: Path) -> Path | None:
    """libosmium reads only ``<osm version="0.6">``; osmnx writes ``version="1"``.

    Returns a patched, uncompressed copy at ``dst`` when the header needs fixing, else None.
    """
    with _open_xml(src, fmt) as f:
        head = f.read(1 << 16)
        root = _OSM_ROOT.search(head)
        if root is None:
            return None
        version = _VERSION_ATTR.search(root.group(0))
        if version is None or version.group(2) == b"0.6":
            return None
        fixed = root.group(0)[: version.start()] + b'version="0.6"' + root.group(0)[version.end() :]
        with dst.open("wb") as out:
            out.write(head[: root.start()] + fixed + head[root.end() :])
            shutil.copyfileobj(f, out)
    return dst


def _extract(
    osmium: Any,
    src: Path,
    fmt: str,
    dst: Path,
    network_type: NetworkType,
    progress: bool,
    signals: list[tuple[float, float]] | None = None,
    restrictions: list[tuple[str, int, int, int]] | None = None,
    counts: dict[str, int] | None = None,
    barriers: list[tuple[float, float, str]] | None = None,
) -> tuple[int, int]:
    keep_ways: set[int] = set()
    via_way = skipped = 0
    need_nodes: set[int] = set()
    try:
        with _progress(progress, "Чтение дорог", "way") as bar:
            for way in osmium.FileProcessor(osmium.io.File(str(src), fmt), osmium.osm.WAY):
                bar.update(1)
                if len(way.nodes) < 2 or not is_drivable(
                    {t.k: t.v for t in way.tags}, network_type
                ):
                    continue
                keep_ways.add(way.id)
                need_nodes.update(n.ref for n in way.nodes)
        if not keep_ways:
            raise GraphImportError(f"{src.name}: no drivable ways")
        written_nodes = 0
        with (
            osmium.SimpleWriter(str(dst), overwrite=True) as writer,
            _progress(progress, "Запись дорог", "obj") as bar,
        ):
            kinds = osmium.osm.NODE | osmium.osm.WAY
            if restrictions is not None:
                kinds |= osmium.osm.RELATION
            for obj in osmium.FileProcessor(osmium.io.File(str(src), fmt), kinds):
                bar.update(1)
                if obj.is_relation():
                    if obj.tags.get("type") not in ("restriction", "restriction:motorcar"):
                        continue
                    r = turn_restriction(
                        {t.k: t.v for t in obj.tags},
                        [(m.type, m.ref, m.role) for m in obj.members],
                    )
                    if r == "via_way":
                        via_way += 1
                    elif r is None:
                        skipped += 1
                    elif isinstance(r, tuple) and r[1] in keep_ways and r[3] in keep_ways:
                        if restrictions is not None:
                            restrictions.append(r)
                    continue
                if obj.is_node():
                    if obj.id in need_nodes:
                        writer.add_node(obj)
                        written_nodes += 1
                        if signals is not None and obj.tags.get("highway") == "traffic_signals":
                            signals.append((obj.location.lon, obj.location.lat))
                        if barriers is not None and ("barrier" in obj.tags or "access" in obj.tags):
                            kind = barrier_kind({t.k: t.v for t in obj.tags})
                            if kind:
                                barriers.append((obj.location.lon, obj.location.lat, kind))
                elif obj.id in keep_ways:
                    writer.add_way(obj)
    except RuntimeError as exc:  # osmium reports parse errors as RuntimeError
        raise GraphImportError(f"{src.name}: cannot read OSM data: {exc}") from exc
    if counts is not None:
        counts["restrictions_via_way"] = via_way
        counts["restrictions_skipped"] = skipped
    return len(keep_ways), written_nodes


#: OSRM ``car.lua`` (osrm-backend 26): barriers a car passes, access values that bar it
_BARRIER_WHITELIST = frozenset(
    {"cattle_grid", "border_control", "toll_booth", "sally_port", "no", "entrance",
     "height_restrictor", "arch", "gate", "lift_gate"}
)  # fmt: skip
# access_tag_blacklist minus restricted_access_tag_list ("private", "delivery", ... are
# restricted, not barred)
_ACCESS_BLACKLIST = frozenset(
    {"no", "agricultural", "forestry", "emergency", "psv", "taxi", "share_taxi", "minibus",
     "bus", "foot", "emergency_vehicle", "restricted", "military", "official"}
)  # fmt: skip
_ACCESS_KEYS = ("motorcar", "motor_vehicle", "vehicle", "access")


def barrier_kind(tags: dict[str, str]) -> str | None:
    """What a node's barrier means to a car, after OSRM ``car.lua`` ``process_node`` (pure).

    Returns ``"impassable"`` (an access tag bars cars, or a barrier not in OSRM's whitelist:
    bollard, fence, chain, ...; rising bollards, lowered or flush kerbs and crossing kerbs
    pass), the ``barrier`` value for a passable one (``"gate"``, ``"lift_gate"`` cost a delay,
    :attr:`routing.speeds.SpeedDefaults.barrier_s`), or ``None``. An access tag that allows
    cars makes any barrier passable, as in OSRM.
    """
    from routing.graph import IMPASSABLE

    access = next((tags[k] for k in _ACCESS_KEYS if k in tags), None)
    if access is not None:
        return IMPASSABLE if access in _ACCESS_BLACKLIST else None
    barrier = tags.get("barrier")
    if barrier is None:
        return None
    passable = (
        barrier in _BARRIER_WHITELIST
        or tags.get("bollard") == "rising"
        or tags.get("kerb") in ("lowered", "flush")
        or (barrier == "kerb" and tags.get("highway") == "crossing")
        or (barrier == "fence" and tags.get("sensory") in ("audible", "audio"))
    )
    return barrier if passable else IMPASSABLE


#: ``except=*`` values that exempt a car from a restriction
_CAR_EXCEPTIONS = frozenset({"motorcar", "motor_vehicle", "vehicle"})


def turn_restriction(
    tags: dict[str, str], members: list[tuple[str, int, str]]
) -> tuple[str, int, int, int] | str | None:
    """A car's turn restriction from a ``type=restriction`` relation (pure).

    Parameters
    ----------
    tags
        The relation's tags: ``restriction`` (or ``restriction:motorcar``) = ``no_*`` /
        ``only_*``; an ``except`` listing a motor vehicle exempts cars.
    members
        ``(type, ref, role)`` with type ``"w"``/``"n"``; roles ``from``, ``via``, ``to``.

    Returns
    -------
    ``("no" | "only", from_way, via_node, to_way)``; ``"via_way"`` when the via member is a way
    (not applied: counted and reported); ``None`` when it does not apply to cars, is conditional
    only, or is malformed.
    """
    value = tags.get("restriction:motorcar") or tags.get("restriction") or ""
    excepted = {x.strip() for x in tags.get("except", "").split(";")}
    if excepted & _CAR_EXCEPTIONS:
        return None
    kind = value.split("_", 1)[0]
    if kind not in ("no", "only"):
        return None
    frm = [ref for t, ref, role in members if role == "from" and t == "w"]
    to = [ref for t, ref, role in members if role == "to" and t == "w"]
    via = [(t, ref) for t, ref, role in members if role == "via"]
    if len(frm) != 1 or len(to) != 1 or not via:
        return None
    if via[0][0] == "w":
        return "via_way"
    if len(via) != 1 or via[0][0] != "n":
        return None
    return kind, int(frm[0]), int(via[0][1]), int(to[0])


def graph_from_osm_file(
    src: Path, *, network_type: NetworkType = "drive_service", progress: bool = False
) -> nx.MultiDiGraph:
    """A simplified, unprojected osmnx drive graph of an OSM file (all components kept).

    Parameters
    ----------
    src
        An OSM file in any supported format.
    network_type
        Which ways count as drivable.
    progress
        Show progress bars.
    """
    import osmnx as ox

    with tempfile.TemporaryDirectory(prefix="socialtaxi-osm-") as tmp:
        xml = Path(tmp) / "drivable.osm"
        signals: list[tuple[float, float]] = []
        restrictions: list[tuple[str, int, int, int]] = []
        counts: dict[str, int] = {}
        barriers: list[tuple[float, float, str]] = []
        ways, nodes = extract_drivable_xml(
            src,
            xml,
            network_type=network_type,
            progress=progress,
            signals=signals,
            restrictions=restrictions,
            counts=counts,
            barriers=barriers,
        )
        log.info(
            "%s: %d drivable ways, %d nodes, %d turn restrictions via a node "
            "(%d via a way, not applied)",
            src.name, ways, nodes, len(restrictions), counts["restrictions_via_way"],
        )  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            try:
                graph = ox.graph_from_xml(xml, simplify=True, retain_all=True)
            except (ValueError, KeyError) as exc:
                raise GraphImportError(f"{src.name}: osmnx could not build a graph: {exc}") from exc
    if graph.number_of_edges() == 0:
        raise GraphImportError(f"{src.name}: no drivable edges")
    graph.graph["traffic_signals"] = np.array(signals, np.float64).reshape(-1, 2)
    graph.graph["barriers"] = barriers
    graph.graph["turn_restrictions"] = restrictions
    graph.graph["restriction_counts"] = counts
    return graph


def fetch_place(place: str, dst: Path, *, network_type: NetworkType = "drive_service") -> Path:
    """Download the drivable network of a place with osmnx and save it as OSM XML.

    Needs internet (Nominatim and Overpass). The file is then imported like any other OSM
    file, so building never depends on the download.

    Parameters
    ----------
    place
        A place name, e.g. ``"Гатчинский район, Ленинградская область"``.
    dst
        Output ``.osm`` path.

    Returns
    -------
    Path
        ``dst``.
    """
    import osmnx as ox

    # osmnx needs all_oneway while building *and* saving for the ways to round-trip
    previous = ox.settings.all_oneway
    ox.settings.all_oneway = True
    try:
        graph = ox.graph_from_place(
            place, network_type=network_type, simplify=False, retain_all=True
        )
        dst.parent.mkdir(parents=True, exist_ok=True)
        ox.io.save_graph_xml(graph, filepath=dst)
    finally:
        ox.settings.all_oneway = previous
    return dst


@contextmanager
def atomic_path(dst: Path) -> Iterator[Path]:
    """A temporary path beside ``dst`` that replaces it only when the block succeeds."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=dst.name + ".", suffix=".tmp", dir=dst.parent)
    import os

    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        tmp.replace(dst)
    finally:
        tmp.unlink(missing_ok=True)


def read_address_entries(src: Path, *, progress: bool = False) -> list[Any]:
    """The address-index entries of an OSM file (:func:`routing.addresses.address_entries`):
    nodes and buildings with ``addr:*`` (a building at the mean of its nodes), named roads (at
    their middle node) and named places; duplicates kept once.

    Raises
    ------
    GraphImportError
        The file cannot be read.
    """
    import osmium

    from routing.addresses import address_entries, dedupe

    fmt = osm_format(src)
    if not src.is_file():
        raise GraphImportError(f"OSM file not found: {src}")
    out = []
    with tempfile.TemporaryDirectory(prefix="socialtaxi-osm-") as tmp:
        if fmt != "pbf":
            patched = _normalise_xml_header(src, fmt, Path(tmp) / "input.osm")
            if patched is not None:
                src, fmt = patched, "osm"
        try:
            fp: Any = osmium.FileProcessor(
                osmium.io.File(str(src), fmt), osmium.osm.NODE | osmium.osm.WAY
            ).with_locations()
            with _progress(progress, "Чтение адресов", "obj") as bar:
                for obj in fp:
                    bar.update(1)
                    tags = obj.tags
                    if obj.is_node():
                        if "addr:housenumber" not in tags and "place" not in tags:
                            continue
                        if not obj.location.valid():
                            continue
                        out += address_entries(
                            {t.k: t.v for t in tags},
                            obj.location.lat,
                            obj.location.lon,
                            osm_ref=f"n{obj.id}",
                        )
                        continue
                    is_road = "highway" in tags and "name" in tags
                    if "addr:housenumber" not in tags and not is_road:
                        continue
                    locs = [n.location for n in obj.nodes if n.location.valid()]
                    if not locs:
                        continue
                    if is_road:
                        lat, lon = locs[len(locs) // 2].lat, locs[len(locs) // 2].lon
                    else:
                        ring = locs[:-1] if len(locs) > 1 and locs[0] == locs[-1] else locs
                        lat = sum(p.lat for p in ring) / len(ring)
                        lon = sum(p.lon for p in ring) / len(ring)
                    out += address_entries(
                        {t.k: t.v for t in tags}, lat, lon, osm_ref=f"w{obj.id}", is_road=is_road
                    )
        except RuntimeError as exc:
            raise GraphImportError(f"{src.name}: cannot read OSM data: {exc}") from exc
    return dedupe(out)
