"""The pure processing of a batch of received MQTT messages, as ONE explicit ordered tuple of
steps (:data:`STEPS`):

    size → topic → decode → validate → vehicle → duplicates → plausibility

Each step is a small named function over the batch; a message that fails a step is set aside
as a dead letter with the reason, the others go on. The shell (:mod:`telemetry.service`) gathers
the inputs (messages, the vehicle map, the last known fixes), calls :func:`process`, and hands
the result to :mod:`telemetry.store`. No I/O here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from telemetry.decode import Route, decode, parse_topic
from telemetry.model import (
    DeadLetter,
    Fix,
    Problem,
    Reason,
    VehicleEvent,
    from_epoch_us,
    to_epoch_us,
)
from telemetry.plausibility import implausible_jumps


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message as received: what ``on_message`` enqueues.

    ``received_at`` is the local receive time (UTC); ``mid``/``qos``/``generation`` identify the
    MQTT delivery to acknowledge once its rows are committed.
    """

    topic: str
    payload: bytes
    received_at: datetime
    mid: int = 0
    qos: int = 1
    generation: int = 0


@dataclass(frozen=True, slots=True)
class Limits:
    """Plain parameters of the pipeline (from settings and ``rules.telemetry``)."""

    prefix: str
    owntracks_prefix: str | None = "owntracks"
    max_payload_bytes: int = 262_144
    max_future_s: float = 300.0
    max_age_s: float = 1095 * 86400.0
    max_speed_kmh: float = 200.0


@dataclass(frozen=True, slots=True)
class LastFix:
    """The newest accepted, plausible fix of a vehicle (context for the plausibility check)."""

    ts_us: int
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class PositionRow:
    """A fix ready for ``vehicle_positions``."""

    vehicle_id: int
    ts_us: int
    fix: Fix
    implausible: bool


@dataclass(frozen=True, slots=True)
class EventRow:
    vehicle_id: int
    mqtt_id: str
    event: VehicleEvent


@dataclass(frozen=True)
class Processed:
    """The outcome of :func:`process` for one batch."""

    positions: tuple[PositionRow, ...]
    events: tuple[EventRow, ...]
    dead_letters: tuple[DeadLetter, ...]
    fixes_received: int  # fixes decoded (good or bad), over all messages
    duplicates: int  # repeated (vehicle, time) inside the batch
    implausible: int
    latest: Mapping[int, LastFix] = field(default_factory=dict)  # newest plausible, per vehicle


# --- The work area the steps pass along ----------------------------------------------------------
class _Item:
    __slots__ = (
        "msg", "route", "fixes", "events", "index", "is_array", "problems", "vehicle_id", "rejected"
    )

    def __init__(self, msg: Inbound) -> None:
        self.msg = msg
        self.route: Route | None = None
        self.fixes: list[Fix] = []
        self.events: list[VehicleEvent] = []
        self.index: tuple[int, ...] = ()  # array position of each fix or event
        self.is_array = False
        self.problems: list[Problem] = []
        self.vehicle_id: int | None = None
        self.rejected = False  # the whole message is refused

    def reject(self, reason: Reason, detail: str) -> None:
        self.problems.append(Problem(reason, detail))
        self.rejected = True
        self.fixes, self.events = [], []


@dataclass
class _Batch:
    items: list[_Item]
    limits: Limits
    vehicles: Mapping[str, int]
    last: Mapping[int, LastFix]
    fixes_received: int = 0
    # filled by the column steps
    rows: list[tuple[_Item, Fix]] = field(default_factory=list)
    vid: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ts_us: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    keep: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    flags: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    duplicates: int = 0

    def live(self) -> list[_Item]:
        return [it for it in self.items if not it.rejected]


Step = Callable[[_Batch], None]


# --- Steps --------------------------------------------------------------------------------------
def check_size(batch: _Batch) -> None:
    """Refuse payloads over ``max_payload_bytes`` before anything parses them."""
    limit = batch.limits.max_payload_bytes
    for it in batch.live():
        if len(it.msg.payload) > limit:
            it.reject(Reason.OVERSIZED, f"{len(it.msg.payload)} bytes > {limit}")


def route_topic(batch: _Batch) -> None:
    """Work out what each topic addresses (position, event, OwnTracks) and the device id."""
    lim = batch.limits
    for it in batch.live():
        it.route = parse_topic(it.msg.topic, prefix=lim.prefix, owntracks_prefix=lim.owntracks_prefix)
        if it.route is None:
            it.reject(Reason.UNKNOWN_TOPIC, f"topic {it.msg.topic[:200]!r} is not ours")


def decode_payload(batch: _Batch) -> None:
    """Decode each payload with the decoder of its format."""
    for it in batch.live():
        assert it.route is not None
        d = decode(it.route, it.msg.payload)
        it.fixes, it.events = list(d.fixes), list(d.events)
        it.index, it.is_array = d.index, d.is_array
        it.problems.extend(d.problems)
        batch.fixes_received += len(d.fixes) + sum(1 for p in d.problems if p.index is not None)
        if not d.fixes and not d.events:
            it.rejected = True
            if not d.problems:
                it.problems.append(Problem(Reason.INVALID, "nothing to store"))


def _range_problem(fix: Fix) -> tuple[Reason, str] | None:
    if not (-90.0 <= fix.lat <= 90.0) or not (-180.0 <= fix.lon <= 180.0):
        return Reason.OUT_OF_RANGE, f"coordinates out of range: lat {fix.lat}, lon {fix.lon}"
    if fix.lat == 0.0 and fix.lon == 0.0:
        return Reason.NO_FIX, "lat = lon = 0 (no GPS fix)"
    if fix.speed_kmh is not None and not (0.0 <= fix.speed_kmh <= 1000.0):
        return Reason.OUT_OF_RANGE, f"speed_kmh out of range: {fix.speed_kmh}"
    if fix.heading_deg is not None and not (0.0 <= fix.heading_deg <= 360.0):
        return Reason.OUT_OF_RANGE, f"heading out of range: {fix.heading_deg}"
    for name in ("accuracy_m", "hdop", "odometer_m"):
        v = getattr(fix, name)
        if v is not None and v < 0:
            return Reason.OUT_OF_RANGE, f"{name} is negative: {v}"
    if fix.satellites is not None and not (0 <= fix.satellites <= 255):
        return Reason.OUT_OF_RANGE, f"satellites out of range: {fix.satellites}"
    return None


def _time_problem(ts: datetime, received_at: datetime, lim: Limits) -> tuple[Reason, str] | None:
    if ts > received_at + timedelta(seconds=lim.max_future_s):
        ahead = (ts - received_at).total_seconds()
        return Reason.FUTURE, f"time {ts.isoformat()} is {ahead:.0f} s ahead of receipt"
    if ts < received_at - timedelta(seconds=lim.max_age_s):
        return Reason.TOO_OLD, f"time {ts.isoformat()} is older than the retention"
    return None


def validate_values(batch: _Batch) -> None:
    """Coordinates and fields in range, not a no-fix (0, 0), time neither too far ahead nor
    beyond retention. A bad fix of an array is set aside; its neighbours go on."""
    lim = batch.limits
    for it in batch.live():
        rcv = it.msg.received_at
        arr = it.is_array
        good_fixes = []
        for i, fix in zip(it.index, it.fixes, strict=False):
            bad = _range_problem(fix) or _time_problem(fix.ts, rcv, lim)
            if bad:
                it.problems.append(Problem(bad[0], bad[1], i if arr else None))
            else:
                good_fixes.append(fix)
        good_events = []
        for i, ev in zip(it.index, it.events, strict=False):
            bad = None
            if ev.lat is not None and ev.lon is not None and not (
                -90 <= ev.lat <= 90 and -180 <= ev.lon <= 180
            ):
                bad = (Reason.OUT_OF_RANGE, f"coordinates out of range: {ev.lat}, {ev.lon}")
            bad = bad or _time_problem(ev.ts, rcv, lim)
            if bad:
                it.problems.append(Problem(bad[0], bad[1], i if arr else None))
            else:
                good_events.append(ev)
        it.fixes, it.events = good_fixes, good_events
        if not it.fixes and not it.events:
            it.rejected = True


def resolve_vehicle(batch: _Batch) -> None:
    """Map the device id of the topic to ``vehicles.id``; unknown devices are refused."""
    for it in batch.live():
        assert it.route is not None
        vid = batch.vehicles.get(it.route.device)
        if vid is None:
            it.reject(Reason.UNKNOWN_VEHICLE, f"no vehicle with mqtt_id {it.route.device[:100]!r}")
        else:
            it.vehicle_id = vid


def drop_duplicates(batch: _Batch) -> None:
    """Lay the fixes out as columns and drop repeats of (vehicle, time) inside the batch (the
    database drops repeats of earlier batches: ``ON CONFLICT DO NOTHING``)."""
    rows = [(it, f) for it in batch.live() for f in it.fixes]
    batch.rows = rows
    n = len(rows)
    batch.vid = np.fromiter((it.vehicle_id for it, _ in rows), np.int64, n)
    batch.ts_us = np.fromiter((to_epoch_us(f.ts) for _, f in rows), np.int64, n)
    keep = np.ones(n, dtype=bool)
    if n > 1:
        order = np.lexsort((np.arange(n), batch.ts_us, batch.vid))  # stable: first one wins
        v, t = batch.vid[order], batch.ts_us[order]
        dup = (v[1:] == v[:-1]) & (t[1:] == t[:-1])
        keep[order[1:][dup]] = False
    batch.keep = keep
    batch.duplicates = int(n - keep.sum())


def mark_implausible(batch: _Batch) -> None:
    """Flag fixes reached by a jump faster than ``max_speed_kmh`` (stored, but flagged), judged
    against neighbours in time, including the vehicle's last known fix."""
    rows, keep = batch.rows, batch.keep
    n = len(rows)
    lat = np.fromiter((f.lat for _, f in rows), np.float64, n)
    lon = np.fromiter((f.lon for _, f in rows), np.float64, n)
    idx = np.nonzero(keep)[0]
    anchors = [(v, batch.last[v]) for v in np.unique(batch.vid[idx]).tolist() if v in batch.last]
    m = len(anchors)
    vid = np.concatenate((batch.vid[idx], np.fromiter((v for v, _ in anchors), np.int64, m)))
    t_s = np.concatenate(
        (batch.ts_us[idx], np.fromiter((a.ts_us for _, a in anchors), np.int64, m))
    ) / 1e6
    la = np.concatenate((lat[idx], np.fromiter((a.lat for _, a in anchors), np.float64, m)))
    lo = np.concatenate((lon[idx], np.fromiter((a.lon for _, a in anchors), np.float64, m)))
    is_anchor = np.concatenate((np.zeros(len(idx), bool), np.ones(m, bool)))
    flags = implausible_jumps(
        vid, t_s, la, lo, max_speed_kmh=batch.limits.max_speed_kmh, anchor=is_anchor
    )
    out = np.zeros(n, dtype=bool)
    out[idx] = flags[: len(idx)]
    batch.flags = out


#: The processing order, explicitly. Column steps (duplicates, plausibility) come last: they
#: work on all surviving fixes of the batch at once.
STEPS: tuple[Step, ...] = (
    check_size,
    route_topic,
    decode_payload,
    validate_values,
    resolve_vehicle,
    drop_duplicates,
    mark_implausible,
)


def devices(messages: Sequence[Inbound], limits: Limits) -> set[str]:
    """Device ids the topics of ``messages`` name (so the shell can look them up first)."""
    out = set()
    for m in messages:
        r = parse_topic(m.topic, prefix=limits.prefix, owntracks_prefix=limits.owntracks_prefix)
        if r is not None:
            out.add(r.device)
    return out


def _dead_letter(it: _Item) -> DeadLetter:
    first = it.problems[0]
    detail = "; ".join(p.describe() for p in it.problems[:20])
    if len(it.problems) > 20:
        detail += f"; ... {len(it.problems) - 20} more"
    device = it.route.device if it.route is not None else None
    return DeadLetter(it.msg.topic, it.msg.payload, first.reason, detail[:2000], device)


def _latest(batch: _Batch) -> dict[int, LastFix]:
    ok = np.nonzero(batch.keep & ~batch.flags)[0]
    if not len(ok):
        return {}
    order = ok[np.lexsort((batch.ts_us[ok], batch.vid[ok]))]
    v = batch.vid[order]
    last_of_group = np.concatenate((v[1:] != v[:-1], [True]))
    out: dict[int, LastFix] = {}
    for i in order[last_of_group].tolist():
        vid, ts = int(batch.vid[i]), int(batch.ts_us[i])
        prev = batch.last.get(vid)
        if prev is None or ts > prev.ts_us:
            fix = batch.rows[i][1]
            out[vid] = LastFix(ts, fix.lat, fix.lon)
    return out


def process(
    messages: Sequence[Inbound],
    *,
    limits: Limits,
    vehicles: Mapping[str, int],
    last: Mapping[int, LastFix] | None = None,
    steps: tuple[Step, ...] = STEPS,
) -> Processed:
    """Run ``messages`` through :data:`STEPS`.

    Parameters
    ----------
    messages
        The batch, in receive order.
    limits
        Topic prefixes and thresholds.
    vehicles
        ``vehicles.mqtt_id`` → ``vehicles.id`` for (at least) every device named in the batch.
    last
        The newest plausible fix known per vehicle id, if any.
    """
    batch = _Batch([_Item(m) for m in messages], limits, vehicles, last or {})
    for step in steps:
        step(batch)
    positions = tuple(
        PositionRow(int(batch.vid[i]), int(batch.ts_us[i]), batch.rows[i][1], bool(batch.flags[i]))
        for i in np.nonzero(batch.keep)[0].tolist()
    )
    events = tuple(
        EventRow(it.vehicle_id, it.route.device, ev)  # type: ignore[arg-type,union-attr]
        for it in batch.live()
        for ev in it.events
    )
    dead = tuple(_dead_letter(it) for it in batch.items if it.problems)
    return Processed(
        positions=positions,
        events=events,
        dead_letters=dead,
        fixes_received=batch.fixes_received,
        duplicates=batch.duplicates,
        implausible=int((batch.flags & batch.keep).sum()),
        latest=_latest(batch),
    )


__all__ = [
    "STEPS",
    "EventRow",
    "Inbound",
    "LastFix",
    "Limits",
    "PositionRow",
    "Processed",
    "devices",
    "from_epoch_us",
    "process",
]
