"""What the MQTT benchmarks share (``bench/simulate.py``, ``bench/ingest.py``): a Mosquitto of
their own on a free port, and a run of the simulator's load mode in its own process.

Imported as ``bench._mqtt`` with the repository root on ``sys.path`` (the scripts of ``bench/``
are named like the product's packages, so ``bench/`` itself is never on the path).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def broker(tag: str = "bench") -> Iterator[int]:
    """Our own Mosquitto on a free port (never the shared one on 1883), anonymous, with
    ``max_queued_messages 0`` (the default 1000 drops messages while a consumer lags: see
    ``docs/telemetry.md``); yields its port."""
    d = Path(tempfile.mkdtemp(prefix=f"{tag}-mosq-"))
    port = free_port()
    conf = d / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\nmax_inflight_messages 0\nlog_dest none\n"
    )
    proc = subprocess.Popen(
        [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(d, ignore_errors=True)


def simulate_load(
    port: int,
    *,
    prefix: str,
    vehicles: int,
    seconds: float,
    rate_hz: float = 1.0,
    id_format: str | None = None,
    paho: bool = False,
) -> dict[str, Any]:
    """Run ``socialtaxi simulate load`` (the product command, its own process) against the
    broker on ``port``; returns its JSON summary (``acknowledged`` is the exact count of fixes
    the broker acknowledged)."""
    cmd = [
        str(REPO / ".venv" / "bin" / "socialtaxi"),
        "simulate",
        "load",
        "--vehicles",
        str(vehicles),
        "--rate",
        str(rate_hz),
        "--duration",
        str(seconds),
        "--port",
        str(port),
        "--prefix",
        prefix,
        "--json",
    ]
    if id_format:
        cmd += ["--id-format", id_format]
    if paho:
        cmd.append("--paho")
    env = {**os.environ, "SOCIALTAXI_LOG_LEVEL": "WARNING"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds * 10 + 120)
    if out.returncode != 0:
        raise SystemExit(f"simulate load failed: {out.stderr.strip()[-500:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))
