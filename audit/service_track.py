"""A trip's track as the audit sees it, for the controller's map (read-only shell).

The audit run keeps only the findings (their evidence and GeoJSON); the matched path lives in
memory while a trip is audited. The finding page asks for it again here: the same loading
(:func:`audit.store.load_trip`), the same cleaning and moments (:func:`audit.rules.prepare`) and
the same matcher on the same passenger leg as :func:`audit.service.enrich`, so the matched line
on the map is the one whose length the evidence quotes. Matching one trip costs milliseconds
(``docs/routing.md``: ~150,000 fixes/s on one core), cheaper than storing every path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from audit import store
from audit.rules import prepare
from audit.service import Matcher
from config.rules import Rules
from dispatch.errors import NotFound
from dispatch.services import require_any_role

log = logging.getLogger("audit.track")
REVIEWER_ROLES = ("controller", "supervisor", "admin")


@dataclass(frozen=True)
class MatchedPart:
    """One matched stretch: ``part`` is ``"approach"`` (setting off → boarding, empty),
    ``"passenger"`` (boarding → completion: what the route rule judged) or ``"trip"`` (no
    boarding known). ``lat``/``lon`` WGS 84 degrees, NaN between continuous pieces."""

    part: str
    lat: np.ndarray
    lon: np.ndarray
    length_m: float
    fixes: int  # input fixes of the stretch
    matched_fixes: int  # of which matched to a road


@dataclass(frozen=True)
class TripTrack:
    """The trip's cleaned fixes from setting off to completion (epoch seconds, WGS 84 degrees
    and UTM metres in zone ``epsg``), its moments, the matched parts and what went wrong."""

    t_s: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    x_m: np.ndarray
    y_m: np.ndarray
    epsg: int
    start_s: float | None
    board_s: float | None
    end_s: float | None
    matched: tuple[MatchedPart, ...]
    notes: tuple[str, ...]


def trip_track(
    conn: psycopg.Connection,
    *,
    user: Any,
    trip_id: int,
    rules: Rules,
    graph: Any,
    matcher: Matcher | None,
    now: datetime,
) -> TripTrack:
    """The track of ``trip_id`` raw and matched (a carrier's staff: only their carrier's)."""
    require_any_role(user, REVIEWER_ROLES, "Трек поездки доступен контролёрам")
    loaded = store.load_trip(
        conn,
        trip_id,
        objects=(),  # the track needs no registry
        no_show_window=timedelta(minutes=rules.audit.no_show_window_min),
    )
    own = getattr(user, "carrier_id", None)
    if loaded is None or (own is not None and loaded.facts.carrier_id != own):
        raise NotFound("Поездка не найдена", code="trip_not_found")
    ctx, _ = prepare(
        loaded.facts, rules.audit, now=now, max_speed_kmh=rules.telemetry.max_speed_kmh
    )
    span = ctx.leg(ctx.start_s, ctx.end_s)
    tr = ctx.track
    notes: list[str] = []
    parts: list[MatchedPart] = []
    if graph is None or matcher is None:
        notes.append("Карта дорог не загружена: сопоставленный трек не построен")
    else:
        # the passenger leg exactly as audit.service.enrich matches it; the approach apart
        legs = [("trip", span)]
        if ctx.board_s is not None:
            legs = [
                ("approach", ctx.leg(ctx.start_s, ctx.board_s)),
                ("passenger", ctx.leg(ctx.board_s, ctx.end_s)),
            ]
        for part, mask in legs:
            if int(mask.sum()) < 2:
                continue
            try:
                m = matcher(graph, tr.lat[mask], tr.lon[mask], tr.t_s[mask])
            except Exception as exc:  # noqa: BLE001 - shown on the page; the raw track still is
                log.warning("matching trip %s failed: %s", trip_id, type(exc).__name__)
                notes.append(f"Сопоставление с дорогами не удалось: {type(exc).__name__}")
                continue
            parts.append(
                MatchedPart(
                    part,
                    np.asarray(m.lat, float),
                    np.asarray(m.lon, float),
                    float(m.length_m),
                    int(mask.sum()),
                    int(np.count_nonzero(np.isfinite(m.fix_lat))),
                )
            )
    return TripTrack(
        t_s=tr.t_s[span],
        lat=tr.lat[span],
        lon=tr.lon[span],
        x_m=ctx.x[span],
        y_m=ctx.y[span],
        epsg=ctx.epsg,
        start_s=ctx.start_s,
        board_s=ctx.board_s,
        end_s=ctx.end_s,
        matched=tuple(parts),
        notes=tuple(notes),
    )
