"""What a simulated vehicle publishes, and when: a trip run (trajectory, GPS observation, events)
turned into timed MQTT messages; the simulated clock.

Pure: values in, values out. A live fix goes out at its own time; fixes recorded while offline go
out together as one array (oldest first) when the link returns; events go out when they happen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from simulators.motion import Projector
from simulators.scenarios import Run
from telemetry.encode import (
    encode_batch,
    encode_event,
    encode_fix,
    event_topic,
    fixes_from_columns,
    position_topic,
)
from telemetry.model import EventType, Fix, VehicleEvent, to_epoch_us

__all__ = ["Message", "SimClock", "messages_of_run", "parked_fixes", "shift_event"]


@dataclass(frozen=True, order=True)
class Message:
    """One MQTT publish: at ``at_us`` (epoch µs, simulated time), ``topic``, ``payload``;
    ``fixes`` is how many fixes it carries (0 for an event)."""

    at_us: int
    seq: int
    topic: str
    payload: bytes
    fixes: int = 0


@dataclass(frozen=True)
class SimClock:
    """Simulated time: ``sim_start`` at real ``real_start`` (both UTC), running ``speed`` times
    faster, but never ahead of the real clock (a vehicle reporting from the future would be
    refused by ingest); once it has caught up it runs in real time."""

    sim_start: datetime
    real_start: datetime
    speed: float = 1.0

    def now(self, real_now: datetime) -> datetime:
        sim = self.sim_start + (real_now - self.real_start) * self.speed
        return min(sim, real_now)


def _fixes(run: Run, proj: Projector, mask: np.ndarray) -> list[Fix]:
    obs = run.obs
    assert obs is not None
    lat, lon = proj.to_latlon(obs.x[mask], obs.y[mask])
    ts_us = to_epoch_us(run.t0) + np.round(obs.t_s[mask] * 1e6).astype(np.int64)
    return fixes_from_columns(
        ts_us,
        lat,
        lon,
        speed_kmh=obs.speed_kmh[mask],
        heading_deg=obs.heading_deg[mask],
        accuracy_m=obs.accuracy_m[mask],
        satellites=obs.satellites[mask],
    )


def messages_of_run(
    run: Run,
    *,
    trip_id: int,
    mqtt_id: str,
    prefix: str,
    proj: Projector,
    event_prefix: str,
) -> list[Message]:
    """The messages of one trip run, in publish order (fixes, batches and events interleaved).
    Event ids are ``{event_prefix}-{n}`` (stable: a repeat is a no-op at ingest)."""
    obs = run.obs
    assert obs is not None
    t0_us = to_epoch_us(run.t0)
    pos_topic, ev_topic = position_topic(prefix, mqtt_id), event_topic(prefix, mqtt_id)
    out: list[tuple[int, int, str, bytes, int]] = []
    live = obs.batch < 0
    for fix in _fixes(run, proj, live):
        out.append((fix.ts_us, 1, pos_topic, encode_fix(fix), 1))
    for b in sorted(set(obs.batch[~live].tolist())):
        mask = obs.batch == b
        fixes = _fixes(run, proj, mask)
        at = t0_us + round(float(obs.publish_s[mask][0]) * 1e6)
        out.append((at, 1, pos_topic, encode_batch(fixes), len(fixes)))
    traj = run.traj
    times = np.array([e[0] for e in run.events])
    ex, ey = traj.point_at_distance(traj.distance_at(times))
    elat, elon = proj.to_latlon(ex, ey)
    for k, ((t, etype, extra), la, lo) in enumerate(
        zip(run.events, elat.tolist(), elon.tolist(), strict=True)
    ):
        at = t0_us + round(t * 1e6)
        at -= at % 1000  # whole milliseconds, as encoded
        ev = VehicleEvent(
            type=etype,
            ts=run.t0 + timedelta(microseconds=at - t0_us),
            trip_id=trip_id,
            event_id=f"{event_prefix}-{k + 1}",
            lat=round(la, 6),
            lon=round(lo, 6),
            amount_kop=extra.get("amount_kop"),
            method=extra.get("method"),
            reason=extra.get("reason"),
        )
        out.append((at, 0, ev_topic, encode_event(ev), 0))  # an event before a fix of its time
    out.sort(key=lambda m: (m[0], m[1]))
    return [Message(at, i, topic, payload, n) for i, (at, _, topic, payload, n) in enumerate(out)]


def parked_fixes(
    x: float,
    y: float,
    *,
    start: datetime,
    end: datetime,
    interval_s: float,
    sigma_m: float,
    rng: np.random.Generator,
    proj: Projector,
) -> list[Fix]:
    """Fixes of a vehicle standing at ``(x, y)`` between ``start`` and ``end`` (noise only)."""
    n = max(0, int((end - start).total_seconds() // interval_s))
    if n == 0:
        return []
    t = np.arange(1, n + 1) * interval_s
    lat, lon = proj.to_latlon(
        x + rng.normal(0, sigma_m, n) * 0.5, y + rng.normal(0, sigma_m, n) * 0.5
    )
    return fixes_from_columns(
        to_epoch_us(start) + (t * 1e6).astype(np.int64),
        lat,
        lon,
        speed_kmh=np.zeros(n),
        accuracy_m=np.full(n, sigma_m * 1.2),
        satellites=np.full(n, 10),
    )


def shift_event(kind: EventType, at: datetime, *, event_id: str, lat: float, lon: float) -> Any:
    """A ``shift_start`` / ``shift_end`` event payload."""
    return encode_event(
        VehicleEvent(
            type=kind,
            ts=at.replace(microsecond=(at.microsecond // 1000) * 1000),
            event_id=event_id,
            lat=round(lat, 6),
            lon=round(lon, 6),
        )
    )
