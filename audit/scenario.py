"""Trips to audit from a file: the scenario format (``docs/scenarios.md``) or a GPX track.

Pure: parses bytes into :class:`~audit.facts.TripFacts`, no I/O. Truth labels (``kind``,
``recipe``, ``truth``) are ignored. A file that cannot be used raises :class:`ScenarioError`
whose ``str()`` is one line naming what is wrong and where (``trips.3.pickup_time: ...``).
Fixes and events are decoded exactly as ingest decodes them (``telemetry.decode``); a bad fix
or event is left out with a note, as ingest would dead-letter it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import gpxpy
import gpxpy.gpx
import numpy as np
import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from audit.facts import (
    Note,
    Payment,
    Plan,
    Point,
    RuleId,
    SocialObjectFacts,
    Track,
    TripEvent,
    TripFacts,
)
from dispatch.quota import CountedTrip
from telemetry import decode
from telemetry.model import EventType

SCHEMA = "socialtaxi.scenario/1"
GPX_RULES = (RuleId.ROUTE_DEVIATION, RuleId.PHANTOM_TRIP, RuleId.POOR_GPS_COVERAGE)


class ScenarioError(ValueError):
    """A file that is not a usable scenario or GPX track; ``str()`` is one line."""


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _PointIn(_In):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class _ObjectIn(_In):
    id: int
    name: str = ""
    type: str
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    geofence_m: float | None = Field(None, gt=0)


class _PassengerIn(_In):
    id: int
    categories: list[str] = []
    wheelchair: bool = False
    needs_companion: bool = False


class _VehicleIn(_In):
    id: str
    type: str


class _PlannedIn(_In):
    distance_m: float = Field(ge=0)
    duration_s: float | None = None
    geometry: list[tuple[float, float]] = Field(min_length=2)


class _TripIn(_In):
    id: int
    passenger_id: int
    vehicle_id: str | None = None
    category: str
    vehicle_type: str | None = None
    pickup: _PointIn
    destination_object_id: int | None = None
    destination: _PointIn
    pickup_time: AwareDatetime
    planned: _PlannedIn | None = None
    fare_kop: int | None = Field(None, ge=0)
    co_payment_due_kop: int | None = Field(None, ge=0)
    quota_override: bool = False
    companions: int = Field(0, ge=0)
    final_status: Literal["completed", "no_show", "cancelled"]
    events: list[Any] = []
    fixes: list[Any] = []


class _ScenarioIn(_In):
    schema_: Literal["socialtaxi.scenario/1"] = Field(alias="schema")
    timezone: str = "Europe/Moscow"
    social_objects: list[_ObjectIn] = []
    passengers: list[_PassengerIn] = []
    vehicles: list[_VehicleIn] = []
    trips: list[_TripIn] = Field(min_length=1)


@dataclass(frozen=True)
class CheckTrip:
    """One trip of a file with the rules that apply to it (``None``: all)."""

    facts: TripFacts
    only: tuple[RuleId, ...] | None = None


@dataclass(frozen=True)
class Parsed:
    trips: tuple[CheckTrip, ...]
    notes: tuple[Note, ...]
    kind: Literal["scenario", "gpx"]


def parse_file(content: bytes, *, name: str = "") -> Parsed:
    """A scenario JSON document or a GPX track (recognised by content, not by name)."""
    head = content.lstrip()[:200]
    if head.startswith(b"<"):
        return parse_gpx(content)
    return parse_scenario(content)


def parse_scenario(content: bytes) -> Parsed:
    try:
        raw = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise ScenarioError(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ScenarioError("a scenario must be a JSON object with 'schema' and 'trips'")
    if raw.get("schema") != SCHEMA:
        raise ScenarioError(f"schema: expected {SCHEMA!r}, got {raw.get('schema')!r}")
    try:
        doc = _ScenarioIn.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise ScenarioError(f"{where}: {err['msg']}") from None
    ids = [t.id for t in doc.trips]
    if len(set(ids)) != len(ids):
        raise ScenarioError("trips: trip ids must be unique")
    passengers = {p.id: p for p in doc.passengers}
    vehicles = {v.id: v for v in doc.vehicles}
    objects = tuple(
        SocialObjectFacts(o.id, o.type, o.lat, o.lon, o.geofence_m, o.name)
        for o in doc.social_objects
    )
    by_passenger: dict[int, list[_TripIn]] = defaultdict(list)
    for t in doc.trips:
        by_passenger[t.passenger_id].append(t)
    dest_type = {o.id: o.object_type for o in objects}
    notes: list[Note] = []
    out: list[CheckTrip] = []
    for i, t in enumerate(doc.trips):
        track, fix_notes = _fixes(t.fixes, trip_id=t.id)
        events, payments, ev_notes = _events(t.events, trip_id=t.id, where=f"trips.{i}")
        notes += fix_notes + ev_notes
        pas = passengers.get(t.passenger_id)
        if pas is None:
            notes.append(Note(t.id, "unknown_passenger", f"Пассажир {t.passenger_id} не описан"))
        veh = vehicles.get(t.vehicle_id) if t.vehicle_id else None
        prior = tuple(
            CountedTrip(
                o.pickup_time, o.final_status, dest_type.get(o.destination_object_id or -1, "")
            )
            for o in by_passenger[t.passenger_id]
            if o.id != t.id
        )
        plan = None
        if t.planned is not None:
            g = np.asarray(t.planned.geometry, float)
            plan = Plan(t.planned.distance_m, t.planned.duration_s, tuple(g[:, 0]), tuple(g[:, 1]))
        facts = TripFacts(
            trip_id=t.id,
            status=t.final_status,
            category=t.category,
            pickup=Point(t.pickup.lat, t.pickup.lon),
            destination=Point(t.destination.lat, t.destination.lon),
            pickup_at=t.pickup_time.astimezone(UTC),
            fixes=track,
            events=events,
            payments=payments,
            objects=objects,
            dest_object_id=t.destination_object_id,
            plan=plan,
            fare_kop=t.fare_kop,
            copay_due_kop=t.co_payment_due_kop,
            quota_override=t.quota_override,
            prior_trips=prior,
            passenger_categories=tuple(pas.categories) if pas else (),
            needs_wheelchair=bool(pas and pas.wheelchair),
            companions=t.companions,
            vehicle_type=veh.type if veh else t.vehicle_type,
            booked_vehicle_type=t.vehicle_type,
            extra={"vehicle": t.vehicle_id},
        )
        out.append(CheckTrip(facts))
    return Parsed(tuple(out), tuple(notes), "scenario")


def _fixes(items: list[Any], *, trip_id: int) -> tuple[Track, list[Note]]:
    if not items:
        return Track.empty(), []
    ts_us, num, _, bad = decode.decode_items(items)
    keep = np.ones(len(items), bool)
    notes: list[Note] = []
    if bad:
        keep[list(bad)] = False
        first = min(bad)
        notes.append(
            Note(
                trip_id,
                "bad_fixes",
                f"Отброшено неразборчивых GPS-отметок: {len(bad)}"
                f" (первая #{first}: {bad[first].detail})",
            )
        )
    t_s = ts_us[keep].astype(np.float64) / 1e6
    return Track.of(t_s, num[keep, 0], num[keep, 1]), notes


def _events(
    items: list[Any], *, trip_id: int, where: str
) -> tuple[tuple[TripEvent, ...], tuple[Payment, ...], list[Note]]:
    events: list[TripEvent] = []
    payments: list[Payment] = []
    notes: list[Note] = []
    for j, obj in enumerate(items):
        try:
            ev = decode.vehicle_event(obj)
        except Exception as exc:  # noqa: BLE001 - telemetry's private _Bad: a bad event is noted
            notes.append(
                Note(trip_id, "bad_event", f"{where}.events.{j}: событие не разобрано: {exc}")
            )
            continue
        if ev.trip_id is not None and ev.trip_id != trip_id:
            notes.append(
                Note(trip_id, "foreign_event", f"{where}.events.{j}: событие другой поездки")
            )
            continue
        if ev.type is EventType.PAYMENT_COLLECTED:
            payments.append(
                Payment(int(ev.amount_kop or 0), ev.ts, ev.method.value if ev.method else "cash")
            )
        events.append(TripEvent(ev.type.value, ev.ts, ev.lat, ev.lon))
    return tuple(events), tuple(payments), notes


def parse_gpx(content: bytes) -> Parsed:
    """A GPX file: every track point of every track and segment is one trip's fixes (points
    need times). The trip is taken as completed from the first to the last point; only the
    rules that need no booking run (:data:`GPX_RULES`)."""
    try:
        gpx = gpxpy.parse(content.decode("utf-8", errors="strict"))
    except (gpxpy.gpx.GPXException, UnicodeDecodeError, ValueError) as exc:
        raise ScenarioError(
            f"not a GPX file: {str(exc).splitlines()[0] if str(exc) else exc}"
        ) from None
    pts = [p for trk in gpx.tracks for seg in trk.segments for p in seg.points]
    if not pts:
        raise ScenarioError("GPX: no track points (<trkpt>)")
    missing = [i for i, p in enumerate(pts) if p.time is None]
    if missing:
        raise ScenarioError(f"GPX: track point #{missing[0]} has no <time>")
    times: list[datetime] = [
        p.time if p.time.tzinfo else p.time.replace(tzinfo=UTC)  # type: ignore[union-attr,misc]
        for p in pts
    ]
    t_s = np.array([t.timestamp() for t in times])
    track = Track.of(t_s, [p.latitude for p in pts], [p.longitude for p in pts])
    first, last = pts[0], pts[-1]
    start, end = min(times), max(times)
    facts = TripFacts(
        trip_id=1,
        status="completed",
        category="",
        pickup=Point(first.latitude, first.longitude),
        destination=Point(last.latitude, last.longitude),
        pickup_at=start,
        fixes=track,
        started_at=start,
        picked_up_at=start,
        completed_at=end,
        extra={"gpx_name": (gpx.tracks[0].name if gpx.tracks else None) or ""},
    )
    return Parsed((CheckTrip(facts, GPX_RULES),), (), "gpx")


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()
