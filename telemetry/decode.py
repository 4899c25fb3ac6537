"""Decoders, one per payload format, from raw MQTT bytes to :class:`~telemetry.model.Fix` and
:class:`~telemetry.model.VehicleEvent` values (contract: ``docs/telemetry.md``).

Pure: bytes in, values and :class:`~telemetry.model.Problem` out. A decoder checks presence and
types only; value ranges, clock skew and plausibility are later steps of
:mod:`telemetry.pipeline`. A payload may be one object or an array of objects (a device that
buffered offline); each item is decoded on its own, so one bad item does not sink the others.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson

from telemetry.model import (
    EPOCH,
    SHIFT_EVENTS,
    EventType,
    Fix,
    PaymentMethod,
    Problem,
    Reason,
    Source,
    VehicleEvent,
    to_epoch_us,
)

_MAX_US = 2**62  # far beyond any real time; keeps the value inside int64


class _Bad(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Route:
    """What a topic addresses: ``kind`` is ``position``, ``event`` or ``owntracks``."""

    kind: str
    device: str  # vehicles.mqtt_id: always the topic level the broker's ACL binds to the login


@functools.lru_cache(maxsize=1 << 16)
def parse_topic(topic: str, *, prefix: str, owntracks_prefix: str | None) -> Route | None:
    """Route of ``topic``, or ``None`` when it is none of ours (memoised: a fleet uses a few
    thousand topics over and over).

    ``{prefix}/vehicles/{mqtt_id}/position``, ``{prefix}/vehicles/{mqtt_id}/event`` and
    ``{owntracks_prefix}/{mqtt_id}/{device}``.

    The vehicle is taken ONLY from the level that the production ACL (``deploy/mosquitto/acl``)
    binds to the publishing client's login (``%u``): ``vehicles/%u/...`` and ``owntracks/%u/+``.
    For OwnTracks that is the ``{user}`` level, not ``{device}`` (a free name the app sends, e.g.
    the phone's): otherwise vehicle A could publish ``owntracks/A/B`` and be stored as B.
    """
    base = prefix.rstrip("/") + "/vehicles/"
    if topic.startswith(base):
        rest = topic[len(base) :]
        device, sep, kind = rest.partition("/")
        if sep and device and kind in ("position", "event"):
            return Route(kind, device)
        return None
    if owntracks_prefix:
        ot = owntracks_prefix.rstrip("/") + "/"
        if topic.startswith(ot):
            parts = topic[len(ot) :].split("/")
            if len(parts) == 2 and parts[0] and parts[1]:
                return Route("owntracks", parts[0])
    return None


# --- Field helpers ----------------------------------------------------------------------------
def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _num(obj: dict, key: str, *, required: bool = False) -> float | None:
    v = obj.get(key)
    if v is None:
        if required:
            raise _Bad(Reason.INVALID, f"missing field {key!r}")
        return None
    if not _is_num(v):
        raise _Bad(Reason.INVALID, f"field {key!r} must be a number, got {type(v).__name__}")
    v = float(v)
    if not math.isfinite(v):
        raise _Bad(Reason.OUT_OF_RANGE, f"field {key!r} is not finite")
    return v


def _int(obj: dict, key: str, *, required: bool = False) -> int | None:
    v = obj.get(key)
    if v is None:
        if required:
            raise _Bad(Reason.INVALID, f"missing field {key!r}")
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if not isinstance(v, int) or isinstance(v, bool):
        raise _Bad(Reason.INVALID, f"field {key!r} must be an integer")
    return v


def parse_time(value: Any, *, key: str = "ts") -> datetime:
    """An ISO-8601 string with a zone (``Z`` or an offset) or epoch milliseconds → aware UTC."""
    if value is None:
        raise _Bad(Reason.INVALID, f"missing field {key!r}")
    if isinstance(value, str):
        try:
            ts = datetime.fromisoformat(value)
        except ValueError:
            raise _Bad(Reason.INVALID, f"field {key!r} is not ISO-8601: {value[:40]!r}") from None
        if ts.tzinfo is None:
            raise _Bad(Reason.INVALID, f"field {key!r} has no time zone (use Z): {value[:40]!r}")
        return ts.astimezone(UTC)
    if _is_num(value):
        try:
            return EPOCH + timedelta(milliseconds=value)
        except (OverflowError, ValueError):
            raise _Bad(Reason.OUT_OF_RANGE, f"field {key!r} out of range: {value}") from None
    raise _Bad(Reason.INVALID, f"field {key!r} must be ISO-8601 text or epoch milliseconds")


def _epoch_s(value: Any, key: str) -> datetime:
    if value is None:
        raise _Bad(Reason.INVALID, f"missing field {key!r}")
    if not _is_num(value):
        raise _Bad(Reason.INVALID, f"field {key!r} must be epoch seconds")
    try:
        return EPOCH + timedelta(seconds=value)
    except (OverflowError, ValueError):
        raise _Bad(Reason.OUT_OF_RANGE, f"field {key!r} out of range: {value}") from None


def time_us(value: Any, *, key: str = "ts") -> int:
    """Like :func:`parse_time`, as integer microseconds since the epoch (the fast path of fixes:
    integer epoch milliseconds need no datetime at all)."""
    if type(value) is int:
        us = value * 1000
    elif type(value) is float:
        us = round(value * 1000)
    else:
        return to_epoch_us(parse_time(value, key=key))
    if not -_MAX_US < us < _MAX_US:
        raise _Bad(Reason.OUT_OF_RANGE, f"field {key!r} out of range: {value}")
    return us


def _load(payload: bytes) -> Any:
    """Strict JSON (UTF-8; no NaN/Infinity, so every number is finite)."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise _Bad(Reason.MALFORMED, f"not JSON: {exc}"[:200]) from None


def _items(doc: Any) -> tuple[list[Any], bool]:
    if isinstance(doc, list):
        return doc, True
    return [doc], False


@dataclass(frozen=True, slots=True)
class Decoded:
    """What a decoder made of one payload."""

    fixes: tuple[Fix, ...] = ()
    events: tuple[VehicleEvent, ...] = ()
    problems: tuple[Problem, ...] = ()
    is_array: bool = False
    index: tuple[int, ...] = ()  # position in the array of each fix (or event)


# --- Formats ----------------------------------------------------------------------------------
def native_fix(obj: dict) -> Fix:
    """A native position object (see ``docs/telemetry.md``).

    Written for speed (tens of thousands per second): plain floats and ints take the fast path,
    anything else goes through the checking helpers.
    """
    g = obj.get
    ts_us = time_us(g("ts"))
    lat, lon = g("lat"), g("lon")
    if type(lat) is not float:
        lat = _num(obj, "lat", required=True)
    if type(lon) is not float:
        lon = _num(obj, "lon", required=True)
    speed, heading, acc = g("speed_kmh"), g("heading_deg"), g("accuracy_m")
    hdop, odo, sats = g("hdop"), g("odometer_m"), g("satellites")
    if speed is not None and type(speed) is not float:
        speed = _num(obj, "speed_kmh")
    if heading is not None and type(heading) is not float:
        heading = _num(obj, "heading_deg")
    if acc is not None and type(acc) is not float:
        acc = _num(obj, "accuracy_m")
    if hdop is not None and type(hdop) is not float:
        hdop = _num(obj, "hdop")
    if odo is not None and type(odo) is not float:
        odo = _num(obj, "odometer_m")
    if sats is not None and type(sats) is not int:
        sats = _int(obj, "satellites")
    return Fix(ts_us, lat, lon, speed, heading, acc, hdop, odo, sats)  # type: ignore[arg-type]


def owntracks_fix(obj: dict) -> Fix:
    """An OwnTracks ``_type: location`` object: ``tst`` epoch s, ``vel`` km/h, ``cog`` degrees,
    ``acc`` m. Other OwnTracks fields (``alt``, ``batt``, ``tid``, ...) are not stored."""
    kind = obj.get("_type")
    if kind != "location":
        raise _Bad(Reason.UNSUPPORTED, f"OwnTracks _type {kind!r} is not a location")
    return Fix(
        ts_us=to_epoch_us(_epoch_s(obj.get("tst"), "tst")),
        lat=_num(obj, "lat", required=True),  # type: ignore[arg-type]
        lon=_num(obj, "lon", required=True),  # type: ignore[arg-type]
        speed_kmh=_num(obj, "vel"),
        heading_deg=_num(obj, "cog"),
        accuracy_m=_num(obj, "acc"),
        source=Source.OWNTRACKS,
    )


def _fix_of(obj: Any, *, owntracks: bool) -> Fix:
    if not isinstance(obj, dict):
        raise _Bad(Reason.INVALID, f"a fix must be a JSON object, got {type(obj).__name__}")
    if owntracks or "_type" in obj:
        return owntracks_fix(obj)
    return native_fix(obj)


#: the float columns of :func:`native_columns`, in ``Fix`` order after ``ts_us``
NUM_FIELDS = ("lat", "lon", "speed_kmh", "heading_deg", "accuracy_m", "hdop", "odometer_m")
_NOT_NATIVE = {"_type": None}  # stands in for an item that is not a JSON object
_F, _N, _I = float, type(None), int
_MAX_MS = _MAX_US // 1000


def _float_column(values: list[Any], required: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """``values`` as float64 (None → NaN) and the rows the fast path cannot take (``None``: all
    fine). Only ``float`` (and ``None`` when not ``required``) is taken as is; anything else
    (ints, text, booleans) is left to :func:`native_fix`, which checks and explains."""
    types = set(map(type, values))
    if types <= ({_F} if required else {_F, _N}):
        return np.array(values, np.float64), None
    ok = {_F} if required else {_F, _N}
    slow = np.fromiter((type(v) not in ok for v in values), bool, len(values))
    clean = [None if type(v) not in ok else v for v in values]
    return np.array(clean, np.float64), slow


def native_columns(objs: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode decoded-JSON position items into columns at once (no per-fix Python object).

    Returns ``ts_us`` (int64, epoch microseconds), ``num`` (float64, shape (n, 8): the
    :data:`NUM_FIELDS` and ``satellites``, NaN where absent) and ``slow`` (bool): the rows this
    fast path does not take — not a plain native object, time not integer epoch milliseconds,
    a field of another type. The caller decodes those with :func:`native_fix` (which raises the
    reason when the item is bad). Values of ``slow`` rows in the columns are meaningless.
    """
    n = len(objs)
    ds = [o if type(o) is dict and "_type" not in o else _NOT_NATIVE for o in objs]
    slow = np.fromiter((d is _NOT_NATIVE for d in ds), bool, n)
    ts = [d.get("ts") for d in ds]
    if set(map(type, ts)) <= {_I}:
        try:
            ms = np.array(ts, np.int64)
        except OverflowError:
            ms = None
    else:
        ms = None
    if ms is None:
        ms = np.array([v if type(v) is int and -_MAX_MS < v < _MAX_MS else 0 for v in ts], np.int64)
        slow |= np.fromiter((not (type(v) is int and -_MAX_MS < v < _MAX_MS) for v in ts), bool, n)
    else:
        slow |= (ms <= -_MAX_MS) | (ms >= _MAX_MS)
    num = np.empty((n, 8), np.float64)
    for j, key in enumerate(NUM_FIELDS):
        col, bad = _float_column([d.get(key) for d in ds], j < 2)
        num[:, j] = col
        if bad is not None:
            slow |= bad
    sats = [d.get("satellites") for d in ds]
    if set(map(type, sats)) <= {_I, _N} and all(v is None or -(2**31) < v < 2**31 for v in sats):
        num[:, 7] = np.array(sats, np.float64)
    else:
        okv = [type(v) in (_I, _N) and (v is None or -(2**31) < v < 2**31) for v in sats]
        slow |= ~np.array(okv, bool)
        num[:, 7] = np.array([v if k else None for v, k in zip(sats, okv, strict=True)], np.float64)
    return np.where(slow, 0, ms) * 1000, num, slow


def position_items(payload: bytes) -> tuple[list[Any], bool]:
    """The items of a position payload (one object → one item) and whether it was an array;
    raises :class:`DecodeError` for a payload that is not strict UTF-8 JSON."""
    try:
        return _items(_load(payload))
    except _Bad as bad:
        raise DecodeError(bad.reason, bad.detail) from None


def decode_items(objs: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, Problem]]:
    """Position items (native or OwnTracks objects, as ``orjson`` made them) → columns.

    Returns ``ts_us`` (int64), ``num`` (float64 (n, 8), NaN where absent; see
    :func:`native_columns`), ``owntracks`` (bool: the row came in OwnTracks form) and the
    problems of the rows that are not fixes (row → :class:`Problem` without index). Plain native
    objects take the vectorised path; the rest goes through :func:`native_fix` /
    :func:`owntracks_fix` one by one.
    """
    ts_us, num, slow = native_columns(objs)
    owntracks = np.zeros(len(objs), bool)
    bad: dict[int, Problem] = {}
    for r in np.nonzero(slow)[0].tolist():
        try:
            fix = _fix_of(objs[r], owntracks=False)
        except _Bad as exc:
            bad[r] = Problem(exc.reason, exc.detail)
            continue
        ts_us[r] = fix.ts_us
        num[r] = fix_values(fix)
        owntracks[r] = fix.source is Source.OWNTRACKS
    return ts_us, num, owntracks, bad


class DecodeError(Exception):
    """A payload that is not JSON at all (``reason``: :attr:`Reason.MALFORMED`)."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def fix_values(fix: Fix) -> tuple[float, ...]:
    """The ``num`` row of :func:`native_columns` for a decoded ``fix`` (NaN where absent)."""
    nan = math.nan
    return tuple(nan if v is None else float(v) for v in fix[1:9])


def _decode_items(payload: bytes, parse: Callable[[Any], Any]) -> tuple[tuple, Decoded]:
    """Parse every item of a payload (one object or an array) with ``parse``; a bad item is a
    problem of its own (with its array index), the good ones are kept with theirs."""
    try:
        doc = _load(payload)
    except _Bad as bad:
        return (), Decoded(problems=(Problem(bad.reason, bad.detail),))
    items, is_array = _items(doc)
    parsed: list[Any] = []
    index: list[int] = []
    problems: list[Problem] = []
    for i, obj in enumerate(items):
        try:
            parsed.append(parse(obj))
            index.append(i)
        except _Bad as bad:
            problems.append(Problem(bad.reason, bad.detail, i if is_array else None))
    if is_array and not items:
        problems.append(Problem(Reason.INVALID, "empty array"))
    return tuple(parsed), Decoded(problems=tuple(problems), is_array=is_array, index=tuple(index))


def decode_positions(payload: bytes, *, owntracks: bool = False) -> Decoded:
    """Fixes of a position payload: a native object, an array of them (buffered batch), or
    OwnTracks location JSON (always on an OwnTracks topic, or recognised by its ``_type``)."""
    fixes, decoded = _decode_items(payload, lambda obj: _fix_of(obj, owntracks=owntracks))
    return replace(decoded, fixes=fixes)


def vehicle_event(obj: Any) -> VehicleEvent:
    """A native event object (see ``docs/telemetry.md``)."""
    if not isinstance(obj, dict):
        raise _Bad(Reason.INVALID, f"an event must be a JSON object, got {type(obj).__name__}")
    raw_type = obj.get("type")
    try:
        etype = EventType(str(raw_type))
    except ValueError:
        raise _Bad(Reason.INVALID, f"unknown event type {raw_type!r}") from None
    trip_id = _int(obj, "trip_id", required=etype not in SHIFT_EVENTS)
    event_id = obj.get("id")
    if event_id is not None and not isinstance(event_id, (str, int)):
        raise _Bad(Reason.INVALID, "field 'id' must be text or an integer")
    amount_kop = method = None
    if etype is EventType.PAYMENT_COLLECTED:
        amount_kop = _int(obj, "amount_kop", required=True)
        if amount_kop is not None and amount_kop < 0:
            raise _Bad(Reason.OUT_OF_RANGE, "field 'amount_kop' must not be negative")
        try:
            method = PaymentMethod(str(obj.get("method")))
        except ValueError:
            raise _Bad(Reason.INVALID, "field 'method' must be 'cash' or 'card'") from None
    reason = obj.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise _Bad(Reason.INVALID, "field 'reason' must be text")
    known = {"type", "ts", "trip_id", "id", "lat", "lon", "amount_kop", "method", "reason"}
    return VehicleEvent(
        type=etype,
        ts=parse_time(obj.get("ts")),
        trip_id=trip_id,
        event_id=None if event_id is None else str(event_id)[:100],
        lat=_num(obj, "lat"),
        lon=_num(obj, "lon"),
        amount_kop=amount_kop,
        method=method,
        reason=reason[:500] if reason else None,
        extra={k: v for k, v in obj.items() if k not in known},
    )


def decode_events(payload: bytes) -> Decoded:
    """Events of an event payload: one object or an array of them."""
    events, decoded = _decode_items(payload, vehicle_event)
    return replace(decoded, events=events)


def decode(route: Route, payload: bytes) -> Decoded:
    """Dispatch on the route's kind."""
    if route.kind == "event":
        return decode_events(payload)
    return decode_positions(payload, owntracks=route.kind == "owntracks")
