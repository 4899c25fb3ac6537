"""Valhalla's Meili matcher from the main venv: starts ``meili_runner.py`` in the peer venv
(its own process, Python 3.12) and returns its results as plain dicts.

    from bench.peers.meili import Meili, ensure_peer

    ensure_peer(osm_path)                      # venv + tiles, once (minutes the first time)
    with Meili(osm_path) as meili:
        r = meili.match(lat, lon, t_s, sigma_m=5.0)   # {"ok", "length_m", "shape", ...}

See ``meili_runner.py`` for the fields of a result. ``bench/audit.py`` (speed) and
``bench/audit_accuracy.py`` (the deviation rule fed by Meili) use it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

HERE = Path(__file__).resolve().parent
PEERS = HERE.parent / ".peers"
VENV_PYTHON = PEERS / "valhalla-venv" / "bin" / "python"
RUNNER = HERE / "meili_runner.py"
ENV_SCRIPT = HERE / "valhalla_env.sh"


class PeerUnavailable(RuntimeError):
    """The Valhalla peer venv could not be built or started."""


def ensure_peer(osm_path: str | Path) -> None:
    """Create the peer venv (``pip install pyvalhalla``) and the tiles of ``osm_path`` if
    missing. Raises :class:`PeerUnavailable` with the script's output on failure."""
    res = subprocess.run(
        ["bash", str(ENV_SCRIPT), str(osm_path)], capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        raise PeerUnavailable(f"{ENV_SCRIPT.name} failed:\n{res.stdout}\n{res.stderr}")


def track_line(
    lat: ArrayLike, lon: ArrayLike, t_s: ArrayLike, *, track_id: Any = None,
    sigma_m: float | None = None, search_radius_m: float | None = None,
) -> str:  # fmt: skip
    """One track as the runner's JSON line."""
    return json.dumps(
        {
            "id": track_id,
            "lat": np.asarray(lat, np.float64).tolist(),
            "lon": np.asarray(lon, np.float64).tolist(),
            "t_s": np.asarray(t_s, np.float64).tolist(),
            "sigma_m": sigma_m,
            "search_radius_m": search_radius_m,
        }
    )


class Meili:
    """A running ``meili_runner.py`` for one map; use as a context manager."""

    def __init__(self, osm_path: str | Path) -> None:
        if not VENV_PYTHON.is_file():
            raise PeerUnavailable(f"no peer venv at {VENV_PYTHON}: run {ENV_SCRIPT}")
        self._proc = subprocess.Popen(
            [str(VENV_PYTHON), str(RUNNER), "--map", str(osm_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def __enter__(self) -> Meili:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._proc.stdin and not self._proc.stdin.closed:
            self._proc.stdin.close()
        self._proc.wait(timeout=60)

    def match_line(self, line: str) -> dict[str, Any]:
        """Send one JSON line (see :func:`track_line`), return the runner's result."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(line.rstrip("\n") + "\n")
        self._proc.stdin.flush()
        out = self._proc.stdout.readline()
        if not out:
            raise PeerUnavailable(f"meili_runner exited with code {self._proc.poll()}")
        return json.loads(out)  # type: ignore[no-any-return]

    def match(
        self, lat: ArrayLike, lon: ArrayLike, t_s: ArrayLike, *, track_id: Any = None,
        sigma_m: float | None = None, search_radius_m: float | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Match one track with Meili."""
        return self.match_line(
            track_line(
                lat, lon, t_s, track_id=track_id, sigma_m=sigma_m, search_radius_m=search_radius_m
            )  # fmt: skip
        )

    def match_many(self, lines: Iterable[str]) -> Iterator[dict[str, Any]]:
        """Results of several JSON lines, in order."""
        for line in lines:
            yield self.match_line(line)
