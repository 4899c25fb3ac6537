"""Encoders, the inverse of :mod:`telemetry.decode`: values → MQTT payload bytes and topics
(contract: ``docs/telemetry.md``).

Pure: values in, bytes out. What a device (or the simulator) publishes goes through here, so a
round trip ``decode(encode(x))`` gives ``x`` back (tested). Times are written as integer epoch
milliseconds by default (the decoder's fast path; sub-millisecond parts are rounded off) or as
ISO-8601 UTC text with milliseconds (``ts_format="iso"``, for files meant to be read).
OwnTracks ``tst`` is whole epoch seconds, as the app sends it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import orjson

from telemetry.model import EPOCH, Fix, VehicleEvent, from_epoch_us, to_epoch_us

TsFormat = Literal["ms", "iso"]

#: optional fields of a native fix, in :class:`~telemetry.model.Fix` order after lat/lon
_OPTIONAL = ("speed_kmh", "heading_deg", "accuracy_m", "hdop", "odometer_m", "satellites")


def position_topic(prefix: str, mqtt_id: str) -> str:
    """``{prefix}/vehicles/{mqtt_id}/position``."""
    return f"{prefix.rstrip('/')}/vehicles/{mqtt_id}/position"


def event_topic(prefix: str, mqtt_id: str) -> str:
    """``{prefix}/vehicles/{mqtt_id}/event``."""
    return f"{prefix.rstrip('/')}/vehicles/{mqtt_id}/event"


def owntracks_topic(mqtt_id: str, *, device: str = "phone", root: str = "owntracks") -> str:
    """``{root}/{mqtt_id}/{device}``: the ``{user}`` level (the login the broker's ACL binds,
    ``owntracks/%u/+``) is the vehicle's ``mqtt_id``; ``{device}`` is free."""
    return f"{root.rstrip('/')}/{mqtt_id}/{device}"


def format_ts_us(ts_us: int, ts_format: TsFormat = "ms") -> int | str:
    """A fix time (epoch µs) as the contract's ``ts``: epoch ms (rounded half up) or ISO text."""
    if ts_format == "ms":
        return (ts_us + 500) // 1000
    ms = (ts_us + 500) // 1000
    return from_epoch_us(ms * 1000).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def format_time(ts: datetime, ts_format: TsFormat = "iso") -> int | str:
    """An aware datetime as the contract's ``ts`` (ISO UTC text by default, as events carry)."""
    if ts.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return format_ts_us(to_epoch_us(ts.astimezone(UTC)), ts_format)


def fix_object(fix: Fix, *, ts_format: TsFormat = "ms") -> dict[str, Any]:
    """A native position object (``None`` fields left out)."""
    obj: dict[str, Any] = {
        "ts": format_ts_us(fix.ts_us, ts_format),
        "lat": float(fix.lat),
        "lon": float(fix.lon),
    }
    for key, value in zip(_OPTIONAL, fix[3:9], strict=True):
        if value is not None:
            obj[key] = int(value) if key == "satellites" else float(value)
    return obj


def encode_fix(fix: Fix, *, ts_format: TsFormat = "ms") -> bytes:
    """One fix → the payload of a position message."""
    return orjson.dumps(fix_object(fix, ts_format=ts_format))


def encode_batch(fixes: Iterable[Fix], *, ts_format: TsFormat = "ms") -> bytes:
    """Fixes (oldest first) → one array payload: the buffered-offline form."""
    return orjson.dumps([fix_object(f, ts_format=ts_format) for f in fixes])


def owntracks_object(fix: Fix, *, tid: str | None = None) -> dict[str, Any]:
    """An OwnTracks ``_type: location`` object: ``tst`` whole epoch seconds (rounded down, as
    the app does), ``vel`` km/h and ``acc`` m as integers, ``cog`` degrees."""
    obj: dict[str, Any] = {
        "_type": "location",
        "tst": fix.ts_us // 1_000_000,
        "lat": float(fix.lat),
        "lon": float(fix.lon),
    }
    if fix.speed_kmh is not None:
        obj["vel"] = round(fix.speed_kmh)
    if fix.heading_deg is not None:
        obj["cog"] = round(fix.heading_deg)
    if fix.accuracy_m is not None:
        obj["acc"] = round(fix.accuracy_m)
    if tid is not None:
        obj["tid"] = tid
    return obj


def encode_owntracks(fix: Fix, *, tid: str | None = None) -> bytes:
    """One fix → an OwnTracks location payload."""
    return orjson.dumps(owntracks_object(fix, tid=tid))


def event_object(event: VehicleEvent, *, ts_format: TsFormat = "iso") -> dict[str, Any]:
    """A native event object (``None`` fields left out; ``extra`` fields kept)."""
    obj: dict[str, Any] = {"type": event.type.value, "ts": format_time(event.ts, ts_format)}
    if event.trip_id is not None:
        obj["trip_id"] = event.trip_id
    if event.event_id is not None:
        obj["id"] = event.event_id
    if event.lat is not None:
        obj["lat"] = float(event.lat)
    if event.lon is not None:
        obj["lon"] = float(event.lon)
    if event.amount_kop is not None:
        obj["amount_kop"] = int(event.amount_kop)
    if event.method is not None:
        obj["method"] = event.method.value
    if event.reason is not None:
        obj["reason"] = event.reason
    for key, value in event.extra.items():
        obj.setdefault(key, value)
    return obj


def encode_event(event: VehicleEvent, *, ts_format: TsFormat = "iso") -> bytes:
    """One event → the payload of an event message."""
    return orjson.dumps(event_object(event, ts_format=ts_format))


def encode_events(events: Sequence[VehicleEvent], *, ts_format: TsFormat = "iso") -> bytes:
    """Events (in the order they happened) → one array payload."""
    return orjson.dumps([event_object(e, ts_format=ts_format) for e in events])


def fixes_from_columns(
    ts_us: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    *,
    speed_kmh: np.ndarray | None = None,
    heading_deg: np.ndarray | None = None,
    accuracy_m: np.ndarray | None = None,
    satellites: np.ndarray | None = None,
) -> list[Fix]:
    """Columns (numpy, equal length; NaN = absent) → :class:`Fix` values, rounded as a device
    reports them: 6 decimals of a degree (~0.1 m), 0.1 km/h, 0.1°, 0.1 m."""

    def col(a: np.ndarray | None, nd: int) -> list[float | None]:
        if a is None:
            return [None] * len(ts_us)
        r = np.round(np.asarray(a, np.float64), nd)
        return [None if v != v else v for v in r.tolist()]

    sats: list[int | None] = (
        [None] * len(ts_us)
        if satellites is None
        else [int(s) for s in np.asarray(satellites, np.int64).tolist()]
    )
    return [
        Fix(int(t), la, lo, sp, hd, ac, None, None, sa)  # type: ignore[arg-type]
        for t, la, lo, sp, hd, ac, sa in zip(
            np.asarray(ts_us, np.int64).tolist(),
            col(lat, 6),
            col(lon, 6),
            col(speed_kmh, 1),
            col(heading_deg, 1),
            col(accuracy_m, 1),
            sats,
            strict=True,
        )
    ]


__all__ = [
    "EPOCH",
    "encode_batch",
    "encode_event",
    "encode_events",
    "encode_fix",
    "encode_owntracks",
    "event_object",
    "event_topic",
    "fix_object",
    "fixes_from_columns",
    "format_time",
    "format_ts_us",
    "owntracks_object",
    "owntracks_topic",
    "position_topic",
]
