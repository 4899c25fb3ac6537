"""The live simulated fleet (shell): vehicles take their assigned trips from the database through
dispatch's services, as a driver app would, or replay a scenario file; drive them (pure
:mod:`simulators.scenarios` / :mod:`simulators.gps`); publish fixes and events — each vehicle
on its own MQTT login (:class:`simulators.publish.VehiclePublishers`) — on a simulated clock
(:class:`simulators.schedule.SimClock`).

Optionally it also plays the operator and the dispatcher (``book_every_s``): books trips for
random passengers through the real booking checks (``dispatch.services.booking.book_trip``, with
the simulated time as *now*) and assigns each to the best proposed vehicle
(``dispatch.services.assignment``), so the demo keeps moving. A share of the driven trips
break a rule on purpose (late pickup, detour, overcharge, long GPS gap).

Bad input never stops the other vehicles: an unknown vehicle id, a vehicle without a trip, a
trip whose address is off the map — one line each (logged once), the rest keep going; a broker
that is down makes the publisher buffer and retry.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import orjson

from config.rules import Rules
from dispatch.lifecycle import TripStatus
from routing.errors import RoutingError
from simulators.gps import GpsModel, observe, sample_times
from simulators.scenarios import Roads, drive_trip, pay
from simulators.schedule import Message, SimClock, messages_of_run, parked_fixes, shift_event
from telemetry.decode import parse_time
from telemetry.encode import encode_fix, event_topic, position_topic
from telemetry.model import EventType, to_epoch_us

log = logging.getLogger("socialtaxi.simulate")

VIOLATIONS = ("late_pickup", "detour", "overcharge", "gps_gap")
#: trip statuses a vehicle drives: assigned ones, and (after a restart) those it was in the
#: middle of — resent events keep their ids, so what ingest already applied is a no-op
RESUMED = (
    TripStatus.ASSIGNED,
    TripStatus.EN_ROUTE,
    TripStatus.AT_PICKUP,
    TripStatus.ON_BOARD,
)


BOT_TRIES = 6  # bookings the bot tries per booking slot before it gives up


class Sink(Protocol):
    """Where the fleet's messages go: :class:`simulators.publish.VehiclePublishers` (each
    vehicle on its own login) or a single :class:`telemetry.publish.Publisher`."""

    def publish(self, topic: str, payload: bytes | str) -> int: ...


class ScenarioFileError(ValueError):
    """A scenario file that cannot be read or is not a scenario."""


@dataclass
class Vehicle:
    mqtt_id: str
    db_id: int | None = None
    node: int = 0
    busy_until_us: int = 0  # simulated time its current trip's last message goes out
    next_parked_us: int = 0
    run_from_us: int = 0  # simulated time its current trip's first message goes out
    wait_node: int = 0  # where it waits (parked, reporting) until then
    trip_id: int | None = None
    said_no_trip: bool = False
    done: set[int] = field(default_factory=set)  # trips taken (or refused) by this run


@dataclass
class Counters:
    fixes: int = 0
    messages: int = 0
    events: int = 0
    trips_started: int = 0
    trips_booked: int = 0
    bookings_refused: int = 0
    violations: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FleetOptions:
    prefix: str
    interval_s: float = 5.0
    seed: int = 7
    violation_share: float = 0.15
    poll_s: float = 60.0  # simulated seconds between looks for new assignments
    book_every_s: float | None = None  # simulated seconds between bot bookings
    actor_login: str = "dispatcher"
    operator_login: str = "operator"


class Fleet:
    """Runs on the calling thread until ``stop`` is set (or ``duration_s`` real seconds)."""

    def __init__(
        self,
        *,
        graph: Any,
        rules: Rules,
        publisher: Sink,
        clock: SimClock,
        opts: FleetOptions,
        db_url: str | None = None,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.graph, self.rules, self.pub, self.clock, self.opts = (
            graph,
            rules,
            publisher,
            clock,
            opts,
        )
        self.db_url = db_url
        self.echo = echo
        self.roads = Roads(graph)
        self._routing: Any = None  # the bot books on the active speed profile, as the web does
        self.rng = np.random.default_rng(opts.seed)
        self.vehicles: dict[str, Vehicle] = {}
        self.queue: list[Message] = []
        self.counters = Counters()
        self._seq = 0
        self._said: set[str] = set()

    # ---- helpers -------------------------------------------------------------------------
    def _once(self, key: str, line: str) -> None:
        if key not in self._said:
            self._said.add(key)
            self.echo(line)

    def now(self) -> datetime:
        return self.clock.now(datetime.now(UTC))

    def _push(self, msgs: Sequence[Message]) -> None:
        for m in msgs:
            self._seq += 1
            heapq.heappush(self.queue, Message(m.at_us, self._seq, m.topic, m.payload, m.fixes))

    def _publish_due(self, now_us: int) -> None:
        while self.queue and self.queue[0].at_us <= now_us:
            m = heapq.heappop(self.queue)
            self.pub.publish(m.topic, m.payload)
            self.counters.messages += 1
            self.counters.fixes += m.fixes
            self.counters.events += int(m.fixes == 0)

    def _shift(self, kind: EventType, v: Vehicle, at: datetime) -> None:
        la, lo = float(self.graph.node_lat[v.node]), float(self.graph.node_lon[v.node])
        eid = f"{v.mqtt_id}-{kind.value}-{to_epoch_us(at) // 1000}"
        payload = shift_event(kind, at, event_id=eid, lat=la, lon=lo)
        self._push([Message(to_epoch_us(at), 0, event_topic(self.opts.prefix, v.mqtt_id), payload)])

    # ---- vehicles from the database ------------------------------------------------------
    def load_vehicles(
        self, conn: Any, mqtt_ids: Sequence[str] | None, *, limit: int | None = None
    ) -> None:
        """The active vehicles with an MQTT id (all, the first ``limit``, or those named);
        an unknown id: one line, the others are loaded."""
        rows = conn.execute(
            "SELECT id, mqtt_id FROM vehicles WHERE active AND mqtt_id IS NOT NULL ORDER BY mqtt_id"
        ).fetchall()
        known = {m: i for i, m in rows}
        wanted = list(mqtt_ids) if mqtt_ids else sorted(known)[:limit]
        for m in wanted:
            if m not in known:
                self.echo(f"Ошибка: неизвестная машина «{m}» (нет активной машины с таким MQTT id)")
                continue
            self.vehicles[m] = Vehicle(
                m, known[m], node=int(self.rng.integers(self.graph.node_count))
            )

    def _users(self, conn: Any) -> dict[str, Any]:
        from dispatch.store import users as ustore

        out = {}
        for login in (self.opts.actor_login, self.opts.operator_login):
            found = ustore.get_user_with_hash(conn, login=login)
            if found is not None:
                out[login] = found[0]
        return out

    def _take_trips(self, conn: Any, users: dict[str, Any], now: datetime) -> None:
        from dispatch.services import trips as tsvc

        actor = users.get(self.opts.actor_login)
        if actor is None:
            self._once(
                "actor", f"Ошибка: нет пользователя «{self.opts.actor_login}» для чтения поездок"
            )
            return
        now_us = to_epoch_us(now)
        for v in self.vehicles.values():
            if v.busy_until_us > now_us or v.db_id is None:
                continue
            trips = [
                t
                for status in RESUMED
                for t in tsvc.read_trips(
                    conn, actor=actor, purpose="driver_app", vehicle_id=v.db_id, status=status
                )
            ]
            conn.commit()
            trips = [t for t in trips if t.id not in v.done]
            if not trips:
                if not v.said_no_trip:
                    self.echo(f"Машина {v.mqtt_id}: нет назначенной поездки — ждёт на месте")
                    v.said_no_trip = True
                continue
            v.said_no_trip = False
            trip = min(trips, key=lambda t: t.pickup_at)
            self._start_trip(v, trip, now)

    def _start_trip(self, v: Vehicle, trip: Any, now: datetime) -> None:
        rng = self.rng
        try:
            snapped = self.graph.snap(
                [trip.pickup_lat, trip.dest_lat], [trip.pickup_lon, trip.dest_lon]
            )
        except RoutingError as exc:  # off the map: one line, the rest go on
            self._once(f"trip{trip.id}", f"Ошибка: поездка {trip.id} вне карты: {exc}")
            v.done.add(trip.id)
            return
        pickup, dest = int(snapped.index[0]), int(snapped.index[1])
        kind = "honest"
        if rng.random() < self.opts.violation_share:
            kind = VIOLATIONS[int(rng.integers(len(VIOLATIONS)))]
        offset = float(rng.uniform(-300, 180))
        legs = [dest]
        if kind == "late_pickup":
            offset = float(rng.uniform(20, 40)) * 60
        elif kind == "detour":
            cands = rng.choice(
                self.graph.node_count, size=min(200, self.graph.node_count), replace=False
            )
            d = (
                self.roads.dist_m(np.array([pickup]), cands)[0]
                + self.roads.dist_m(cands, np.array([dest]))[:, 0]
            )
            planned = float(trip.planned_dist_m or 0.0)
            ok = cands[np.isfinite(d) & (d >= max(1.4 * planned, planned + 1800))]
            if ok.size:
                legs = [int(ok[0]), dest]
            else:
                kind = "honest"
        try:
            run = drive_trip(
                self.roads,
                start=v.node,
                pickup=pickup,
                legs=legs,
                pickup_time=trip.pickup_at,
                rng=rng,
                arrive_offset_s=offset,
                boarding_s=float(rng.uniform(60, 180)),
            )
        except RoutingError as exc:  # no route
            self._once(f"trip{trip.id}", f"Ошибка: поездку {trip.id} не проехать: {exc}")
            v.done.add(trip.id)
            return
        if run.t0 < now:  # set off now at the latest: late if the trip was assigned late
            run.t0 = now
        due = int(trip.copay_kop or 0)
        if kind == "overcharge":
            pay(run, due + int(rng.integers(5, 30)) * 1000, rng)
        elif due > 0:
            pay(run, due, rng)
        model = GpsModel(sigma_m=float(rng.uniform(3, 8)), tau_s=float(rng.uniform(20, 60)))
        end = max(e[0] for e in run.events)
        t = sample_times(end, self.opts.interval_s, rng)
        dropouts: list[tuple[float, float]] = []
        offline: list[tuple[float, float]] = []
        if kind == "gps_gap":
            gap = min(0.4 * end + self.rules.audit.max_gps_gap_s, 0.9 * end)
            a0 = float(rng.uniform(0.05 * end, 0.95 * end - gap))
            dropouts.append((a0, a0 + gap))
        elif rng.random() < 0.15 and end > 300:  # no coverage for a while: one batch upload
            a0 = float(rng.uniform(0.2, 0.6)) * end
            offline.append((a0, a0 + float(rng.uniform(60, 180))))
        run.obs = observe(run.traj.sample(t), t, model, rng, dropouts=dropouts, offline=offline)
        msgs = messages_of_run(
            run,
            trip_id=trip.id,
            mqtt_id=v.mqtt_id,
            prefix=self.opts.prefix,
            proj=self.roads.proj,
            event_prefix=f"{v.mqtt_id}-t{trip.id}",
        )
        self._push(msgs)
        v.busy_until_us = max(m.at_us for m in msgs) + 1_000_000
        # until it sets off (a trip taken hours ahead) it stays where it is, reporting as parked
        v.run_from_us = min(m.at_us for m in msgs)
        v.wait_node = v.node
        v.trip_id = trip.id
        v.done.add(trip.id)
        v.node = legs[-1]
        self.counters.trips_started += 1
        if kind != "honest":
            self.counters.violations[kind] = self.counters.violations.get(kind, 0) + 1
        log.info("vehicle %s takes trip %s (%s)", v.mqtt_id, trip.id, kind)

    # ---- the operator and dispatcher bot -------------------------------------------------
    def _book_one(self, conn: Any, users: dict[str, Any], now: datetime) -> None:
        from dispatch.errors import DispatchError
        from dispatch.models import TripRequest
        from dispatch.services import assignment, booking

        operator, dispatcher = users.get(self.opts.operator_login), users.get(self.opts.actor_login)
        if operator is None or dispatcher is None:
            self._once(
                "bot", "Ошибка: нет пользователей оператора/диспетчера: бронирование выключено"
            )
            return
        rng = self.rng
        pax = conn.execute("SELECT id FROM passengers WHERE active ORDER BY id").fetchall()
        objs = conn.execute("SELECT id FROM social_objects WHERE active ORDER BY id").fetchall()
        if not pax or not objs:
            self._once(
                "bot-empty", "Ошибка: нет пассажиров или социальных объектов для бронирования"
            )
            return
        lead = self.rules.booking.min_lead_minutes + int(rng.integers(1, 12)) * 5
        pickup = (now + timedelta(minutes=lead)).replace(second=0, microsecond=0)
        if self._routing is None:
            from routing.profile_store import ActiveGraphs

            self._routing = ActiveGraphs(self.graph, timezone=self.rules.timezone)
        # An operator who meets a refusal corrects the booking: a minor gets a companion, a
        # destination the category may not travel to is replaced (a few tries, then give up).
        req: TripRequest | None = None
        for _ in range(BOT_TRIES):
            if req is None:
                req = TripRequest(
                    passenger_id=int(pax[int(rng.integers(len(pax)))][0]),
                    destination_id=int(objs[int(rng.integers(len(objs)))][0]),
                    pickup_at=pickup,
                    companions=0,
                )
            try:
                graph = self._routing.current(conn)
                trip = booking.book_trip(
                    conn, req=req, rules=self.rules, graph=graph, actor=operator, now=now
                )
                cands = assignment.propose_vehicles(
                    conn, trip_id=trip.id, rules=self.rules, graph=graph, now=now
                )
                ours = {v.db_id for v in self.vehicles.values()}
                cand = next((c for c in cands if c.vehicle_id in ours), None)
                if cand is not None:
                    assignment.assign_vehicle(
                        conn,
                        trip_id=trip.id,
                        vehicle_id=cand.vehicle_id,
                        driver_id=None,
                        force=False,
                        rules=self.rules,
                        graph=graph,
                        actor=dispatcher,
                        now=now,
                    )
                conn.commit()
                self.counters.trips_booked += 1
                return
            except DispatchError as exc:
                conn.rollback()
                self.counters.bookings_refused += 1
                # the refusals' codes only: their messages may name the passenger
                codes = [r.code for r in getattr(exc, "refusals", ())]
                log.info("booking refused: %s", ",".join(codes) or getattr(exc, "code", "?"))
                if codes == ["companion_required_minor"] and req.companions == 0:
                    req = req.model_copy(
                        update={"companions": 1, "companion_name": "Сопровождающий (демо)"}
                    )
                elif codes == ["destination_not_allowed"]:
                    dest = int(objs[int(rng.integers(len(objs)))][0])
                    req = req.model_copy(update={"destination_id": dest})
                else:
                    req = None  # another passenger

    # ---- scenario replay ----------------------------------------------------------------
    def load_scenario(self, path: Path, start: datetime) -> int:
        """Queue a scenario file's fixes and events, shifted so its first moment is ``start``;
        returns the number of trips."""
        try:
            doc = orjson.loads(path.read_bytes())
        except OSError as exc:
            raise ScenarioFileError(f"сценарий не прочитать: {path}: {exc.strerror}") from None
        except orjson.JSONDecodeError as exc:
            raise ScenarioFileError(f"сценарий {path.name} — не JSON: {exc}") from None
        if not isinstance(doc, dict) or not str(doc.get("schema", "")).startswith(
            "socialtaxi.scenario/"
        ):
            raise ScenarioFileError(
                f"{path.name} — не файл сценария (нет schema socialtaxi.scenario/…)"
            )
        trips = doc.get("trips") or []
        try:
            first = min(
                parse_time(x["ts"])
                for t in trips
                for x in [*t.get("fixes", []), *t.get("events", [])]
            )
        except Exception as exc:  # noqa: BLE001 (a missing or unparsable ts, of any kind)
            raise ScenarioFileError(f"сценарий {path.name}: неверное время: {exc}") from None
        shift = start - first
        for t in trips:
            mqtt_id = str(t.get("vehicle_id"))
            self.vehicles.setdefault(mqtt_id, Vehicle(mqtt_id))
            msgs = []
            for f in t.get("fixes", []):
                at = parse_time(f["ts"]) + shift
                msgs.append(
                    Message(
                        to_epoch_us(at),
                        1,
                        position_topic(self.opts.prefix, mqtt_id),
                        orjson.dumps({**f, "ts": fix_object_ts(at)}),
                        1,
                    )
                )
            for e in t.get("events", []):
                at = parse_time(e["ts"]) + shift
                msgs.append(
                    Message(
                        to_epoch_us(at),
                        0,
                        event_topic(self.opts.prefix, mqtt_id),
                        orjson.dumps({**e, "ts": fix_object_ts(at)}),
                    )
                )
            self._push(sorted(msgs))
        return len(trips)

    # ---- the loop -----------------------------------------------------------------------
    def run(
        self, stop: threading.Event, *, duration_s: float = 0.0, shifts: bool = True
    ) -> Counters:
        conn = None
        users: dict[str, Any] = {}
        if self.db_url:
            conn = self._connect()
            users = self._users(conn)
        started = time.monotonic()
        now = self.now()
        if shifts:
            for v in self.vehicles.values():
                self._shift(EventType.SHIFT_START, v, now)
        next_poll = next_book = now
        next_poll_real = 0.0
        try:
            while not stop.is_set():
                if duration_s and time.monotonic() - started >= duration_s:
                    break
                now = self.now()
                now_us = to_epoch_us(now)
                real = time.monotonic()
                try:
                    if conn is None and self.db_url:
                        conn = self._connect()
                        users = self._users(conn)
                        self._said.discard("db")  # a later outage is reported again
                    if conn is not None and now >= next_book and self.opts.book_every_s:
                        self._book_one(conn, users, now)
                        next_book = now + timedelta(seconds=self.opts.book_every_s)
                    if conn is not None and now >= next_poll and real >= next_poll_real:
                        self._take_trips(conn, users, now)
                        next_poll = now + timedelta(seconds=self.opts.poll_s)
                        # at most once a real second; 5 times while an accelerated clock
                        # catches up (vehicles look for their next trip within minutes of
                        # simulated time, as they do in real time)
                        behind = now < datetime.now(UTC) - timedelta(minutes=1)
                        next_poll_real = real + (0.2 if behind else 1.0)
                except Exception as exc:  # noqa: BLE001 (database gone: say so once, drive on)
                    if not _is_db_error(exc):
                        raise
                    self._once(
                        "db",
                        f"Ошибка: база данных недоступна ({type(exc).__name__}):"
                        " машины продолжают начатые поездки, новые — после восстановления",
                    )
                    if conn is not None:
                        conn.close()
                    conn = None
                self._parked(now_us)
                self._publish_due(now_us)
                if conn is None and not self.queue:
                    break  # a replayed scenario is done
                stop.wait(0.05)
        finally:
            now = self.now()
            if shifts:
                for v in self.vehicles.values():
                    self._shift(EventType.SHIFT_END, v, now)
                self._publish_due(to_epoch_us(now) + 1)
            if conn is not None:
                conn.close()
        return self.counters

    def _connect(self) -> Any:
        from db import connect

        assert self.db_url
        return connect(self.db_url)

    def _parked(self, now_us: int) -> None:
        """A standing vehicle (no trip under way) reports where it is every interval."""
        if not self.db_url:
            return
        step = int(self.opts.interval_s * 1e6)
        for v in self.vehicles.values():
            driving = v.run_from_us <= now_us < v.busy_until_us
            if driving or v.next_parked_us > now_us:
                continue
            node = v.wait_node if now_us < v.run_from_us else v.node
            at = datetime.fromtimestamp(now_us / 1e6, UTC)
            x, y = float(self.roads.nx[node]), float(self.roads.ny[node])
            fixes = parked_fixes(
                x,
                y,
                start=at - timedelta(seconds=self.opts.interval_s),
                end=at,
                interval_s=self.opts.interval_s,
                sigma_m=4.0,
                rng=self.rng,
                proj=self.roads.proj,
            )
            for f in fixes:
                self._push(
                    [
                        Message(
                            f.ts_us,
                            1,
                            position_topic(self.opts.prefix, v.mqtt_id),
                            encode_fix(f),
                            1,
                        )
                    ]
                )
            v.next_parked_us = now_us + step


def _is_db_error(exc: Exception) -> bool:
    import psycopg

    from db import DatabaseUnavailable

    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError, DatabaseUnavailable))


def fix_object_ts(at: datetime) -> str:
    """ISO UTC text with milliseconds, as the scenario files carry times."""
    from telemetry.encode import format_time

    return str(format_time(at))


__all__ = ["Counters", "Fleet", "FleetOptions", "ScenarioFileError", "Vehicle"]
