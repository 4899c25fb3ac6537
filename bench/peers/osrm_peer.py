"""OSRM as a benchmark peer: a Python 3.12 venv with ``osrm-bindings``, maps extracted and
contracted with OSRM's own car profile, and a runner in its own process (``osrm_runner.py``).

``osrm-bindings`` ships wheels for Python 3.12 only, so it never enters the project's venv. The
venv and the prepared maps live in the cache (``~/.cache/socialtaxi/peers``, or
``SOCIALTAXI_PEERS_DIR``); nothing of it is committed. Used by ``bench/routing.py``.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

PEERS_DIR = Path(os.environ.get("SOCIALTAXI_PEERS_DIR", Path.home() / ".cache/socialtaxi/peers"))
RUNNER = Path(__file__).with_name("osrm_runner.py")


class PeerUnavailable(RuntimeError):
    """The peer's environment could not be built (no Python 3.12, no wheel, extract failed)."""


def python312() -> str:
    """A Python 3.12 interpreter: on PATH, or one of pyenv's versions."""
    for cand in [
        shutil.which("python3.12"),
        *sorted(glob.glob("/root/.pyenv/versions/3.12*/bin/python3.12")),
    ]:
        if cand and subprocess.run([cand, "-c", "pass"], capture_output=True).returncode == 0:
            return cand
    raise PeerUnavailable("python3.12 not found (OSRM's wheels need it)")


def venv_python(name: str, packages: list[str]) -> Path:
    """Create (once) a Python 3.12 venv ``PEERS_DIR/name`` with ``packages``; return its python."""
    venv = PEERS_DIR / name
    py = venv / "bin" / "python"
    stamp = venv / ".installed"
    if stamp.is_file() and stamp.read_text() == " ".join(packages):
        return py
    PEERS_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run([python312(), "-m", "venv", str(venv)], check=True)
    r = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", *packages],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise PeerUnavailable(f"pip install {' '.join(packages)} failed: {r.stderr[-500:]}")
    stamp.write_text(" ".join(packages))
    return py


def prepare(osm_file: Path, *, log=print) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    """Extract and contract ``osm_file`` with OSRM's car profile (cached by content).

    Returns (the peer venv's python, the ``.osrm`` base path).
    """
    py = venv_python("osrm-venv", ["osrm-bindings>=26,<27"])
    digest = hashlib.sha256(osm_file.read_bytes()).hexdigest()[:16]
    work = PEERS_DIR / "osrm-maps" / f"{osm_file.name.split('.')[0]}-{digest}"
    base = work / "map.osrm"
    if (work / ".contracted").is_file():
        return py, base
    work.mkdir(parents=True, exist_ok=True)
    # OSRM reads .osm, .osm.bz2 and .osm.pbf with libosmium; give it the same file as ours, with
    # only the header fixes and decompression our importer applies (routing._io).
    from routing import _io

    fmt = _io.osm_format(osm_file)
    src = work / ("map.osm.pbf" if fmt == "pbf" else "map.osm")
    if src.exists() or src.is_symlink():
        src.unlink()
    patched = None if fmt == "pbf" else _io._normalise_xml_header(osm_file, fmt, src)
    if patched is None and fmt in ("pbf", "osm"):
        os.symlink(osm_file.resolve(), src)
    elif patched is None:
        with _io._open_xml(osm_file, fmt) as f_in, src.open("wb") as f_out:
            shutil.copyfileobj(f_in, f_out)
    profiles = subprocess.run(
        [str(py), "-c", "import osrm, os; print(os.path.dirname(osrm.__file__))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    car = Path(profiles) / "share" / "profiles" / "car.lua"
    log(f"osrm: extracting {osm_file.name} with {car.name} ...")
    for step in (
        ["extract", "-p", str(car), str(src)],
        ["contract", str(work / src.name.split(".")[0]) + ".osrm"],
    ):
        r = subprocess.run([str(py), "-m", "osrm", *step], capture_output=True, text=True, cwd=work)
        if r.returncode != 0:
            raise PeerUnavailable(f"osrm {step[0]} failed: {(r.stdout + r.stderr)[-800:]}")
    base = work / (src.name.split(".")[0] + ".osrm")
    (work / ".contracted").write_text(str(base))
    return py, base


def run(
    py: Path,
    base: Path,
    pairs: list[tuple[float, float, float, float]],
    matrix: tuple[list[tuple[float, float]], list[tuple[float, float]]] | None = None,
) -> dict[str, Any]:
    """Route ``pairs`` (lon1, lat1, lon2, lat2) and one matrix in OSRM's own process."""
    job: dict[str, Any] = {"osrm": str(base), "pairs": [list(p) for p in pairs]}
    if matrix:
        job["matrix"] = {
            "sources": [list(c) for c in matrix[0]],
            "destinations": [list(c) for c in matrix[1]],
            "rounds": 3,
        }
    r = subprocess.run(
        [str(py), str(RUNNER)], input=json.dumps(job), capture_output=True, text=True
    )
    if r.returncode != 0:
        raise PeerUnavailable(f"osrm runner failed: {r.stderr[-800:]}")
    return json.loads(r.stdout)


if __name__ == "__main__":  # smoke: python bench/peers/osrm.py MAP.osm.pbf
    py_, base_ = prepare(Path(sys.argv[1]))
    print(run(py_, base_, [(-8.61, 41.15, -8.60, 41.16)]))
