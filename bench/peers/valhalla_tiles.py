"""Build Valhalla routing tiles from one OSM file (runs in the peer venv, Python 3.12).

    bench/.peers/valhalla-venv/bin/python bench/peers/valhalla_tiles.py MAP [--root DIR]

Prints the tile directory. Tiles are cached under ``ROOT/tiles/<stem>-<sha256[:16]>-c<N>/``
(the digest of the OSM file's content, the conversion's version), so the same file is
converted and tiled once.
``valhalla_build_tiles`` reads only PBF: other formats (the osmnx-written
``murino_lo_osmnx.osm``, ``.osm.gz``) are converted with pyosmium first, after patching the
``<osm version="1">`` header osmnx writes, which libosmium refuses.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_ROOT = HERE.parent / ".peers"
CONVERT_VERSION = 2  # part of the cache key: bump when the conversion changes


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def stem(path: Path) -> str:
    name = path.name
    for suffix in (".osm.pbf", ".osm.gz", ".osm.bz2", ".osm", ".pbf"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def to_pbf(src: Path, out: Path) -> Path:
    """``src`` as a PBF file (``src`` itself when it is one)."""
    if src.name.endswith(".pbf"):
        return src
    import osmium

    opener = gzip.open if src.name.endswith(".gz") else open
    with opener(src, "rb") as f:
        text = f.read()
    # osmnx writes <osm version="1" ...>; libosmium accepts only 0.6
    text = re.sub(rb'(<osm\b[^>]*\bversion=")1(")', rb"\g<1>0.6\2", text, count=1)
    with tempfile.NamedTemporaryFile(suffix=".osm", delete=False) as tmp:
        tmp.write(text)
        xml = Path(tmp.name)
    try:
        # libosmium's PBF consumers need objects sorted by type and id; osmnx writes way ids
        # in string order ("1", "10", "100", ...): read everything (small files) and sort
        from osmium.osm.mutable import Node, Relation, Way

        nodes, ways, rels = [], [], []
        seen: set[tuple[int, ...]] = set()
        for obj in osmium.FileProcessor(str(xml)):
            tags = {t.k: t.v for t in obj.tags}
            if obj.is_node():
                nodes.append(Node(id=obj.id, location=(obj.location.lon, obj.location.lat),
                                  tags=tags, version=1))  # fmt: skip
            elif obj.is_way():
                refs = [n.ref for n in obj.nodes]
                # osmnx writes a two-way street as two ways u-v and v-u, both oneway=no:
                # Valhalla would get two parallel edges and Meili hops between them (measured
                # on Murino: matched lengths 30-80 % too long); keep one
                key = tuple(refs) if refs[0] <= refs[-1] else tuple(reversed(refs))
                if tags.get("oneway", "no") in ("no", "false", "0") and key in seen:
                    continue
                seen.add(key)
                ways.append(Way(id=obj.id, nodes=refs, tags=tags, version=1))
            else:
                members = [(m.type, m.ref, m.role) for m in obj.members]
                rels.append(Relation(id=obj.id, members=members, tags=tags, version=1))
        writer = osmium.SimpleWriter(str(out))
        try:
            for n in sorted(nodes, key=lambda o: o.id):
                writer.add_node(n)
            for w in sorted(ways, key=lambda o: o.id):
                writer.add_way(w)
            for r in sorted(rels, key=lambda o: o.id):
                writer.add_relation(r)
        finally:
            writer.close()
    finally:
        xml.unlink()
    return out


def config(tile_dir: Path) -> dict:
    from valhalla import get_config

    cfg = get_config(tile_extract="", tile_dir=str(tile_dir))
    cfg["service_limits"]["trace"]["max_shape"] = 100_000
    cfg["service_limits"]["trace"]["max_distance"] = 1_000_000.0
    cfg["service_limits"]["trace"]["max_alternates"] = 0
    return cfg


def build(src: Path, root: Path = DEFAULT_ROOT) -> Path:
    """Tiles of ``src`` (built once); returns the tile directory."""
    src = src.resolve()
    out = root / "tiles" / f"{stem(src)}-{digest(src)}-c{CONVERT_VERSION}"
    done = out / "config.json"
    if done.is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    pbf = to_pbf(src, out / f"{stem(src)}.osm.pbf")
    cfg_path = out / "build-config.json"
    cfg_path.write_text(json.dumps(config(out)))
    from valhalla import PYVALHALLA_DIR  # the wheel's executables (the console-script
    # wrapper looks itself up on PATH, which a venv not activated does not have)

    exe = PYVALHALLA_DIR / "bin" / "valhalla_build_tiles"
    subprocess.run([str(exe), "-c", str(cfg_path), str(pbf)], check=True, cwd=out,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    done.write_text(json.dumps(config(out)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("map", type=Path)
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    args = ap.parse_args()
    print(build(args.map, args.root))


if __name__ == "__main__":
    main()
