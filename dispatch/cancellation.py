"""Cancellations and no-shows, decided honestly: who cancelled and when, whether it counts
against the quota (the rules file's table), and whether a no-show may be recorded.

Pure: the shell passes the trip's times, the vehicle's GPS fixes during the wait and the rules'
parameters; nothing here reads the database or the clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np

__all__ = [
    "INITIATORS",
    "Initiator",
    "Timing",
    "NoShowRefusal",
    "cancel_timing",
    "no_show_refusals",
]

Initiator = Literal["passenger", "carrier", "operator"]
Timing = Literal["early", "late", "at_pickup"]
INITIATORS: tuple[str, ...] = ("passenger", "carrier", "operator")


def cancel_timing(
    *, pickup_at: datetime, at: datetime, vehicle_at_pickup: bool, late_cancel_minutes: float
) -> Timing:
    """When a cancellation happened relative to the booked pickup.

    ``at_pickup``: the vehicle is at the pickup (status ``at_pickup``) or the pickup time has
    passed; ``late``: within ``late_cancel_minutes`` before the pickup; ``early`` otherwise.
    """
    if vehicle_at_pickup or at >= pickup_at:
        return "at_pickup"
    if pickup_at - at <= timedelta(minutes=late_cancel_minutes):
        return "late"
    return "early"


@dataclass(frozen=True)
class NoShowRefusal:
    """A failed no-show check: ``code`` and the Russian ``message`` naming it."""

    code: str
    message: str


def no_show_refusals(
    *,
    pickup_at: datetime,
    now: datetime,
    wait_minutes: float,
    pickup_lat: float,
    pickup_lon: float,
    fix_lats: Sequence[float] | np.ndarray,
    fix_lons: Sequence[float] | np.ndarray,
    radius_m: float,
    tz: str,
) -> list[NoShowRefusal]:
    """Why a no-show cannot be recorded yet (empty: it can).

    Checks, each reported on its own:

    * ``no_show_too_early`` — ``now`` is before the booked pickup plus ``wait_minutes``;
    * ``vehicle_not_at_pickup`` — none of the vehicle's fixes from the booked pickup time to the
      end of the wait (the caller passes those) is within ``radius_m`` of the pickup point
      (great-circle distance, metres; no fixes at all fails too).

    ``tz`` is the region's zone, for the time shown in the message.
    """
    out = []
    wait_end = pickup_at + timedelta(minutes=wait_minutes)
    if now < wait_end:
        out.append(
            NoShowRefusal(
                "no_show_too_early",
                f"Неявку можно отметить не раньше {wait_end.astimezone(ZoneInfo(tz)):%H:%M}: "
                "время подачи плюс "
                f"ожидание {wait_minutes:g} мин",
            )
        )
    lat = np.asarray(fix_lats, dtype=float)
    lon = np.asarray(fix_lons, dtype=float)
    near = False
    if lat.size:
        from osmnx.distance import great_circle  # the project's one great-circle distance

        dist_m = great_circle(
            np.full_like(lat, pickup_lat), np.full_like(lon, pickup_lon), lat, lon
        )
        near = bool((np.asarray(dist_m) <= radius_m).any())
    if not near:
        out.append(
            NoShowRefusal(
                "vehicle_not_at_pickup",
                f"По данным GPS машина не была в пределах {radius_m:g} м от места подачи "
                "во время ожидания" + ("" if lat.size else " (нет отметок GPS за это время)"),
            )
        )
    return out
