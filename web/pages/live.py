"""The dispatcher's live map feed: server-sent events fed by what ingest commits.

One shared background task per app polls ``vehicle_last_position`` (through the same service the
``/fleet/positions`` API uses) and the vehicles' current trips every ``POLL_S``, keeps the last
state of every vehicle, and sends each subscriber only what changed — so a thousand open maps
cost one query per poll, not a thousand. The task starts with the first subscriber and ends
after the last one leaves.

Why polling and not LISTEN/NOTIFY: ingest commits a batch of thousands of fixes at once; a
NOTIFY per row would be a second write path in the hot loop, and a NOTIFY per batch would still
need this read. One indexed read of the (small, one row per vehicle) table per half second is
cheaper than either, and it sees every committer (several ingest processes) without their help.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from sse_starlette import EventSourceResponse

from dispatch.lifecycle import FINAL
from dispatch.models import User
from dispatch.services import assignment as assign_svc
from dispatch.services import registry as reg_svc
from dispatch.services import trips as trip_svc
from web.pages.session import DISPATCH_ROLES, page_roles

log = logging.getLogger("web.pages.live")
router = APIRouter(include_in_schema=False)
POLL_S = 0.5
CARRIERS_S = 30.0
TRIPS_S = 2.0
STALE_S = 300  # a vehicle silent this long is drawn as «нет связи»
LiveUser = Annotated[User, Depends(page_roles(*DISPATCH_ROLES, "controller"))]


@dataclass(frozen=True)
class VehicleState:
    """What a marker shows: position (WGS 84 degrees), fix time (UTC), status, current trip."""

    vehicle_id: int
    plate: str
    carrier_id: int | None
    lat: float
    lon: float
    ts: datetime
    speed_kmh: float | None
    trip_id: int | None
    trip_status: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.vehicle_id,
            "plate": self.plate,
            "lat": self.lat,
            "lon": self.lon,
            "ts": self.ts.isoformat(),
            "speed_kmh": self.speed_kmh,
            "trip": self.trip_id,
            "status": self.trip_status or "free",
        }


def vehicle_states(
    positions: list[Any], carriers: dict[int, int], trips: list[Any]
) -> dict[int, VehicleState]:
    """Join the last positions with each vehicle's current trip: one in progress first, else the
    earliest not final."""
    current: dict[int, Any] = {}
    moving = ("en_route", "arrived", "on_board")
    for t in sorted(trips, key=lambda t: (t.status not in moving, t.pickup_at)):
        if t.vehicle_id is not None and t.status not in FINAL:
            current.setdefault(t.vehicle_id, t)
    out = {}
    for p in positions:
        t = current.get(p.vehicle_id)
        out[p.vehicle_id] = VehicleState(
            p.vehicle_id, p.plate, carriers.get(p.vehicle_id), p.lat, p.lon, p.ts, p.speed_kmh,
            t.id if t else None, str(t.status) if t else None,
        )  # fmt: skip
    return out


def load_positions(conn: Any) -> list[Any]:
    return assign_svc.vehicle_positions(conn)


def load_carriers(conn: Any) -> dict[int, int]:
    """vehicle id → carrier id."""
    vehicles = reg_svc.list_entries(conn, table="vehicles", active=True, limit=100_000, offset=0)
    return {v.id: v.carrier_id for v in vehicles}


def load_trips(conn: Any, *, now: datetime) -> list[Any]:
    """Trips that may be a vehicle's current one: in progress, else its next (two days ahead)."""
    return trip_svc.list_trips(
        conn, start=now - timedelta(hours=24), end=now + timedelta(hours=48), limit=100_000
    )


def load_states(conn: Any, *, now: datetime) -> dict[int, VehicleState]:
    """One full read: positions, vehicle → carrier, the trips around now (load, then join)."""
    return vehicle_states(load_positions(conn), load_carriers(conn), load_trips(conn, now=now))


@dataclass(eq=False)  # hashed by identity: one per open map
class Subscriber:
    carrier_id: int | None
    queue: asyncio.Queue[list[VehicleState]] = field(default_factory=lambda: asyncio.Queue(100))


class LiveFeed:
    """The shared poller and its subscribers (one per app, on ``app.state.live_feed``)."""

    def __init__(self, pool: Any, clock: Any, poll_s: float = POLL_S) -> None:
        self.pool = pool
        self.clock = clock
        self.poll_s = poll_s
        # positions are read every poll; the fleet's carriers and the trips change far less
        # often and are re-read every CARRIERS_S / TRIPS_S (a trip's new status shows within it)
        self._carriers: tuple[float, dict[int, int]] = (-1e9, {})
        self._trips: tuple[float, list[Any]] = (-1e9, [])
        self.state: dict[int, VehicleState] = {}
        self.subscribers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self._loaded = asyncio.Event()

    async def subscribe(self, carrier_id: int | None) -> Subscriber:
        sub = Subscriber(carrier_id)
        self.subscribers.add(sub)
        if self._task is None or self._task.done():
            self._loaded = asyncio.Event()
            self._task = asyncio.create_task(self._run())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._loaded.wait(), timeout=10)
        return sub

    def _poll(self) -> dict[int, VehicleState]:
        t = time.monotonic()
        with self.pool.connection() as conn:
            if t - self._carriers[0] > CARRIERS_S:
                self._carriers = (t, load_carriers(conn))
            if t - self._trips[0] > TRIPS_S:
                self._trips = (t, load_trips(conn, now=self.clock()))
            positions = load_positions(conn)
        return vehicle_states(positions, self._carriers[1], self._trips[1])

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def snapshot(self, carrier_id: int | None) -> list[VehicleState]:
        return [s for s in self.state.values() if carrier_id is None or s.carrier_id == carrier_id]

    async def _run(self) -> None:
        while self.subscribers:
            try:
                fresh = await asyncio.to_thread(self._poll)
            except Exception as exc:  # the database may be away for a moment; keep trying
                log.warning("live feed poll failed: %s", type(exc).__name__)
                await asyncio.sleep(self.poll_s * 4)
                continue
            changed = [s for vid, s in fresh.items() if self.state.get(vid) != s]
            self.state = fresh
            self._loaded.set()
            if changed:
                for sub in list(self.subscribers):
                    mine = [s for s in changed if sub.carrier_id in (None, s.carrier_id)]
                    if mine:
                        if sub.queue.full():  # a stalled client gets the newest, not a backlog
                            with contextlib.suppress(asyncio.QueueEmpty):
                                sub.queue.get_nowait()
                        sub.queue.put_nowait(mine)
            await asyncio.sleep(self.poll_s)


def feed_of(request: Request) -> LiveFeed:
    state = request.app.state
    feed = getattr(state, "live_feed", None)
    if feed is None:
        feed = LiveFeed(state.pool, state.clock, getattr(state, "live_poll_s", POLL_S))
        state.live_feed = feed
    return feed


def _event(states: list[VehicleState], kind: str) -> dict[str, str]:
    now = datetime.now(UTC).isoformat()
    body = {"sent": now, "vehicles": [s.as_json() for s in states]}
    return {"event": kind, "data": orjson.dumps(body).decode()}


@router.get("/dispatcher/live")
async def live(request: Request, user: LiveUser) -> EventSourceResponse:
    """``snapshot`` first (every vehicle the user may see), then ``update`` events of changes."""
    feed = feed_of(request)
    carrier = user.carrier_id

    async def stream() -> AsyncIterator[dict[str, str]]:
        sub = await feed.subscribe(carrier)
        try:
            yield _event(feed.snapshot(carrier), "snapshot")
            while True:
                states = await sub.queue.get()
                yield _event(states, "update")
        finally:
            feed.unsubscribe(sub)

    return EventSourceResponse(stream(), ping=15, headers={"Cache-Control": "no-store"})
