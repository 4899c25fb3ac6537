"""Load mode (shell): thousands of vehicles publishing at a fixed rate from one process, counting
exactly what the broker acknowledged — for benchmarks (``bench/simulate.py``, ``bench/ingest.py``).

Vehicles start on random road nodes of the map (or around ``origin``) and move in straight lines
at 20–60 km/h (plausible for ingest's speed check; load mode exercises the telemetry chain, not
the audit — use scenarios for driving realism). Every period each vehicle publishes one fix,
stamped with its publish time; vehicles are spread evenly over the period (``ticks`` slots), so
the broker sees a steady stream, not a burst per second. Publishing goes through
:class:`telemetry.publish.FastPublisher` (why a raw path exists is said there) or, with
``paho=True``, through the paho :class:`~telemetry.publish.Publisher`, for comparison.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import orjson

from telemetry.encode import position_topic
from telemetry.publish import FastPublisher, Publisher

M_PER_DEG = 111_195.0


@dataclass(frozen=True)
class LoadResult:
    vehicles: int
    rate_hz: float
    duration_s: float
    published: int  # fixes handed to the broker
    acknowledged: int  # PUBACKs: what the broker took
    first_publish: float  # epoch s
    last_ack: float  # epoch s
    publisher: str

    @property
    def achieved_per_s(self) -> float:
        return self.acknowledged / max(1e-9, self.last_ack - self.first_publish)

    def as_dict(self) -> dict:
        return {**asdict(self), "achieved_per_s": self.achieved_per_s}


def start_positions(
    n: int,
    rng: np.random.Generator,
    node_lat: np.ndarray | None,
    node_lon: np.ndarray | None,
    origin: tuple[float, float] = (60.05, 30.46),
) -> tuple[np.ndarray, np.ndarray]:
    if node_lat is not None and node_lon is not None and len(node_lat):
        pick = rng.integers(len(node_lat), size=n)
        return node_lat[pick].astype(np.float64), node_lon[pick].astype(np.float64)
    return origin[0] + rng.uniform(-0.02, 0.02, n), origin[1] + rng.uniform(-0.04, 0.04, n)


def run_load(
    *,
    host: str,
    port: int,
    prefix: str,
    vehicles: int,
    rate_hz: float = 1.0,
    duration_s: float = 30.0,
    seed: int = 7,
    id_format: str = "load-{:05d}",
    node_lat: np.ndarray | None = None,
    node_lon: np.ndarray | None = None,
    paho: bool = False,
    ticks: int = 50,
) -> LoadResult:
    """Publish ``vehicles × rate_hz × duration_s`` fixes at the fixed rate; returns the counts.

    Raises
    ------
    telemetry.publish.BrokerGone
        The broker is down or went away (fast path; a figure with a gap would be a lie).
    """
    rng = np.random.default_rng(seed)
    lat, lon = start_positions(vehicles, rng, node_lat, node_lon)
    speed = rng.uniform(20, 60, vehicles)
    heading = rng.uniform(0, 360, vehicles)
    v_lat = speed / 3.6 * np.cos(np.radians(heading)) / M_PER_DEG
    v_lon = speed / 3.6 * np.sin(np.radians(heading)) / (M_PER_DEG * np.cos(np.radians(lat)))
    topics = [position_topic(prefix, id_format.format(i)).encode() for i in range(vehicles)]
    fast = None if paho else FastPublisher(host, port, window=max(20_000, 4 * vehicles))
    slow = Publisher(host, port) if paho else None
    if slow is not None and not slow.wait_connected(10):
        slow.close(flush_s=0)
        raise ConnectionError(f"брокер {host}:{port} недоступен")
    period = 1.0 / rate_hz
    periods = max(1, round(duration_s * rate_hz))
    slots = [np.arange(k, vehicles, ticks) for k in range(ticks)]
    published = 0
    first = time.time()
    for p in range(periods):
        for k, idx in enumerate(slots):
            due = first + (p + k / ticks) * period
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            if idx.size == 0:
                continue
            now = time.time()
            ts_ms = int(now * 1000)
            dt = now - first
            la = np.round(lat[idx] + v_lat[idx] * dt, 6).tolist()
            lo = np.round(lon[idx] + v_lon[idx] * dt, 6).tolist()
            sp = np.round(speed[idx], 1).tolist()
            hd = np.round(heading[idx], 1).tolist()
            bodies = [
                orjson.dumps(
                    {
                        "ts": ts_ms,
                        "lat": a,
                        "lon": b,
                        "speed_kmh": s,
                        "heading_deg": h,
                        "accuracy_m": 5.0,
                    }
                )
                for a, b, s, h in zip(la, lo, sp, hd, strict=True)
            ]
            if fast is not None:
                fast.send(
                    [
                        fast.packet(topics[i], body)
                        for i, body in zip(idx.tolist(), bodies, strict=True)
                    ]
                )
                fast.poll()
            else:
                assert slow is not None
                for i, body in zip(idx.tolist(), bodies, strict=True):
                    slow.publish(topics[i].decode(), body)
            published += len(bodies)
    if fast is not None:
        fast.drain(120)
        acked = fast.acknowledged
        fast.close()
    else:
        assert slow is not None
        slow.wait_all(120)
        acked = slow.acknowledged
        slow.close(flush_s=0)
    return LoadResult(
        vehicles=vehicles,
        rate_hz=rate_hz,
        duration_s=periods * period,
        published=published,
        acknowledged=acked,
        first_publish=first,
        last_ack=time.time(),
        publisher="paho" if paho else "fast",
    )
