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
import os
import sys
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench._mqtt import broker, simulate_load  # noqa: E402


def load(port: int, vehicles: int, rate: float, seconds: float, paho: bool) -> dict:
    prefix = f"bench-{uuid.uuid4().hex[:8]}/socialtaxi/v1"
    return simulate_load(
        port, prefix=prefix, vehicles=vehicles, seconds=seconds, rate_hz=rate, paho=paho
    )


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
    with broker("bench-sim") as port:
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
