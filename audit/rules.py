"""The audit rules: small named pure functions, registered in one tuple, :data:`RULES`.

:func:`audit_trip` prepares a trip once (:func:`prepare`: cleans the track, projects it into the
trip's UTM zone, finds the moments that matter — setting off, boarding, completion) and runs every
rule on the same :class:`Context`. Each rule takes the context, the audit thresholds
(``[audit]`` of the rules file) and the rules themselves (tariffs, quotas, categories), and returns
:class:`~audit.facts.Finding` values and :class:`~audit.facts.Note` run-log entries. Bad input
(no fixes, fixes out of order, duplicated or in the future, a missing plan, an unknown object or
vehicle type) becomes a note naming what is wrong; a rule never crashes the run on it.

Geometry is measured in metres in the UTM zone of the pickup (EPSG:326xx), never in degrees;
GeoJSON in evidence is WGS 84 ``[lon, lat]``. No Python loop runs over GPS points: distances,
coverage and off-route stretches are numpy/shapely over arrays (loops run over the few stretches,
gaps, events and payments only).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer

from audit.facts import (
    Finding,
    Note,
    Point,
    RuleId,
    Severity,
    Track,
    TripEvent,
    TripFacts,
)
from config.rules import AuditThresholds, Rules
from dispatch.errors import Invalid
from dispatch.quota import quota_status
from dispatch.tariff import quote
from telemetry.plausibility import implausible_jumps

__all__ = ["RULES", "Context", "TripAudit", "audit_trip", "clean_track", "prepare"]

Outcome = Finding | Note
RuleFn = Callable[["Context", AuditThresholds, Rules], list[Outcome]]

SERVED = frozenset({"completed"})
ATTENDED = frozenset({"completed", "no_show"})
UNSERVED = frozenset({"cancelled", "no_show"})
FINISHED = SERVED | UNSERVED


# --- preparation ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class TripAudit:
    """The findings and run-log notes of one trip."""

    trip_id: int
    findings: tuple[Finding, ...]
    notes: tuple[Note, ...]


@dataclass(frozen=True)
class Context:
    """A trip prepared for the rules: the cleaned track (sorted by time, no duplicates, no future
    or impossible fixes) with its UTM coordinates, and the moments of the trip in epoch seconds
    (``None`` when unknown)."""

    facts: TripFacts
    track: Track
    x: np.ndarray
    y: np.ndarray
    epsg: int
    start_s: float | None
    board_s: float | None
    end_s: float | None
    arrived: TripEvent | None

    @property
    def trip_id(self) -> int:
        return self.facts.trip_id

    def xy(self, lat: Any, lon: Any) -> tuple[np.ndarray, np.ndarray]:
        """Project WGS 84 degrees into this trip's UTM zone (metres)."""
        x, y = _transformer(self.epsg).transform(np.asarray(lon, float), np.asarray(lat, float))
        return np.asarray(x, float), np.asarray(y, float)

    def dist_to(self, p: Point) -> np.ndarray:
        """Metres from every cleaned fix to ``p``."""
        px, py = self.xy(p.lat, p.lon)
        return np.hypot(self.x - px, self.y - py)

    def leg(self, start_s: float | None, end_s: float | None) -> np.ndarray:
        """Boolean mask of the fixes between two moments (open ends where ``None``)."""
        t = self.track.t_s
        m = np.ones(t.shape, bool)
        if start_s is not None:
            m &= t >= start_s
        if end_s is not None:
            m &= t <= end_s
        return m


def utm_epsg(lat: float, lon: float) -> int:
    """EPSG code of the WGS 84 UTM zone containing the point."""
    zone = int((lon + 180) // 6) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


@lru_cache(maxsize=16)
def _transformer(epsg: int) -> Transformer:
    return Transformer.from_crs(4326, epsg, always_xy=True)


def _ts(at: datetime | None) -> float | None:
    return None if at is None else at.timestamp()


def _iso(t_s: float | None) -> str | None:
    if t_s is None or not math.isfinite(t_s):
        return None
    return datetime.fromtimestamp(t_s, UTC).isoformat()


def clean_track(
    track: Track,
    *,
    trip_id: int,
    now_s: float,
    future_fix_s: float,
    max_speed_kmh: float | None = None,
) -> tuple[Track, list[Note]]:
    """Sort fixes by time, drop duplicates (same time), impossible coordinates, fixes dated
    more than ``future_fix_s`` after ``now_s`` and — given ``max_speed_kmh`` (the rules file's
    ``[telemetry]`` limit) — fixes reached by an implausible jump (ingest's own test,
    :func:`telemetry.plausibility.implausible_jumps`: fixes from the database come flagged and
    are left out when loaded; a file's fixes never went through ingest); one note per kind of
    problem found."""
    notes: list[Note] = []
    t, la, lo = track.t_s, track.lat, track.lon
    if t.shape[0] == 0:
        return track, [Note(trip_id, "no_fixes", "Нет ни одной GPS-отметки за время поездки")]
    bad = ~(np.isfinite(t) & np.isfinite(la) & np.isfinite(lo))
    bad |= (np.abs(la) > 90) | (np.abs(lo) > 180) | ((la == 0) & (lo == 0))
    if bad.any():
        notes.append(
            Note(
                trip_id,
                "bad_fixes",
                f"Отброшено GPS-отметок с неверными координатами: {int(bad.sum())}",
            )
        )
    future = ~bad & (t > now_s + future_fix_s)
    if future.any():
        notes.append(
            Note(
                trip_id,
                "future_fixes",
                f"Отброшено GPS-отметок с временем в будущем: {int(future.sum())} "
                f"(первая {_iso(float(t[future].min()))})",
            )
        )
    keep = ~(bad | future)
    t, la, lo = t[keep], la[keep], lo[keep]
    if t.shape[0] > 1 and np.any(np.diff(t) < 0):
        notes.append(
            Note(
                trip_id,
                "fixes_out_of_order",
                "GPS-отметки пришли не по порядку времени; упорядочены",
            )
        )
    order = np.argsort(t, kind="stable")
    t, la, lo = t[order], la[order], lo[order]
    dup = np.zeros(t.shape, bool)
    if t.shape[0] > 1:
        dup[1:] = np.diff(t) == 0
    if dup.any():
        notes.append(
            Note(trip_id, "duplicate_fixes", f"Повторные GPS-отметки отброшены: {int(dup.sum())}")
        )
        t, la, lo = t[~dup], la[~dup], lo[~dup]
    if max_speed_kmh is not None and t.shape[0] > 1:
        jump = implausible_jumps(
            np.zeros(t.shape[0], np.int64), t, la, lo, max_speed_kmh=max_speed_kmh
        )
        if jump.any():
            notes.append(
                Note(
                    trip_id,
                    "implausible_fixes",
                    f"Не учтены неправдоподобные GPS-отметки: {int(jump.sum())}",
                )
            )
            t, la, lo = t[~jump], la[~jump], lo[~jump]
    if t.shape[0] == 0:
        notes.append(Note(trip_id, "no_fixes", "Не осталось ни одной пригодной GPS-отметки"))
    return Track(t, la, lo), notes


def _first_event(events: Sequence[TripEvent], *types: str) -> TripEvent | None:
    hits = [e for e in events if e.type in types]
    return min(hits, key=lambda e: e.at) if hits else None


def prepare(
    facts: TripFacts, th: AuditThresholds, *, now: datetime, max_speed_kmh: float | None = None
) -> tuple[Context, list[Note]]:
    """Clean the track (:func:`clean_track`) and find the trip's moments (see
    :class:`Context`)."""
    track, notes = clean_track(
        facts.fixes,
        trip_id=facts.trip_id,
        now_s=now.timestamp(),
        future_fix_s=th.future_fix_s,
        max_speed_kmh=max_speed_kmh,
    )
    ev = facts.events
    start = facts.started_at or getattr(_first_event(ev, "en_route"), "at", None)
    board = facts.picked_up_at or getattr(_first_event(ev, "passenger_on_board"), "at", None)
    end = facts.completed_at or getattr(
        _first_event(ev, "trip_completed", "arrived_at_destination", "no_show"), "at", None
    )
    arrived = _first_event(ev, "arrived_at_pickup")
    epsg = utm_epsg(facts.pickup.lat, facts.pickup.lon)
    x, y = _transformer(epsg).transform(track.lon, track.lat)
    ctx = Context(
        facts=facts,
        track=track,
        x=np.asarray(x, float),
        y=np.asarray(y, float),
        epsg=epsg,
        start_s=_ts(start) if start else (float(track.t_s[0]) if len(track) else None),
        board_s=_ts(board),
        end_s=_ts(end) if end else (float(track.t_s[-1]) if len(track) else None),
        arrived=arrived,
    )
    return ctx, notes


# --- helpers -------------------------------------------------------------------------------------
def _line(lat: Any, lon: Any) -> list[list[float]]:
    return [[round(float(b), 7), round(float(a), 7)] for a, b in zip(lat, lon, strict=True)]


def _feature(geometry: dict[str, Any], role: str, **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": {"role": role, **props}}


def _collection(*features: dict[str, Any] | None) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [f for f in features if f is not None]}


def _point_feature(lat: float, lon: float, role: str, **props: Any) -> dict[str, Any]:
    return _feature({"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]}, role, **props)


def _track_feature(ctx: Context, mask: np.ndarray, role: str) -> dict[str, Any] | None:
    if int(mask.sum()) < 2:
        return None
    tr = ctx.track
    return _feature({"type": "LineString", "coordinates": _line(tr.lat[mask], tr.lon[mask])}, role)


def _plan_feature(ctx: Context) -> dict[str, Any] | None:
    plan = ctx.facts.plan
    if plan is None or len(plan.lat) < 2:
        return None
    return _feature({"type": "LineString", "coordinates": _line(plan.lat, plan.lon)}, "planned")


def _per_km_kop(rules: Rules, vehicle_type: str | None) -> int | None:
    if vehicle_type is None:
        return None
    try:
        return rules.tariff(vehicle_type).per_km_kop
    except KeyError:
        return None


def _fare_stake(ctx: Context) -> tuple[float, int]:
    plan = ctx.facts.plan
    return (round(plan.distance_m / 1000, 3) if plan else 0.0), int(ctx.facts.fare_kop or 0)


def _runs(state: np.ndarray) -> list[tuple[int, int]]:
    """Index ranges ``[start, end]`` (inclusive) of the true runs of a boolean array."""
    if state.size == 0:
        return []
    d = np.diff(np.concatenate(([0], state.astype(np.int8), [0])))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1) - 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def hysteresis(dist_m: np.ndarray, *, enter_m: float, leave_m: float) -> np.ndarray:
    """Off-route state per sample: on when farther than ``enter_m``, off again only when closer
    than ``leave_m`` (in between the previous state holds). Vectorised forward fill."""
    enter = dist_m > enter_m
    leave = dist_m < leave_m
    idx = np.where(enter | leave, np.arange(dist_m.size), -1)
    last = np.maximum.accumulate(idx) if idx.size else idx
    return np.where(last >= 0, enter[np.maximum(last, 0)], False)


def _gaps(
    t_s: np.ndarray, start_s: float, end_s: float, max_gap_s: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The moments ``start_s, fixes…, end_s``, the time between consecutive ones and the indices
    of the gaps longer than ``max_gap_s`` (uncovered time, shared by the coverage and phantom
    rules)."""
    edges = np.concatenate(([start_s], t_s, [end_s]))
    gaps = np.diff(edges)
    return edges, gaps, np.flatnonzero(gaps > max_gap_s)


def _path_m(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.hypot(np.diff(x), np.diff(y)).sum()) if x.size > 1 else 0.0


# --- the rules -----------------------------------------------------------------------------------
def route_deviation(ctx: Context, th: AuditThresholds, rules: Rules) -> list[Outcome]:
    """The passenger leg against the plan: off-route stretches outside the corridor (hysteresis,
    minimum length and duration) and the matched length against the planned route and the
    fastest route between the actual pickup and drop-off — both must be exceeded."""
    f = ctx.facts
    rid = RuleId.ROUTE_DEVIATION
    if f.status not in SERVED:
        return []
    if f.plan is None or len(f.plan.lat) < 2:
        return [
            Note(f.trip_id, "missing_plan", "Нет планового маршрута: отклонение не проверено", rid)
        ]
    leg = ctx.leg(ctx.board_s, ctx.end_s)
    out: list[Outcome] = []
    m = f.matched
    if m is not None and m.fix_lat.shape[0] == int(leg.sum()):
        fx, fy = ctx.xy(m.fix_lat, m.fix_lon)  # fixes moved onto their matched roads
        ok = np.isfinite(fx) & np.isfinite(fy)
        raw_x, raw_y = ctx.x[leg], ctx.y[leg]
        fx, fy = np.where(ok, fx, raw_x), np.where(ok, fy, raw_y)
    else:
        if m is not None:
            out.append(
                Note(
                    f.trip_id,
                    "matched_mismatch",
                    "Сопоставленный трек не совпадает с отметками поездки",
                    rid,
                )
            )
            m = None
        fx, fy = ctx.x[leg], ctx.y[leg]
    t = ctx.track.t_s[leg]
    if t.size < 2:
        out.append(
            Note(
                f.trip_id,
                "no_fixes",
                "Нет GPS-отметок на участке с пассажиром: отклонение не проверено",
                rid,
            )
        )
        return out
    px, py = ctx.xy(f.plan.lat, f.plan.lon)
    plan_line = shapely.linestrings(np.column_stack((px, py)))
    d = shapely.distance(shapely.points(fx, fy), plan_line)
    state = hysteresis(d, enter_m=th.deviation_corridor_m, leave_m=th.reenter_m)
    seg = np.concatenate(([0.0], np.hypot(np.diff(fx), np.diff(fy))))
    stretches: list[dict[str, Any]] = []
    geoms: list[dict[str, Any]] = []
    lat_leg, lon_leg = ctx.track.lat[leg], ctx.track.lon[leg]
    for a, b in _runs(state):
        # a stretch runs from the last on-route fix before it to the first one after it
        a0, b1 = max(a - 1, 0), min(b + 1, t.size - 1)
        length = float(seg[a0 + 1 : b1 + 1].sum())
        duration = float(t[b1] - t[a0])
        if length < th.deviation_min_length_m or duration < th.deviation_min_duration_s:
            continue
        stretches.append(
            {
                "from": _iso(float(t[a0])),
                "to": _iso(float(t[b1])),
                "length_m": round(length, 1),
                "duration_s": round(duration, 1),
                "max_offset_m": round(float(d[a : b + 1].max()), 1),
            }
        )
        geoms.append(
            _feature(
                {
                    "type": "LineString",
                    "coordinates": _line(lat_leg[a0 : b1 + 1], lon_leg[a0 : b1 + 1]),
                },
                "off_route",
                length_m=round(length, 1),
            )
        )
    planned_m = float(f.plan.distance_m)
    if m is not None:
        actual_m = float(m.length_m)
        length_source = "matched"
    else:
        out.append(
            Note(
                f.trip_id,
                "no_matched_track",
                "Трек не сопоставлен с дорожным графом: длина не сравнивается, только коридор",
                rid,
            )
        )
        actual_m = _path_m(fx, fy)
        length_source = "raw_fixes"
    off_m = float(sum(s["length_m"] for s in stretches))
    if m is not None:
        over_plan = (
            actual_m > th.extra_distance_ratio * planned_m
            and actual_m - planned_m >= th.extra_distance_min_m
        )
        over_fastest = f.fastest_m is None or (
            actual_m > th.extra_distance_ratio * f.fastest_m
            and actual_m - f.fastest_m >= th.extra_distance_min_m
        )
        # The fastest route between the actual ends excuses a longer drive only when the drive
        # ended where it was booked to: a drive elsewhere is off the plan however direct it was.
        drop = _dropoff(ctx)
        elsewhere = False
        if drop is not None:
            dx, dy = ctx.xy(drop[0], drop[1])
            bx, by = ctx.xy(f.destination.lat, f.destination.lon)
            elsewhere = float(np.hypot(dx - bx, dy - by)) > th.destination_geofence_m
        flagged = over_plan and (over_fastest or elsewhere)
        base_m = planned_m if elsewhere else max(planned_m, f.fastest_m or 0.0)
        extra_m = actual_m - base_m if flagged else 0.0
    else:
        flagged = off_m >= th.extra_distance_min_m
        extra_m = off_m / 2 if flagged else 0.0  # out and back: half the stretch is extra
    if not flagged:
        return out
    per_km = _per_km_kop(rules, f.vehicle_type or f.booked_vehicle_type)
    extra_km = round(max(extra_m, 0.0) / 1000, 3)
    out.append(
        Finding(
            trip_id=f.trip_id,
            rule=rid,
            severity=Severity.CRITICAL if stretches else Severity.WARNING,
            message=(
                f"Отклонение от маршрута: пройдено {actual_m / 1000:.1f} км при плановых "
                f"{planned_m / 1000:.1f} км, вне коридора {len(stretches)} участк(а)"
            ),
            evidence={
                "planned_m": round(planned_m, 1),
                "actual_m": round(actual_m, 1),
                "actual_source": length_source,
                "fastest_actual_m": None if f.fastest_m is None else round(f.fastest_m, 1),
                "ratio_to_plan": round(actual_m / planned_m, 3) if planned_m > 0 else None,
                "extra_m": round(extra_m, 1),
                "corridor_m": th.deviation_corridor_m,
                "off_route": stretches,
                "off_route_m": round(off_m, 1),
                "ended_elsewhere": elsewhere if m is not None else None,
            },
            geometry=_collection(_plan_feature(ctx), _track_feature(ctx, leg, "actual"), *geoms),
            at_stake_km=extra_km,
            at_stake_kop=round(extra_km * per_km) if per_km is not None else 0,
        )
    )
    return out


def late_pickup(ctx: Context, th: AuditThresholds, rules: Rules) -> list[Outcome]:
    """First fix within ``pickup_radius_m`` of the booked pickup against the booked time plus
    the tolerance; a driver's "arrived" far from the GPS position is evidence too."""
    f = ctx.facts
    rid = RuleId.LATE_PICKUP
    if f.status not in ATTENDED or len(ctx.track) == 0:
        return []
    booked_s = f.pickup_at.timestamp()
    dist = ctx.dist_to(f.pickup)
    window = ctx.leg(ctx.start_s, ctx.board_s or ctx.end_s)
    near = np.flatnonzero(window & (dist <= th.pickup_radius_m))
    evidence: dict[str, Any] = {
        "booked_at": f.pickup_at.astimezone(UTC).isoformat(),
        "radius_m": th.pickup_radius_m,
    }
    mismatch = _arrival_mismatch(ctx, th)
    if mismatch:
        evidence["driver_arrived"] = mismatch
    if near.size == 0:
        return [
            Note(
                f.trip_id,
                "pickup_not_reached",
                f"По GPS машина не подъезжала ближе {th.pickup_radius_m:.0f} м к месту подачи",
                rid,
            )
        ]
    i = int(near[0])
    reached_s = float(ctx.track.t_s[i])
    delay_s = reached_s - booked_s
    if delay_s <= th.late_pickup_tolerance_min * 60:
        return []
    evidence |= {
        "reached_at": _iso(reached_s),
        "delay_s": round(delay_s, 1),
        "tolerance_s": th.late_pickup_tolerance_min * 60,
        "reached_dist_m": round(float(dist[i]), 1),
    }
    return [
        Finding(
            trip_id=f.trip_id,
            rule=rid,
            severity=Severity.CRITICAL if mismatch else Severity.WARNING,
            message=(
                f"Опоздание к месту подачи на {delay_s / 60:.0f} мин"
                f" (допуск {th.late_pickup_tolerance_min} мин)"
            ),
            evidence=evidence,
            geometry=_collection(
                _point_feature(f.pickup.lat, f.pickup.lon, "booked_pickup"),
                _point_feature(
                    float(ctx.track.lat[i]), float(ctx.track.lon[i]), "reached", at=_iso(reached_s)
                ),
                _track_feature(ctx, window, "approach"),
            ),
        )
    ]


def _arrival_mismatch(ctx: Context, th: AuditThresholds) -> dict[str, Any] | None:
    """The driver's "arrived" event when the GPS put the vehicle far from the pickup then."""
    ev = ctx.arrived
    if ev is None or len(ctx.track) == 0:
        return None
    t = ev.at.timestamp()
    i = int(np.argmin(np.abs(ctx.track.t_s - t)))
    if abs(float(ctx.track.t_s[i]) - t) > th.max_gps_gap_s:
        return None
    d = float(ctx.dist_to(ctx.facts.pickup)[i])
    if d <= th.arrival_mismatch_m:
        return None
    return {
        "at": ev.at.astimezone(UTC).isoformat(),
        "gps_dist_to_pickup_m": round(d, 1),
        "gps_at": _iso(float(ctx.track.t_s[i])),
    }


def false_no_show(ctx: Context, th: AuditThresholds, rules: Rules) -> list[Outcome]:
    """A no-show while the vehicle never came within ``pickup_radius_m`` of the pickup within
    ``no_show_window_min`` of the booked time."""
    f = ctx.facts
    rid = RuleId.FALSE_NO_SHOW
    if f.status != "no_show":
        return []
    booked_s = f.pickup_at.timestamp()
    w = th.no_show_window_min * 60
    win = ctx.leg(booked_s - w, booked_s + w)
    km, kop = _fare_stake(ctx)
    base = {
        "booked_at": f.pickup_at.astimezone(UTC).isoformat(),
        "window_min": th.no_show_window_min,
        "radius_m": th.pickup_radius_m,
    }
    if not win.any():
        return [
            Finding(
                trip_id=f.trip_id,
                rule=rid,
                severity=Severity.WARNING,
                message="Неявка не подтверждена: нет GPS-отметок около времени подачи",
                evidence=base | {"fixes_in_window": 0},
                geometry=_collection(_point_feature(f.pickup.lat, f.pickup.lon, "booked_pickup")),
                at_stake_km=km,
                at_stake_kop=kop,
            )
        ]
    dist = np.where(win, ctx.dist_to(f.pickup), np.inf)
    i = int(np.argmin(dist))
    if dist[i] <= th.pickup_radius_m:
        return []
    return [
        Finding(
            trip_id=f.trip_id,
            rule=rid,
            severity=Severity.CRITICAL,
            message=f"Ложная неявка: машина не подъезжала к месту подачи ближе {dist[i]:.0f} м",
            evidence=base
            | {
                "fixes_in_window": int(win.sum()),
                "closest_m": round(float(dist[i]), 1),
                "closest_at": _iso(float(ctx.track.t_s[i])),
            },
            geometry=_collection(
                _point_feature(f.pickup.lat, f.pickup.lon, "booked_pickup"),
                _point_feature(float(ctx.track.lat[i]), float(ctx.track.lon[i]), "closest"),
                _track_feature(ctx, win, "actual"),
            ),
            at_stake_km=km,
            at_stake_kop=kop,
        )
    ]


def over_quota(ctx: Context, th: AuditThresholds, rules: Rules) -> list[Outcome]:
    """Completed trips per passenger per month/year above the category's limits without an
    approved override (``dispatch.quota``, counting the passenger's earlier trips)."""
    f = ctx.facts
    rid = RuleId.OVER_QUOTA
    if f.status not in SERVED:
        return []
    try:
        category = rules.category(f.category)
    except KeyError:
        return [
            Note(
                f.trip_id, "unknown_category", f"Неизвестная льготная категория «{f.category}»", rid
            )
        ]
    obj = _object(ctx, f.dest_object_id)
    if obj is None:
        return [
            Note(
                f.trip_id,
                "unknown_object",
                f"Объект назначения {f.dest_object_id} не найден в реестре:"
                " квота по типу не проверена",
                rid,
            )
        ]
    try:
        otype = rules.object_type(obj.object_type)
    except KeyError:
        return [
            Note(
                f.trip_id,
                "unknown_object_type",
                f"Неизвестный тип объекта «{obj.object_type}»",
                rid,
            )
        ]
    prior = [p for p in f.prior_trips if p.pickup_at < f.pickup_at and p.status in FINISHED]
    try:
        q = quota_status(
            category=category,
            object_type=otype,
            trips=prior,
            pickup_at=f.pickup_at,
            tz=rules.timezone,
            pair_counts_as=rules.return_trips.pair_counts_as,
            new_pair_key=f.pair_key,
        )
    except Invalid as exc:
        return [Note(f.trip_id, exc.code, exc.message, rid)]
    if not q.over or f.quota_override:
        return []
    km, kop = _fare_stake(ctx)
    return [
        Finding(
            trip_id=f.trip_id,
            rule=rid,
            severity=Severity.WARNING,
            message="Поездка сверх лимита без разрешения: " + "; ".join(q.reasons),
            evidence={
                "category": f.category,
                "month_used": q.month_used,
                "month_limit": q.month_limit,
                "year_used": q.year_used,
                "year_limit": q.year_limit,
                "type_year_used": q.type_year_used,
                "type_year_limit": q.type_year_limit,
                "reasons": list(q.reasons),
            },
            at_stake_km=km,
            at_stake_kop=kop,
        )
    ]


def _object(ctx: Context, object_id: int | None) -> Any:
    if object_id is None:
        return None
    return next((o for o in ctx.facts.objects if o.id == object_id), None)


def _dropoff(ctx: Context) -> tuple[float, float, float] | None:
    """(lat, lon, t_s) of the last fix at or before completion (the actual drop-off)."""
    leg = np.flatnonzero(ctx.leg(ctx.board_s, ctx.end_s))
    if leg.size == 0:
        return None
    i = int(leg[-1])
    return float(ctx.track.lat[i]), float(ctx.track.lon[i]), float(ctx.track.t_s[i])


def non_social_destination(ctx: Context, th: AuditThresholds, rules: Rules) -> list[Outcome]:
    """The actual drop-off outside every registered object's geofence, or inside only objects
    whose type the trip's category may not travel to."""
    f = ctx.facts
    rid = RuleId.NON_SOCIAL_DESTINATION
    if f.status not in SERVED:
        return []
    out: list[Outcome] = []
    if f.dest_object_id is not None and _object(ctx, f.dest_object_id) is None:
        out.append(
            Note(
                f.trip_id,
                "unknown_object",
                f"Объект назначения {f.dest_object_id} не найден в реестре",
                rid,
            )
        )
    drop = _dropoff(ctx)
    if drop is None or (ctx.end_s is not None and ctx.end_s - drop[2] > th.max_gps_gap_s):
        out.append(
            Note(
                f.trip_id,
                "no_dropoff",
                "Нет GPS-отметок в конце поездки: место высадки неизвестно",
                rid,
            )
        )
        return out
    if not f.objects:
        out.append(Note(f.trip_id, "no_objects", "Реестр социальных объектов пуст", rid))
        return out
    try:
        allowed = set(rules.category(f.category).allowed_object_types)
    except KeyError:
        out.append(
            Note(
                f.trip_id, "unknown_category", f"Неизвестная льготная категория «{f.category}»", rid
            )
        )
        return out
    olat = np.array([o.lat for o in f.objects])
    olon = np.array([o.lon for o in f.objects])
    radius = np.array([o.radius_m or th.destination_geofence_m for o in f.objects])
    ox, oy = ctx.xy(olat, olon)
    dx, dy = ctx.xy(drop[0], drop[1])
    dist = np.hypot(ox - dx, oy - dy)
    inside = np.flatnonzero(dist <= radius)
    lag_s = max(0.0, (ctx.end_s or drop[2]) - drop[2])
    # how fast the vehicle was going just before its last fix (a parked one: about zero)
    recent = np.flatnonzero(ctx.leg(drop[2] - 60.0, drop[2]))
    speed_mps = th.dropoff_speed_kmh / 3.6
    if recent.size >= 2 and ctx.track.t_s[recent[-1]] > ctx.track.t_s[recent[0]]:
        a, b = int(recent[0]), int(recent[-1])
        seen = float(np.hypot(ctx.x[b] - ctx.x[a], ctx.y[b] - ctx.y[a]))
        speed_mps = min(speed_mps, seen / float(ctx.track.t_s[b] - ctx.track.t_s[a]))
    reach_m = lag_s * speed_mps
    km, kop = _fare_stake(ctx)
    drop_feature = _point_feature(drop[0], drop[1], "dropoff", at=_iso(drop[2]))
    if inside.size and any(f.objects[i].object_type in allowed for i in inside.tolist()):
        return out
    ok_types = np.array([o.object_type in allowed for o in f.objects])
    if not inside.size and np.any(ok_types & (dist <= radius + reach_m)):
        # the last fix is short of a geofence by less than the vehicle could still drive
        out.append(
            Note(
                f.trip_id,
                "dropoff_uncertain",
                f"Последняя GPS-отметка за {lag_s:.0f} с до завершения: место высадки не доказано",
                rid,
            )
        )
        return out
    j = int(np.argmin(dist))
    nearest = f.objects[j]
    if inside.size:
        types = sorted({f.objects[i].object_type for i in inside.tolist()})
        message = (
            f"Высадка у объекта типа, не разрешённого категории «{f.category}»: {', '.join(types)}"
        )
        reason = "type_not_allowed"
    else:
        message = (
            "Высадка вне геозон социальных объектов:"
            f" до ближайшего «{nearest.name}» {dist[j]:.0f} м"
        )
        reason = "outside_geofences"
    out.append(
        Finding(
            trip_id=f.trip_id,
            rule=rid,
            severity=Severity.CRITICAL,
            message=message,
            evidence={
                "reason": reason,
                "dropoff": {
                    "lat": round(drop[0], 7),
                    "lon": round(drop[1], 7),
                    "at": _iso(drop[2]),
                },
                "nearest_object_id": nearest.id,
                "nearest_object_type": nearest.object_type,
                "nearest_dist_m": round(float(dist[j]), 1),
                "nearest_radius_m": float(radius[j]),
                "inside_object_ids": [f.objects[i].id for i in inside.tolist()],
                "allowed_types": sorted(allowed),
            },
            geometry=_collection(
                drop_feature,
                _point_feature(
                    nearest.lat, nearest.lon, "nearest_object", radius_m=float(radius[j])
                ),
            ),
            at_stake_km=km,
            at_stake_kop=kop,
        )
    )
    return out


def improper_copayment(ctx: Context, th: AuditThresholds, rules: Rules) -> list[Outcome]:
    """Collected co-payment against the amount due under the tariff (``dispatch.tariff``); any
    payment from an exempt passenger or for a cancelled or no-show trip; repeated payments."""
    f = ctx.facts
    rid = RuleId.IMPROPER_COPAYMENT
    pays = sorted(f.payments, key=lambda p: p.at)
    total = sum(p.amount_kop for p in pays)
    out: list[Outcome] = []
    evidence: dict[str, Any] = {
        "collected_kop": total,
        "payments": [
            {"amount_kop": p.amount_kop, "at": p.at.astimezone(UTC).isoformat(), "method": p.method}
            for p in pays
        ],
    }
    if f.status in UNSERVED:
        if total > 0:
            return [
                Finding(
                    trip_id=f.trip_id,
                    rule=rid,
                    severity=Severity.CRITICAL,
                    message=f"Оплата {total / 100:.2f} ₽ за поездку со статусом «{f.status}»",
                    evidence=evidence | {"reasons": ["paid_not_served"], "due_kop": 0},
                    at_stake_kop=total,
                )
            ]
        return []
    if f.status not in SERVED:
        return []
    due, share, due_rules = f.copay_due_kop, None, None
    vtype = f.booked_vehicle_type or f.vehicle_type
    if f.plan is not None and vtype is not None:
        try:
            q = quote(rules, category=f.category, vehicle_type=vtype, distance_m=f.plan.distance_m)
            due_rules, share = q.copay_kop, q.copay_share_pct
        except Invalid as exc:
            out.append(Note(f.trip_id, exc.code, exc.message, rid))
    if due_rules is not None and (due is None or abs(due - due_rules) > 1):
        # no amount from booking, or a booking priced against the rules: the rules decide (one
        # kopeck apart is the rounding of a stored distance: the booking's figure stands)
        due = due_rules
    if due is None:
        out.append(
            Note(f.trip_id, "no_due_amount", "Сумма доплаты неизвестна (нет плана и тарифа)", rid)
        )
        return out
    reasons: list[str] = []
    positive = [p for p in pays if p.amount_kop > 0]
    stake = 0
    if share == 0 and total > 0:
        reasons.append("exempt_paid")
        stake = total
    if len(positive) > 1:
        reasons.append("repeated")
        stake = max(stake, total - positive[0].amount_kop)
    if abs(total - due) > th.copayment_tolerance_kop:
        reasons.append("amount_mismatch" if total else "not_collected")
        stake = max(stake, abs(total - due))
    if not reasons:
        return out
    labels = {
        "exempt_paid": "оплата с освобождённого от доплаты",
        "repeated": "повторная оплата",
        "amount_mismatch": "сумма не равна положенной",
        "not_collected": "доплата не получена",
    }
    out.append(
        Finding(
            trip_id=f.trip_id,
            rule=rid,
            severity=Severity.CRITICAL
            if {"exempt_paid", "repeated"} & set(reasons)
            else Severity.WARNING,
            message=(
                f"Доплата: {', '.join(labels[r] for r in reasons)} (получено"
                f" {total / 100:.2f} ₽, положено {due / 100:.2f} ₽)"
            ),
            evidence=evidence
            | {
                "due_kop": due,
                "due_booked_kop": f.copay_due_kop,
                "due_rules_kop": due_rules,
                "share_pct": share,
                "reasons": reasons,
            },
            at_stake_kop=stake,
        )
    )
    return out


def phantom_trip(ctx: Context, th: AuditThresholds, rules: Rules) -> list[Outcome]:
    """A completed trip during which the vehicle did not move: the ride's fixes span less than
    ``phantom_min_movement_m`` (2.5–97.5 % range per axis), on a trip planned at least twice
    that long."""
    f = ctx.facts
    rid = RuleId.PHANTOM_TRIP
    if f.status not in SERVED:
        return []
    # the passenger leg (boarding to completion); the whole trip when boarding is unknown
    mask = ctx.leg(ctx.board_s if ctx.board_s is not None else ctx.start_s, ctx.end_s)
    if not mask.any():
        return []  # no fixes: poor_gps_coverage reports it, a note was written when preparing
    expected_m = (
        f.plan.distance_m
        if f.plan
        else float(
            np.hypot(
                *(
                    np.subtract(
                        ctx.xy(f.pickup.lat, f.pickup.lon),
                        ctx.xy(f.destination.lat, f.destination.lon),
                    )
                )
            )
        )
    )
    if expected_m < 2 * th.phantom_min_movement_m:
        return []
    t = ctx.track.t_s[mask]
    lo = ctx.board_s if ctx.board_s is not None else ctx.start_s
    if lo is not None and ctx.end_s is not None:
        # Standing still must be seen: a gap of three sampling intervals (at least 30 s, at
        # most max_gps_gap_s) could hide a short drive, so it counts as unseen here (a
        # 700 m ride behind a 100 s dropout is no phantom: its few fixes span 190 m).
        step = float(np.median(np.diff(t))) if t.size > 1 else th.max_gps_gap_s
        hide_s = min(th.max_gps_gap_s, max(3.0 * step, 30.0))
        _, gaps, big = _gaps(t, lo, ctx.end_s, hide_s)
        uncovered = float(gaps[big].sum())
        if ctx.end_s > lo and 1 - uncovered / (ctx.end_s - lo) < th.gps_coverage_min:
            # too little of the ride has fixes to say the vehicle stood still
            return [
                Note(
                    f.trip_id,
                    "phantom_unknown",
                    "Мало GPS-отметок в поездке с пассажиром: неподвижность не проверена",
                    rid,
                )
            ]
    x, y = ctx.x[mask], ctx.y[mask]
    # robust extent of the fixes: the 2.5–97.5 % range per axis (a GPS outlier jump of a few
    # hundred metres is not movement)
    spread = float(np.hypot(*(np.percentile(v, 97.5) - np.percentile(v, 2.5) for v in (x, y))))
    if spread >= th.phantom_min_movement_m:
        return []
    km, kop = _fare_stake(ctx)
    return [
        Finding(
            trip_id=f.trip_id,
            rule=rid,
            severity=Severity.CRITICAL,
            message=(
                f"Поездка без движения: отметки GPS в пределах {spread:.0f} м"
                f" при плановых {expected_m / 1000:.1f} км"
            ),
            evidence={
                "spread_m": round(spread, 1),
                "fixes": int(mask.sum()),
                "expected_m": round(expected_m, 1),
                "from": _iso(ctx.start_s),
                "to": _iso(ctx.end_s),
            },
            geometry=_collection(
                _point_feature(
                    float(np.median(ctx.track.lat[mask])),
                    float(np.median(ctx.track.lon[mask])),
                    "vehicle",
                )
            ),
            at_stake_km=km,
            at_stake_kop=kop,
        )
    ]


def poor_gps_coverage(ctx: Context, th: AuditThresholds, rules: Rules) -> list[Outcome]:
    """The share of the trip (setting off to completion) without fixes: gaps longer than
    ``max_gps_gap_s`` are uncovered time; coverage below ``gps_coverage_min`` is a finding."""
    f = ctx.facts
    rid = RuleId.POOR_GPS_COVERAGE
    if f.status not in ATTENDED:
        return []
    if ctx.start_s is None or ctx.end_s is None or ctx.end_s <= ctx.start_s:
        if len(ctx.track) == 0:
            return [
                Finding(
                    trip_id=f.trip_id,
                    rule=rid,
                    severity=Severity.CRITICAL,
                    message="Нет ни одной GPS-отметки за поездку",
                    evidence={"coverage": 0.0, "fixes": 0, "gaps": []},
                )
            ]
        return [
            Note(
                f.trip_id,
                "no_trip_window",
                "Неизвестны начало и конец поездки: покрытие не проверено",
                rid,
            )
        ]
    t = ctx.track.t_s[ctx.leg(ctx.start_s, ctx.end_s)]
    total = ctx.end_s - ctx.start_s
    edges, gaps, big = _gaps(t, ctx.start_s, ctx.end_s, th.max_gps_gap_s)
    uncovered = float(gaps[big].sum())
    coverage = max(0.0, 1.0 - uncovered / total)
    if coverage >= th.gps_coverage_min:
        return []
    gap_list = [
        {
            "from": _iso(float(edges[i])),
            "to": _iso(float(edges[i + 1])),
            "duration_s": round(float(gaps[i]), 1),
        }
        for i in big.tolist()
    ]
    return [
        Finding(
            trip_id=f.trip_id,
            rule=rid,
            severity=Severity.CRITICAL if t.size == 0 else Severity.WARNING,
            message=(
                f"GPS покрывает {coverage:.0%} поездки"
                f" (требуется не менее {th.gps_coverage_min:.0%})"
            ),
            evidence={
                "coverage": round(coverage, 4),
                "min_coverage": th.gps_coverage_min,
                "fixes": int(t.size),
                "uncovered_s": round(uncovered, 1),
                "trip_s": round(total, 1),
                "gaps": gap_list,
            },
            geometry=_collection(_track_feature(ctx, ctx.leg(ctx.start_s, ctx.end_s), "actual")),
        )
    ]


def unsuitable_vehicle(ctx: Context, th: AuditThresholds, rules: Rules) -> list[Outcome]:
    """The passenger's needs against the vehicle that drove: a wheelchair needs a wheelchair
    place, the passenger and companions need seats."""
    f = ctx.facts
    rid = RuleId.UNSUITABLE_VEHICLE
    if f.status not in SERVED:
        return []
    if f.vehicle_type is None:
        return [
            Note(f.trip_id, "unknown_vehicle", "Неизвестно, какая машина выполнила поездку", rid)
        ]
    try:
        tariff = rules.tariff(f.vehicle_type)
    except KeyError:
        return [
            Note(
                f.trip_id, "unknown_vehicle_type", f"Неизвестный тип машины «{f.vehicle_type}»", rid
            )
        ]
    reasons = []
    if f.needs_wheelchair and tariff.wheelchair_places < 1:
        reasons.append("no_wheelchair_place")
    if 1 + f.companions > tariff.seats:
        reasons.append("not_enough_seats")
    if not reasons:
        return []
    stake = 0
    booked = f.booked_vehicle_type
    if booked and booked != f.vehicle_type and f.plan is not None:
        try:
            paid = quote(
                rules, category=f.category, vehicle_type=booked, distance_m=f.plan.distance_m
            )
            real = quote(
                rules,
                category=f.category,
                vehicle_type=f.vehicle_type,
                distance_m=f.plan.distance_m,
            )
            stake = max(0, paid.fare_kop - real.fare_kop)
        except Invalid:
            stake = 0
    return [
        Finding(
            trip_id=f.trip_id,
            rule=rid,
            severity=Severity.CRITICAL,
            message=f"Машина «{tariff.name}» не подходит пассажиру: "
            + ", ".join(
                {
                    "no_wheelchair_place": "нет места для коляски",
                    "not_enough_seats": "не хватает мест",
                }[r]
                for r in reasons
            ),
            evidence={
                "vehicle_type": f.vehicle_type,
                "booked_vehicle_type": booked,
                "needs_wheelchair": f.needs_wheelchair,
                "companions": f.companions,
                "wheelchair_places": tariff.wheelchair_places,
                "seats": tariff.seats,
                "reasons": reasons,
            },
            at_stake_kop=stake,
        )
    ]


#: Every audit rule, in the order they run (rule id, function).
RULES: tuple[tuple[RuleId, RuleFn], ...] = (
    (RuleId.ROUTE_DEVIATION, route_deviation),
    (RuleId.LATE_PICKUP, late_pickup),
    (RuleId.FALSE_NO_SHOW, false_no_show),
    (RuleId.OVER_QUOTA, over_quota),
    (RuleId.NON_SOCIAL_DESTINATION, non_social_destination),
    (RuleId.IMPROPER_COPAYMENT, improper_copayment),
    (RuleId.PHANTOM_TRIP, phantom_trip),
    (RuleId.POOR_GPS_COVERAGE, poor_gps_coverage),
    (RuleId.UNSUITABLE_VEHICLE, unsuitable_vehicle),
)


def actual_endpoints(ctx: Context) -> tuple[Point, Point] | None:
    """Where the passenger really boarded and left (first and last fix of the passenger leg), for
    the shell to route the fastest path between them (``TripFacts.fastest_m``)."""
    leg = np.flatnonzero(ctx.leg(ctx.board_s, ctx.end_s))
    if leg.size < 2:
        return None
    a, b = int(leg[0]), int(leg[-1])
    tr = ctx.track
    return Point(float(tr.lat[a]), float(tr.lon[a])), Point(float(tr.lat[b]), float(tr.lon[b]))


def audit_trip(
    facts: TripFacts,
    *,
    thresholds: AuditThresholds,
    rules: Rules,
    now: datetime,
    only: Sequence[RuleId] | None = None,
    context: Context | None = None,
    notes: Sequence[Note] = (),
) -> TripAudit:
    """Run every rule of :data:`RULES` (or those in ``only``) on one trip.

    A rule that raises on input nobody foresaw is turned into a note naming it (the run goes
    on; the note is in the run log), never swallowed silently.
    """
    if context is None:
        context, prep_notes = prepare(
            facts, thresholds, now=now, max_speed_kmh=rules.telemetry.max_speed_kmh
        )
        notes = [*notes, *prep_notes]
    findings: list[Finding] = []
    out_notes: list[Note] = list(notes)
    for rid, fn in RULES:
        if only is not None and rid not in only:
            continue
        try:
            results = fn(context, thresholds, rules)
        except Exception as exc:  # noqa: BLE001 - reported as a note, the run goes on
            out_notes.append(
                Note(
                    facts.trip_id, "rule_error", f"Ошибка правила: {type(exc).__name__}: {exc}", rid
                )
            )
            continue
        for r in results:
            (findings if isinstance(r, Finding) else out_notes).append(r)  # type: ignore[arg-type]
    return TripAudit(facts.trip_id, tuple(findings), tuple(out_notes))
