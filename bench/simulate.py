"""Benchmark of the simulator's load mode: the publish rate one process achieves for 5,000
vehicles at 1 Hz, beside the target rate, measured in the same run.

Usage::

    .venv/bin/python bench/simulate.py                # 5,000 vehicles, 1 Hz, 20 s per run
    .venv/bin/python bench/simulate.py --quick        # 10 s per run

Runs ``socialtaxi simulate load`` (the product command, in its own process) against a Mosquitto
of the bench's own on a free port, twice: with the publisher module's raw fast path (what load
mode uses) and with the paho publisher (``--paho``), so the figure of each path is measured on
the same machine at the same time. The figure is fixes acknowledged by the broker / (first
publish → last acknowledgement). Nobody subscribes: the broker acknowledges QoS 1 publishes at
once; ``bench/ingest.py`` measures the chain with ingest behind it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def broker():
    d = Path(tempfile.mkdtemp(prefix="bench-sim-mosq-"))
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


def load(port: int, vehicles: int, rate: float, seconds: float, paho: bool) -> dict:
    cmd = [
        str(REPO / ".venv" / "bin" / "socialtaxi"),
        "simulate",
        "load",
        "--vehicles",
        str(vehicles),
        "--rate",
        str(rate),
        "--duration",
        str(seconds),
        "--port",
        str(port),
        "--prefix",
        f"bench-{uuid.uuid4().hex[:8]}/socialtaxi/v1",
        "--json",
    ]
    if paho:
        cmd.append("--paho")
    env = {**os.environ, "SOCIALTAXI_LOG_LEVEL": "WARNING"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds * 10 + 120)
    if out.returncode != 0:
        raise SystemExit(f"simulate load failed: {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vehicles", type=int, default=5000)
    ap.add_argument("--rate", type=float, default=1.0, help="fixes per vehicle per second")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.seconds = 10.0
    target = a.vehicles * a.rate
    print(
        f"bench/simulate: {a.vehicles:,} vehicles at {a.rate:g} Hz for {a.seconds:g} s from one"
        f" process (target {target:,.0f} fixes/s); {os.cpu_count()} cores shared with the broker"
    )
    with broker() as port:
        fast = load(port, a.vehicles, a.rate, a.seconds, paho=False)
        paho = load(port, a.vehicles, a.rate, a.seconds, paho=True)
    for name, r in (("fast path (load mode)", fast), ("paho publisher", paho)):
        print(
            f"  {name}: {r['achieved_per_s']:,.0f} fixes/s — {r['acknowledged']:,} acknowledged"
            f" of {r['published']:,} published in {r['last_ack'] - r['first_publish']:.1f} s"
        )
    exact = fast["acknowledged"] == fast["published"] == round(target * fast["duration_s"])
    ok = fast["achieved_per_s"] >= 0.98 * target and exact
    print(
        f"target publish rate {target:,.0f} fixes/s (5,000 vehicles at 1 Hz) from one process: "
        f"{'met' if ok else 'NOT met'} — load mode {fast['achieved_per_s']:,.0f} fixes/s "
        f"({fast['achieved_per_s'] / target:.1%} of target; paho publisher in the same run "
        f"{paho['achieved_per_s']:,.0f}); exact count {'yes' if exact else 'NO'}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
