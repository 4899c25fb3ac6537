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
from datetime import datetime
from typing import NamedTuple

import numpy as np

from config.rules import TelemetryLimits
from telemetry.decode import (
    DecodeError,
    Route,
    decode,
    decode_items,
    fix_values,
    parse_topic,
    position_items,
)
from telemetry.model import (
    DeadLetter,
    Fix,
    Problem,
    Reason,
    Source,
    VehicleEvent,
    from_epoch_us,
    to_epoch_us,
)
from telemetry.plausibility import implausible_jumps


class Inbound(NamedTuple):
    """One message as received: what ``on_message`` enqueues.

    ``received_at`` is the local receive time (UTC); ``mid``/``qos``/``generation`` identify the
    MQTT delivery to acknowledge once its rows are committed. (A named tuple: one is made per
    message in paho's network thread, three times cheaper than a frozen dataclass.)
    """

    topic: str
    payload: bytes
    received_at: datetime
    mid: int = 0
    qos: int = 1
    generation: int = 0


@dataclass(frozen=True, slots=True)
class Limits:
    """Plain parameters of the pipeline: topic prefixes and retention from the settings, the
    thresholds from the rules file's ``[telemetry]`` (:meth:`from_rules`; the defaults here are
    the rules' defaults, for tests)."""

    prefix: str
    owntracks_prefix: str | None = "owntracks"
    max_payload_bytes: int = 262_144
    max_future_s: float = 300.0
    max_age_s: float = 1095 * 86400.0
    max_speed_kmh: float = 200.0  # a jump implying more is implausible (stored, flagged)
    max_reported_speed_kmh: float = 1000.0  # a device-reported speed above this is refused
    max_satellites: int = 255
    max_payment_kop: int = 5_000_000  # a payment_collected above this is refused

    @classmethod
    def from_rules(
        cls,
        telemetry: TelemetryLimits,
        *,
        prefix: str,
        owntracks_prefix: str | None,
        max_age_s: float,
    ) -> Limits:
        """Every threshold of ``rules.telemetry`` (by field name), plus what the settings say."""
        return cls(
            prefix=prefix,
            owntracks_prefix=owntracks_prefix,
            max_age_s=max_age_s,
            **telemetry.model_dump(),
        )


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


def row_fix(ts_us: int, values: Sequence[float], owntracks: bool) -> Fix:
    """The :class:`Fix` of one column row (``values``: lat, lon, speed, heading, accuracy,
    hdop, odometer, satellites; NaN = absent)."""
    opt = [None if v != v else v for v in values[2:]]  # noqa: PLR0124 - NaN test
    sats = opt[5]
    return Fix(
        int(ts_us),
        values[0],
        values[1],
        opt[0],
        opt[1],
        opt[2],
        opt[3],
        opt[4],
        None if sats is None else int(sats),
        Source.OWNTRACKS if owntracks else Source.NATIVE,
    )


@dataclass(frozen=True)
class Positions:
    """The fixes of a batch to store, as aligned columns (no per-fix Python object):
    ``vehicle_id`` and ``ts_us`` (int64, epoch microseconds), ``num`` (float64, shape (n, 8):
    lat, lon in WGS 84 degrees, speed_kmh, heading_deg, accuracy_m, hdop, odometer_m,
    satellites; NaN where the device sent nothing), ``owntracks`` (bool: the source) and
    ``implausible`` (bool). :attr:`fixes` and :meth:`rows` give :class:`Fix` values."""

    vehicle_id: np.ndarray
    ts_us: np.ndarray
    num: np.ndarray
    owntracks: np.ndarray
    implausible: np.ndarray

    def __len__(self) -> int:
        return len(self.ts_us)

    def fix(self, i: int) -> Fix:
        return row_fix(int(self.ts_us[i]), self.num[i].tolist(), bool(self.owntracks[i]))

    @property
    def fixes(self) -> tuple[Fix, ...]:
        return tuple(
            row_fix(t, v, o)
            for t, v, o in zip(
                self.ts_us.tolist(), self.num.tolist(), self.owntracks.tolist(), strict=True
            )
        )

    def rows(self) -> Iterator[PositionRow]:
        for vid, fix, flag in zip(
            self.vehicle_id.tolist(), self.fixes, self.implausible.tolist(), strict=True
        ):
            yield PositionRow(vid, fix, flag)


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
        "n_fixes",
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
        self.n_fixes = 0  # fixes decoded (their rows are in the batch's columns)
        self.events: list[VehicleEvent] = []
        self.index: tuple[int, ...] = ()  # array position of each fix or event
        self.is_array = False
        self.problems: list[Problem] = []
        self.vehicle_id: int | None = None
        self.rejected = False  # the whole message is refused

    def reject(self, reason: Reason, detail: str) -> None:
        self.problems.append(Problem(reason, detail))
        self.rejected = True
        self.n_fixes, self.events = 0, []


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
    # the fix columns, filled by ``decode_payload`` (all decoded fixes) and ``to_columns``
    # (those of live messages)
    item: np.ndarray = field(default_factory=lambda: _EMPTY_I)  # index into ``items``
    pos: np.ndarray = field(default_factory=lambda: _EMPTY_I)  # position in the payload array
    vid: np.ndarray = field(default_factory=lambda: _EMPTY_I)
    ts_us: np.ndarray = field(default_factory=lambda: _EMPTY_I)
    num: np.ndarray = field(default_factory=lambda: _EMPTY_F.reshape(0, 8))  # Fix[1:9], NaN=None
    owntracks: np.ndarray = field(default_factory=lambda: _EMPTY_B)
    keep: np.ndarray = field(default_factory=lambda: _EMPTY_B)
    flags: np.ndarray = field(default_factory=lambda: _EMPTY_B)
    duplicates: int = 0

    def __len__(self) -> int:
        return len(self.ts_us)

    def fix(self, r: int) -> Fix:
        return row_fix(int(self.ts_us[r]), self.num[r].tolist(), bool(self.owntracks[r]))

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
    """Decode each payload with the decoder of its format. The items of all native position
    payloads are decoded together, into the batch's columns (:func:`decode_items`)."""
    objs: list = []  # position items of the whole batch
    obj_item: list[int] = []
    obj_pos: list[int] = []
    other: list[tuple[int, int, Fix]] = []  # (item, pos, fix) decoded one message at a time
    for k, it in enumerate(batch.items):
        if it.rejected:
            continue
        assert it.route is not None
        if it.route.kind == "position":
            try:
                items, it.is_array = position_items(it.msg.payload)
            except DecodeError as exc:
                it.problems.append(Problem(exc.reason, exc.detail))
                it.rejected = True
                continue
            if it.is_array and not items:
                it.problems.append(Problem(Reason.INVALID, "empty array"))
                it.rejected = True
                continue
            objs.extend(items)
            obj_item.extend([k] * len(items))
            obj_pos.extend(range(len(items)))
            continue
        d = decode(it.route, it.msg.payload)
        it.events = list(d.events)
        it.index, it.is_array = d.index, d.is_array
        it.problems.extend(d.problems)
        if d.fixes:  # OwnTracks topics (events have no fixes)
            other.extend((k, p, f) for p, f in zip(d.index, d.fixes, strict=True))
        it.n_fixes = len(d.fixes)
        batch.fixes_received += len(d.fixes) + sum(1 for p in d.problems if p.index is not None)
        if not d.fixes and not d.events:
            it.rejected = True
            if not d.problems:
                it.problems.append(Problem(Reason.INVALID, "nothing to store"))
    ts_us, num, owntracks, bad = decode_items(objs)
    good = np.ones(len(objs), bool)
    for r, problem in bad.items():  # in row order: per message, in array order
        it = batch.items[obj_item[r]]
        pos = obj_pos[r]
        it.problems.append(Problem(problem.reason, problem.detail, pos if it.is_array else None))
        good[r] = False
        batch.fixes_received += it.is_array
    item = np.asarray(obj_item, np.int64)
    counts = np.bincount(item[good], minlength=len(batch.items)) if len(objs) else None
    if counts is not None:
        batch.fixes_received += int(good.sum())
        for k in np.unique(item).tolist():
            it = batch.items[k]
            it.n_fixes = int(counts[k])
            if not it.n_fixes:
                it.rejected = True
    m = len(other)
    batch.item = np.concatenate((item[good], np.fromiter((o[0] for o in other), np.int64, m)))
    batch.pos = np.concatenate(
        (np.asarray(obj_pos, np.int64)[good], np.fromiter((o[1] for o in other), np.int64, m))
    )
    batch.ts_us = np.concatenate(
        (ts_us[good], np.fromiter((o[2].ts_us for o in other), np.int64, m))
    )
    batch.num = np.concatenate(
        (num[good], np.array([fix_values(o[2]) for o in other], np.float64).reshape(m, 8))
    )
    batch.owntracks = np.concatenate(
        (owntracks[good], np.fromiter((o[2].source is Source.OWNTRACKS for o in other), bool, m))
    )
    if m:  # back to receive order (the first of repeated fixes wins)
        order = np.lexsort((batch.pos, batch.item))
        batch.item, batch.pos, batch.ts_us = batch.item[order], batch.pos[order], batch.ts_us[order]
        batch.num, batch.owntracks = batch.num[order], batch.owntracks[order]


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
    """Keep the fix columns of the live messages only (a message refused since decoding takes
    its fixes with it) and add the vehicle id column, for the vectorised steps."""
    items = batch.items
    vids = np.fromiter(
        (-1 if it.rejected or it.vehicle_id is None else it.vehicle_id for it in items),
        np.int64,
        len(items),
    )
    vid = vids[batch.item]
    live = vid >= 0
    if not live.all():
        batch.item, batch.pos, batch.ts_us = batch.item[live], batch.pos[live], batch.ts_us[live]
        batch.num, batch.owntracks, vid = batch.num[live], batch.owntracks[live], vid[live]
    batch.vid = vid
    n = len(vid)
    batch.keep = np.ones(n, dtype=bool)
    batch.flags = np.zeros(n, dtype=bool)


# --- Value rules: ONE vectorised check for every fix and event ----------------------------------
# Coordinate ranges (WGS 84 degrees), compass degrees and "not negative" are definitions, not
# rules; the thresholds (reported speed, satellites, clock skew, retention) come from ``Limits``.


class _Values(NamedTuple):
    """The columns a value rule looks at: ``num`` (n, 8) as in :class:`Positions` (NaN where
    absent), ``ts_us`` and ``recv_us`` (int64 epoch microseconds: the value's time and when its
    message was received)."""

    num: np.ndarray
    ts_us: np.ndarray
    recv_us: np.ndarray


@dataclass(frozen=True, slots=True)
class ValueRule:
    """A small named predicate over all rows at once (``bad``: which rows break it; NaN, an
    absent field, breaks none) and the wording of one broken row (``detail``, for the few)."""

    name: str
    reason: Reason
    bad: Callable[[_Values, Limits], np.ndarray]
    detail: Callable[[_Values, int, Limits], str]


def _coordinates_bad(v: _Values, _lim: Limits) -> np.ndarray:
    lat, lon = v.num[:, 0], v.num[:, 1]
    present = ~np.isnan(lat) & ~np.isnan(lon)  # events may carry no position
    return present & ~((lat >= -90) & (lat <= 90) & (lon >= -180) & (lon <= 180))


def _speed_bad(v: _Values, lim: Limits) -> np.ndarray:
    speed = v.num[:, 2]
    return (speed < 0) | (speed > lim.max_reported_speed_kmh)


def _heading_bad(v: _Values, _lim: Limits) -> np.ndarray:
    return (v.num[:, 3] < 0) | (v.num[:, 3] > 360)


_NON_NEGATIVE = ((4, "accuracy_m"), (5, "hdop"), (6, "odometer_m"))


def _negative_detail(v: _Values, r: int, _lim: Limits) -> str:
    col, name = next((c, n) for c, n in _NON_NEGATIVE if v.num[r, c] < 0)
    return f"{name} is negative: {float(v.num[r, col])}"


def _time_text(v: _Values, r: int) -> str:
    us = int(v.ts_us[r])
    try:
        return from_epoch_us(us).isoformat()
    except OverflowError:  # beyond year 9999: a datetime cannot hold it (the decoder can)
        return f"{us // 1000} ms since the epoch"


COORDINATES_RULE = ValueRule(
    "coordinates",
    Reason.OUT_OF_RANGE,
    _coordinates_bad,
    lambda v, r, _l: f"coordinates out of range: lat {v.num[r, 0]}, lon {v.num[r, 1]}",
)
NO_FIX_RULE = ValueRule(
    "no_fix",
    Reason.NO_FIX,
    lambda v, _l: (v.num[:, 0] == 0) & (v.num[:, 1] == 0),
    lambda _v, _r, _l: "lat = lon = 0 (no GPS fix)",
)
SPEED_RULE = ValueRule(
    "speed",
    Reason.OUT_OF_RANGE,
    _speed_bad,
    lambda v, r, _l: f"speed_kmh out of range: {v.num[r, 2]}",
)
HEADING_RULE = ValueRule(
    "heading",
    Reason.OUT_OF_RANGE,
    _heading_bad,
    lambda v, r, _l: f"heading out of range: {v.num[r, 3]}",
)
NON_NEGATIVE_RULE = ValueRule(
    "non_negative",
    Reason.OUT_OF_RANGE,
    lambda v, _l: (v.num[:, 4] < 0) | (v.num[:, 5] < 0) | (v.num[:, 6] < 0),
    _negative_detail,
)
SATELLITES_RULE = ValueRule(
    "satellites",
    Reason.OUT_OF_RANGE,
    lambda v, lim: (v.num[:, 7] < 0) | (v.num[:, 7] > lim.max_satellites),
    lambda v, r, _l: f"satellites out of range: {int(v.num[r, 7])}",
)
FUTURE_RULE = ValueRule(
    "future",
    Reason.FUTURE,
    lambda v, lim: v.ts_us > v.recv_us + int(lim.max_future_s * 1e6),
    lambda v, r, _l: (
        f"time {_time_text(v, r)} is {(int(v.ts_us[r]) - int(v.recv_us[r])) / 1e6:.0f} s ahead"
        " of receipt"
    ),
)
TOO_OLD_RULE = ValueRule(
    "too_old",
    Reason.TOO_OLD,
    lambda v, lim: v.ts_us < v.recv_us - int(lim.max_age_s * 1e6),
    lambda v, r, _l: f"time {_time_text(v, r)} is older than the retention",
)

#: The value rules of a fix, in order (a fix breaking several is reported by the first).
FIX_RULES: tuple[ValueRule, ...] = (
    COORDINATES_RULE,
    NO_FIX_RULE,
    SPEED_RULE,
    HEADING_RULE,
    NON_NEGATIVE_RULE,
    SATELLITES_RULE,
    FUTURE_RULE,
    TOO_OLD_RULE,
)
# An event's row carries its payment amount (payment_collected) in column 2, kopecks.
AMOUNT_RULE = ValueRule(
    "amount",
    Reason.OUT_OF_RANGE,
    lambda v, lim: v.num[:, 2] > lim.max_payment_kop,
    lambda v, r, lim: f"amount_kop above {lim.max_payment_kop}: {int(v.num[r, 2])}",
)
#: The same rules for the position and time of an event (an event at (0, 0) keeps its place
#: in the trip: it is stored, not refused as a fix without GPS would be), and the amount of a
#: payment: beyond the rules file's ``max_payment_kop`` it is not plausible for one trip.
EVENT_RULES: tuple[ValueRule, ...] = (COORDINATES_RULE, AMOUNT_RULE, FUTURE_RULE, TOO_OLD_RULE)


def value_problems(
    values: _Values, limits: Limits, rules: tuple[ValueRule, ...] = FIX_RULES
) -> list[tuple[int, Reason, str]]:
    """``(row, reason, detail)`` of every row that breaks a rule (the first rule it breaks),
    in row order. The rules run vectorised over all rows; details are worded for those rows
    only."""
    n = len(values.ts_us)
    if not n:
        return []
    first = np.full(n, -1, np.int16)
    with np.errstate(invalid="ignore"):
        for k in range(len(rules) - 1, -1, -1):
            first[rules[k].bad(values, limits)] = k
    return [
        (r, rules[k].reason, rules[k].detail(values, r, limits))
        for r, k in zip(np.nonzero(first >= 0)[0].tolist(), first[first >= 0].tolist(), strict=True)
    ]


def validate_values(batch: _Batch) -> None:
    """Coordinates and fields in range, not a no-fix (0, 0), time neither further ahead than
    ``max_future_s`` nor beyond retention (:data:`FIX_RULES`; events: :data:`EVENT_RULES`).
    A bad fix or event of an array is set aside with its reason; its neighbours go on."""
    lim = batch.limits
    recv_item = np.fromiter(
        (to_epoch_us(it.msg.received_at) for it in batch.items), np.int64, len(batch.items)
    )
    fixes = _Values(batch.num, batch.ts_us, recv_item[batch.item])
    for r, reason, detail in value_problems(fixes, lim, FIX_RULES):
        it = batch.items[int(batch.item[r])]
        it.problems.append(Problem(reason, detail, int(batch.pos[r]) if it.is_array else None))
        batch.keep[r] = False
    with_events = [(k, it) for k, it in enumerate(batch.items) if not it.rejected and it.events]
    if not with_events:
        return
    owner = [k for k, it in with_events for _ in it.events]
    events = [ev for _k, it in with_events for ev in it.events]
    num = np.full((len(events), 8), np.nan)
    num[:, 0] = [np.nan if ev.lat is None else ev.lat for ev in events]
    num[:, 1] = [np.nan if ev.lon is None else ev.lon for ev in events]
    num[:, 2] = [np.nan if ev.amount_kop is None else ev.amount_kop for ev in events]
    ts_us = np.fromiter((to_epoch_us(ev.ts) for ev in events), np.int64, len(events))
    found = value_problems(_Values(num, ts_us, recv_item[owner]), lim, EVENT_RULES)
    bad = {r: (reason, detail) for r, reason, detail in found}
    row = 0
    for _k, it in with_events:
        good = []
        for i, ev in zip(it.index, it.events, strict=False):
            if row in bad:
                reason, detail = bad[row]
                it.problems.append(Problem(reason, detail, i if it.is_array else None))
            else:
                good.append(ev)
            row += 1
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
            out[vid] = LastFix(ts, float(batch.num[i, 0]), float(batch.num[i, 1]))
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
    positions = Positions(
        vehicle_id=batch.vid[keep],
        ts_us=batch.ts_us[keep],
        num=batch.num[keep],
        owntracks=batch.owntracks[keep],
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
