"""The pure processing of a batch of received MQTT messages, as ONE explicit ordered tuple of
steps (:data:`STEPS`):

    size → topic → decode → validate → vehicle → duplicates → plausibility

Each step is a small named function over the batch; a message that fails a step is set aside
as a dead letter with the reason, the others go on. The shell (:mod:`telemetry.service`) gathers
the inputs (messages, the vehicle map, the last known fixes), calls :func:`process`, and hands
the result to :mod:`telemetry.store`. No I/O here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

import numpy as np

from telemetry.decode import Route, decode, parse_topic
from telemetry.model import (
    DeadLetter,
    Fix,
    Problem,
    Reason,
    VehicleEvent,
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


class PositionRow(NamedTuple):
    """A fix ready for ``vehicle_positions``."""

    vehicle_id: int
    fix: Fix
    implausible: bool


@dataclass(frozen=True)
class Positions:
    """The fixes of a batch to store, as columns: ``vehicle_id`` (int64) and ``implausible``
    (bool) arrays aligned with ``fixes``."""

    vehicle_id: np.ndarray
    fixes: tuple[Fix, ...]
    implausible: np.ndarray

    def __len__(self) -> int:
        return len(self.fixes)

    def rows(self) -> Iterator[PositionRow]:
        for vid, fix, flag in zip(
            self.vehicle_id.tolist(), self.fixes, self.implausible.tolist(), strict=True
        ):
            yield PositionRow(vid, fix, flag)

    @property
    def ts_us(self) -> np.ndarray:
        return np.fromiter((f.ts_us for f in self.fixes), np.int64, len(self.fixes))


@dataclass(frozen=True, slots=True)
class EventRow:
    vehicle_id: int
    mqtt_id: str
    event: VehicleEvent


@dataclass(frozen=True)
class Processed:
    """The outcome of :func:`process` for one batch."""

    positions: Positions
    events: tuple[EventRow, ...]
    dead_letters: tuple[DeadLetter, ...]
    fixes_received: int  # fixes decoded (good or bad), over all messages
    duplicates: int  # repeated (vehicle, time) inside the batch
    implausible: int
    latest: Mapping[int, LastFix] = field(default_factory=dict)  # newest plausible, per vehicle


# --- The work area the steps pass along ----------------------------------------------------------
class _Item:
    __slots__ = (
        "msg",
        "route",
        "fixes",
        "events",
        "index",
        "is_array",
        "problems",
        "vehicle_id",
        "rejected",
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


_EMPTY_I = np.zeros(0, np.int64)
_EMPTY_F = np.zeros(0, np.float64)
_EMPTY_B = np.zeros(0, bool)


@dataclass
class _Batch:
    items: list[_Item]
    limits: Limits
    vehicles: Mapping[str, int]
    last: Mapping[int, LastFix]
    fixes_received: int = 0
    # the fix columns, filled by ``to_columns``
    fixes: list[Fix] = field(default_factory=list)
    item: np.ndarray = field(default_factory=lambda: _EMPTY_I)  # index into ``items``
    pos: np.ndarray = field(default_factory=lambda: _EMPTY_I)  # position in the payload array
    vid: np.ndarray = field(default_factory=lambda: _EMPTY_I)
    ts_us: np.ndarray = field(default_factory=lambda: _EMPTY_I)
    num: np.ndarray = field(default_factory=lambda: _EMPTY_F.reshape(0, 8))  # Fix[1:9], NaN=None
    keep: np.ndarray = field(default_factory=lambda: _EMPTY_B)
    flags: np.ndarray = field(default_factory=lambda: _EMPTY_B)
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
        it.route = parse_topic(
            it.msg.topic, prefix=lim.prefix, owntracks_prefix=lim.owntracks_prefix
        )
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


def resolve_vehicle(batch: _Batch) -> None:
    """Map the device id of the topic to ``vehicles.id``; unknown devices are refused."""
    for it in batch.live():
        assert it.route is not None
        vid = batch.vehicles.get(it.route.device)
        if vid is None:
            it.reject(Reason.UNKNOWN_VEHICLE, f"no vehicle with mqtt_id {it.route.device[:100]!r}")
        else:
            it.vehicle_id = vid


def to_columns(batch: _Batch) -> None:
    """Lay the fixes of all live messages out as numpy columns for the vectorised steps."""
    items = batch.items
    live = [i for i, it in enumerate(items) if not it.rejected and it.fixes]
    counts = np.fromiter((len(items[i].fixes) for i in live), np.int64, len(live))
    fixes: list[Fix] = []
    for i in live:
        fixes.extend(items[i].fixes)
    n = len(fixes)
    batch.fixes = fixes
    batch.item = np.repeat(np.asarray(live, np.int64), counts)
    batch.pos = (
        np.fromiter((p for i in live for p in items[i].index), np.int64, n) if n else _EMPTY_I
    )
    batch.vid = np.repeat(
        np.fromiter((items[i].vehicle_id for i in live), np.int64, len(live)), counts
    )
    batch.ts_us = np.fromiter((f[0] for f in fixes), np.int64, n)
    batch.num = np.array([f[1:9] for f in fixes], dtype=np.float64) if n else _EMPTY_F.reshape(0, 8)
    batch.keep = np.ones(n, dtype=bool)
    batch.flags = np.zeros(n, dtype=bool)


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


def _bad_rows(batch: _Batch) -> np.ndarray:
    """Vectorised: which fixes break a range or time rule (details are worked out later, for
    those few rows only)."""
    lim = batch.limits
    lat, lon, speed, heading, acc, hdop, odo, sats = batch.num.T
    with np.errstate(invalid="ignore"):
        bad = ~((lat >= -90) & (lat <= 90) & (lon >= -180) & (lon <= 180))
        bad |= (lat == 0) & (lon == 0)
        bad |= (speed < 0) | (speed > 1000) | (heading < 0) | (heading > 360)
        bad |= (acc < 0) | (hdop < 0) | (odo < 0) | (sats < 0) | (sats > 255)
    recv_us = np.fromiter(
        (to_epoch_us(it.msg.received_at) for it in batch.items), np.int64, len(batch.items)
    )[batch.item]
    bad |= batch.ts_us > recv_us + int(lim.max_future_s * 1e6)
    bad |= batch.ts_us < recv_us - int(lim.max_age_s * 1e6)
    return bad


def validate_values(batch: _Batch) -> None:
    """Coordinates and fields in range, not a no-fix (0, 0), time neither further ahead than
    ``max_future_s`` nor beyond retention. A bad fix of an array is set aside with its reason;
    its neighbours go on."""
    lim = batch.limits
    if len(batch.fixes):
        for r in np.nonzero(_bad_rows(batch))[0].tolist():
            it = batch.items[int(batch.item[r])]
            fix = batch.fixes[r]
            bad = _range_problem(fix) or _time_problem(fix.ts, it.msg.received_at, lim)
            if bad is None:  # NaN-safe double check disagreed: keep the fix
                continue
            it.problems.append(Problem(bad[0], bad[1], int(batch.pos[r]) if it.is_array else None))
            batch.keep[r] = False
    for it in batch.live():
        if not it.events:
            continue
        good = []
        for i, ev in zip(it.index, it.events, strict=False):
            bad = None
            if (
                ev.lat is not None
                and ev.lon is not None
                and not (-90 <= ev.lat <= 90 and -180 <= ev.lon <= 180)
            ):
                bad = (Reason.OUT_OF_RANGE, f"coordinates out of range: {ev.lat}, {ev.lon}")
            bad = bad or _time_problem(ev.ts, it.msg.received_at, lim)
            if bad:
                it.problems.append(Problem(bad[0], bad[1], i if it.is_array else None))
            else:
                good.append(ev)
        it.events = good
        if not good:
            it.rejected = True


def drop_duplicates(batch: _Batch) -> None:
    """Drop repeats of (vehicle, time) inside the batch; the first one wins. (Repeats of earlier
    batches are dropped by the database: ``ON CONFLICT DO NOTHING``.)"""
    idx = np.nonzero(batch.keep)[0]
    if len(idx) > 1:
        order = idx[np.lexsort((idx, batch.ts_us[idx], batch.vid[idx]))]
        v, t = batch.vid[order], batch.ts_us[order]
        dup = (v[1:] == v[:-1]) & (t[1:] == t[:-1])
        batch.keep[order[1:][dup]] = False
        batch.duplicates = int(dup.sum())


def mark_implausible(batch: _Batch) -> None:
    """Flag fixes reached by a jump faster than ``max_speed_kmh`` (stored, but flagged), judged
    against neighbours in time, including the vehicle's last known fix."""
    idx = np.nonzero(batch.keep)[0]
    if not len(idx):
        return
    anchors = [(v, batch.last[v]) for v in np.unique(batch.vid[idx]).tolist() if v in batch.last]
    m = len(anchors)
    vid = np.concatenate((batch.vid[idx], np.fromiter((v for v, _ in anchors), np.int64, m)))
    t_s = (
        np.concatenate((batch.ts_us[idx], np.fromiter((a.ts_us for _, a in anchors), np.int64, m)))
        / 1e6
    )
    lat = np.concatenate((batch.num[idx, 0], np.fromiter((a.lat for _, a in anchors), float, m)))
    lon = np.concatenate((batch.num[idx, 1], np.fromiter((a.lon for _, a in anchors), float, m)))
    is_anchor = np.concatenate((np.zeros(len(idx), bool), np.ones(m, bool)))
    flags = implausible_jumps(
        vid, t_s, lat, lon, max_speed_kmh=batch.limits.max_speed_kmh, anchor=is_anchor
    )
    batch.flags[idx] = flags[: len(idx)]


#: The processing order, explicitly. The column steps (from ``to_columns`` on) work on all
#: surviving fixes of the batch at once, vectorised.
STEPS: tuple[Step, ...] = (
    check_size,
    route_topic,
    decode_payload,
    resolve_vehicle,
    to_columns,
    validate_values,
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
            fix = batch.fixes[i]
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
    keep = np.nonzero(batch.keep)[0]
    fixes = batch.fixes
    positions = Positions(
        vehicle_id=batch.vid[keep],
        fixes=tuple(fixes[i] for i in keep.tolist()),
        implausible=batch.flags[keep],
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
        implausible=int(batch.flags[keep].sum()),
        latest=_latest(batch),
    )
