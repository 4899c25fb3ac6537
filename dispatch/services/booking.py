"""Booking: preview (quote) and book a trip, or a recurring series of trips.

The shell gathers the passenger, the destination, the passenger's other trips and a planned route
from routing; :func:`dispatch.eligibility.check_booking`, :func:`dispatch.quota.quota_status` and
:func:`dispatch.tariff.quote` decide; the trip and its ``booked`` event are written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import psycopg

from config.rules import Rules
from dispatch import eligibility
from dispatch.errors import Invalid, NotFound
from dispatch.lifecycle import TripStatus
from dispatch.models import (
    Passenger,
    PassengerQuota,
    RecurringRequest,
    RecurringResult,
    RefusedDate,
    SocialObject,
    Trip,
    TripQuote,
    TripRequest,
    User,
)
from dispatch.quota import CountedTrip, QuotaStatus, quota_status
from dispatch.recurrence import expand
from dispatch.services import (
    BookingRefused,
    QuotaExceeded,
    Unavailable,
    require_any_role,
)
from dispatch.store import passengers as pstore
from dispatch.store import registry as rstore
from dispatch.store import trips as tstore
from dispatch.tariff import FareQuote, quote

OVERRIDE_ROLES = ("supervisor", "admin")


class GraphLike(Protocol):
    """What booking needs from :class:`routing.RoadGraph`: snap the two points once (one
    vectorised call), then route between the snapped nodes."""

    def snap(self, lat: Any, lon: Any, *, max_dist_m: float = ...) -> Any: ...

    def route_nodes(self, orig_index: int, dest_index: int) -> Any: ...


@dataclass(frozen=True)
class _Prepared:
    passenger: Passenger
    dest: SocialObject
    category: str
    vehicle_type: str
    pickup: tuple[str, float, float]
    route: Any
    fare: FareQuote
    quota: QuotaStatus


def _default_vehicle_type(p: Passenger, rules: Rules) -> str:
    if p.wheelchair:
        for t in rules.tariffs:
            if t.wheelchair_places >= 1:
                return t.vehicle_type
    return rules.tariffs[0].vehicle_type


def _plan_route(
    graph: GraphLike | None, pickup: tuple[float, float], dest: tuple[float, float], rules: Rules
) -> Any:
    """Planned route from pickup to destination, or refusals naming the address out of the area.

    Both points are snapped in one call (its refusal names every point out of the area), and the
    route runs between the snapped nodes: each point is snapped once.
    """
    from routing import NoRoute, OutOfServiceArea, RoutingError

    if graph is None:
        raise Unavailable(
            "Дорожный граф не загружен: планирование маршрутов недоступно", code="no_graph"
        )
    try:
        snapped = graph.snap(
            [pickup[0], dest[0]], [pickup[1], dest[1]], max_dist_m=rules.booking.service_area_snap_m
        )
    except OutOfServiceArea as exc:
        fields = [("pickup", "подачи"), ("destination", "назначения")]
        raise BookingRefused(
            [
                eligibility.Refusal(
                    "out_of_service_area",
                    fields[i][0],
                    f"Адрес {fields[i][1]} вне зоны обслуживания",
                )
                for i in sorted(set(exc.indices))
            ]
        ) from None
    try:
        return graph.route_nodes(int(snapped.index[0]), int(snapped.index[1]))
    except NoRoute as exc:
        raise BookingRefused(
            [eligibility.Refusal("no_route", "destination", exc.message)]
        ) from None
    except RoutingError as exc:
        raise BookingRefused(
            [eligibility.Refusal("routing_error", "destination", exc.message)]
        ) from None


def _year_bounds_utc(ts: datetime, tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    y = ts.astimezone(zone).year
    return (
        datetime(y, 1, 1, tzinfo=zone).astimezone(UTC),
        datetime(y + 1, 1, 1, tzinfo=zone).astimezone(UTC),
    )


def _quota(
    conn: psycopg.Connection,
    *,
    passenger_id: int,
    category: str,
    object_type: str,
    pickup_at: datetime,
    rules: Rules,
) -> QuotaStatus:
    start, end = _year_bounds_utc(pickup_at, rules.timezone)
    rows = tstore.counted_trips(conn, passenger_id=passenger_id, start=start, end=end)
    return quota_status(
        category=rules.category(category),
        object_type=rules.object_type(object_type),
        trips=[CountedTrip(r["pickup_at"], r["status"], r["object_type"]) for r in rows],
        pickup_at=pickup_at,
        tz=rules.timezone,
    )


def _load(
    conn: psycopg.Connection, *, req: TripRequest, lock: bool = False
) -> tuple[Passenger, SocialObject]:
    """The request's passenger and destination (404 if either is unknown), read once per
    booking. ``lock``: the passenger row is locked so that bookings of one passenger are
    serialised (two operators cannot both take the last trip of the quota)."""
    passenger = pstore.get_passenger(conn, passenger_id=req.passenger_id, lock=lock)
    if passenger is None:
        raise NotFound("Пассажир не найден", code="not_found")
    dest = rstore.get(conn, table="social_objects", row_id=req.destination_id)
    if dest is None:
        raise NotFound("Социальный объект не найден", code="not_found")
    return passenger, dest


def _pickup(req: TripRequest, passenger: Passenger) -> tuple[str, float, float]:
    """Pickup address and coordinates: as given, or else the passenger's home."""
    if (req.pickup_lat is None) != (req.pickup_lon is None):
        raise Invalid("Координаты подачи указываются парой: широта и долгота", code="bad_coords")
    if req.pickup_lat is not None and req.pickup_lon is not None:
        if not req.pickup_address:
            raise Invalid("Укажите адрес подачи", code="pickup_address_required")
        return (req.pickup_address, req.pickup_lat, req.pickup_lon)
    if passenger.home_lat is not None and passenger.home_lon is not None:
        return (
            req.pickup_address or passenger.home_address or "",
            passenger.home_lat,
            passenger.home_lon,
        )
    raise Invalid(
        "У пассажира нет домашнего адреса с координатами: укажите адрес подачи", code="no_pickup"
    )


def _category_on(passenger: Passenger, at: datetime, rules: Rules) -> tuple[str | None, Any]:
    """The passenger's benefit category on the local day of ``at``, and that day."""
    local_day = at.astimezone(ZoneInfo(rules.timezone)).date()
    periods = [
        eligibility.BenefitPeriod(b.category, b.valid_from, b.valid_to) for b in passenger.benefits
    ]
    return eligibility.active_category(periods, local_day, rules=rules), local_day


def _prepare(
    conn: psycopg.Connection,
    *,
    req: TripRequest,
    passenger: Passenger,
    dest: SocialObject,
    pickup_at: datetime,
    rules: Rules,
    graph: GraphLike | None,
    now: datetime,
    route: Any = None,
) -> _Prepared:
    """Every check of one booking of ``passenger`` to ``dest`` at ``pickup_at`` (loaded by the
    caller, once); the route is planned unless given (a series plans it once for every date)."""
    refusals: list[eligibility.Refusal] = []
    if not passenger.active:
        refusals.append(
            eligibility.Refusal("passenger_inactive", "passenger", "Пассажир исключён из реестра")
        )
    pickup = _pickup(req, passenger)
    category, _ = _category_on(passenger, pickup_at, rules)
    vehicle_type = req.vehicle_type or _default_vehicle_type(passenger, rules)
    refusals += eligibility.check_booking(
        eligibility.BookingRequest(
            pickup_at=pickup_at,
            vehicle_type=vehicle_type,
            companions=req.companions,
            destination_type=dest.object_type,
            destination_active=dest.active,
        ),
        needs=eligibility.PassengerNeeds(
            passenger.wheelchair,
            passenger.walker,
            passenger.visually_impaired,
            passenger.needs_companion,
        ),
        category=category,
        rules=rules,
        now=now,
    )
    if route is None:
        try:
            route = _plan_route(graph, (pickup[1], pickup[2]), (dest.lat, dest.lon), rules)
        except BookingRefused as exc:
            refusals += exc.refusals
    if refusals:
        raise BookingRefused(refusals)
    assert category is not None
    fare = quote(rules, category=category, vehicle_type=vehicle_type, distance_m=route.dist_m)
    q = _quota(
        conn,
        passenger_id=passenger.id,
        category=category,
        object_type=dest.object_type,
        pickup_at=pickup_at,
        rules=rules,
    )
    return _Prepared(passenger, dest, category, vehicle_type, pickup, route, fare, q)


def _dropoff(route: Any, pickup_at: datetime) -> datetime:
    eta = getattr(route, "eta", None)
    if callable(eta):
        return eta(pickup_at)
    return pickup_at + timedelta(seconds=float(route.duration_s))


def quote_trip(
    conn: psycopg.Connection,
    *,
    req: TripRequest,
    rules: Rules,
    graph: GraphLike | None,
    actor: User,
    now: datetime,
) -> TripQuote:
    """Quota left, co-payment due, planned route and ETA for ``req`` — nothing is written."""
    passenger, dest = _load(conn, req=req)
    p = _prepare(conn, req=req, passenger=passenger, dest=dest, pickup_at=req.pickup_at,
                 rules=rules, graph=graph, now=now)  # fmt: skip
    pstore.log_access(conn, user_id=actor.id, action="quote", passenger_ids=[p.passenger.id],
                      purpose="booking")  # fmt: skip
    return TripQuote(
        passenger_id=p.passenger.id,
        destination_id=p.dest.id,
        category=p.category,
        vehicle_type=p.vehicle_type,
        pickup_at=req.pickup_at,
        pickup_address=p.pickup[0],
        pickup_lat=p.pickup[1],
        pickup_lon=p.pickup[2],
        quota=p.quota,
        override_required=p.quota.over,
        fare_kop=p.fare.fare_kop,
        copay_share_pct=p.fare.copay_share_pct,
        copay_kop=p.fare.copay_kop,
        distance_km=p.fare.distance_km,
        rules_version=rules.version,
        planned_route=p.route.to_geojson(),
        planned_dist_m=float(p.route.dist_m),
        planned_duration_s=float(p.route.duration_s),
        planned_dropoff_at=_dropoff(p.route, req.pickup_at),
    )


def _check_override(p: _Prepared, req: TripRequest, actor: User) -> None:
    if not p.quota.over:
        return
    if not req.override_reason:
        raise QuotaExceeded(
            "; ".join(p.quota.reasons)
            + ". Превышение лимита возможно только с разрешения старшего смены (укажите причину)",
            quota=p.quota,
        )
    require_any_role(
        actor,
        OVERRIDE_ROLES,
        "Превысить лимит поездок может только старший смены или администратор",
    )


def _insert(
    conn: psycopg.Connection,
    *,
    p: _Prepared,
    req: TripRequest,
    pickup_at: datetime,
    rules: Rules,
    actor: User,
    now: datetime,
    recurrence_id: int | None = None,
) -> Trip:
    over = p.quota.over
    trip = tstore.insert_trip(
        conn,
        values={
            "passenger_id": p.passenger.id,
            "category": p.category,
            "status": TripStatus.BOOKED.value,
            "vehicle_type": p.vehicle_type,
            "companions": req.companions,
            "wheelchair": p.passenger.wheelchair,
            "pickup_at": pickup_at,
            "pickup_address": p.pickup[0],
            "pickup_lat": p.pickup[1],
            "pickup_lon": p.pickup[2],
            "dest_object_id": p.dest.id,
            "dest_lat": p.dest.lat,
            "dest_lon": p.dest.lon,
            "comment": req.comment,
            "planned_route": p.route.to_geojson(),
            "planned_dist_m": float(p.route.dist_m),
            "planned_duration_s": float(p.route.duration_s),
            "planned_dropoff_at": _dropoff(p.route, pickup_at),
            "fare_kop": p.fare.fare_kop,
            "copay_share_pct": p.fare.copay_share_pct,
            "copay_kop": p.fare.copay_kop,
            "rules_version": rules.version,
            "over_quota": over,
            "override_by": actor.id if over else None,
            "override_reason": req.override_reason if over else None,
            "recurrence_id": recurrence_id,
            "created_by": actor.id,
        },
    )
    payload: dict[str, Any] = {"quota_left": p.quota.left}
    if over:
        payload["override_reason"] = req.override_reason
        payload["quota_reasons"] = list(p.quota.reasons)
    tstore.record_event(
        conn,
        trip_id=trip.id,
        event_type="booked",
        to_status=TripStatus.BOOKED,
        occurred_at=now,
        actor_user_id=actor.id,
        payload=payload,
    )
    return trip


def book_trip(
    conn: psycopg.Connection,
    *,
    req: TripRequest,
    rules: Rules,
    graph: GraphLike | None,
    actor: User,
    now: datetime,
) -> Trip:
    """Book one trip: every rule checked, quota counted (override by a supervisor with a reason),
    fare, co-payment and planned route stored, a ``booked`` event written."""
    passenger, dest = _load(conn, req=req, lock=True)
    p = _prepare(conn, req=req, passenger=passenger, dest=dest, pickup_at=req.pickup_at,
                 rules=rules, graph=graph, now=now)  # fmt: skip
    _check_override(p, req, actor)
    trip = _insert(conn, p=p, req=req, pickup_at=req.pickup_at, rules=rules, actor=actor, now=now)
    pstore.log_access(conn, user_id=actor.id, action="book", passenger_ids=[trip.passenger_id],
                      purpose="booking", detail={"trip_id": trip.id})  # fmt: skip
    return trip


def book_recurring(
    conn: psycopg.Connection,
    *,
    req: RecurringRequest,
    rules: Rules,
    graph: GraphLike | None,
    actor: User,
    now: datetime,
) -> RecurringResult:
    """Expand a recurring rule into single trips; book each that passes, report each refused date.

    Every occurrence is checked on its own (time rules, quota counted including the ones booked
    just before it). Each is written in a savepoint, so a refusal never undoes the others.
    """
    times = expand(
        weekdays=req.weekdays,
        local_time=req.local_time,
        start=req.start,
        until=req.until,
        tz=rules.timezone,
    )
    # The passenger and destination are read once (the passenger locked, as for one booking) and
    # the route, the same for every date, planned once (refusals here refuse the whole series).
    passenger, dest = _load(conn, req=req, lock=True)
    _, lat, lon = _pickup(req, passenger)
    route = _plan_route(graph, (lat, lon), (dest.lat, dest.lon), rules)
    rec_id = tstore.insert_recurrence(
        conn,
        passenger_id=req.passenger_id,
        rule={
            "weekdays": sorted(set(req.weekdays)),
            "time": req.local_time.strftime("%H:%M"),
            "start": req.start.isoformat(),
            "until": req.until.isoformat(),
            "destination_id": req.destination_id,
        },
        created_by=actor.id,
    )
    booked: list[Trip] = []
    refused: list[RefusedDate] = []
    for ts in times:
        try:
            with conn.transaction():
                p = _prepare(conn, req=req, passenger=passenger, dest=dest, pickup_at=ts,
                             rules=rules, graph=graph, now=now, route=route)  # fmt: skip
                _check_override(p, req, actor)
                booked.append(
                    _insert(
                        conn,
                        p=p,
                        req=req,
                        pickup_at=ts,
                        rules=rules,
                        actor=actor,
                        now=now,
                        recurrence_id=rec_id,
                    )
                )
        except BookingRefused as exc:
            refused.append(
                RefusedDate(
                    pickup_at=ts,
                    reasons=[r.message for r in exc.refusals],
                    codes=[r.code for r in exc.refusals],
                )
            )
        except (QuotaExceeded, Invalid) as exc:
            refused.append(RefusedDate(pickup_at=ts, reasons=[exc.message], codes=[exc.code]))
    pstore.log_access(conn, user_id=actor.id, action="book_recurring",
                      passenger_ids=[req.passenger_id], purpose="booking",
                      detail={"recurrence_id": rec_id})  # fmt: skip
    return RecurringResult(recurrence_id=rec_id, booked=booked, refused=refused)


def passenger_quota(
    conn: psycopg.Connection,
    *,
    passenger_id: int,
    at: datetime,
    object_type: str | None,
    rules: Rules,
    actor: User,
    purpose: str,
) -> PassengerQuota:
    """Trips used and left in the month and year of ``at`` (region time zone), counting
    ``object_type``'s yearly cap if it has one (default: the category's first allowed type)."""
    passenger = pstore.get_passenger(conn, passenger_id=passenger_id)
    if passenger is None:
        raise NotFound("Пассажир не найден", code="not_found")
    category, local_day = _category_on(passenger, at, rules)
    if category is None:
        raise Invalid(
            f"У пассажира нет действующей льготной категории на {local_day:%d.%m.%Y}",
            code="no_benefit",
        )
    cat = rules.category(category)
    otype = object_type or cat.allowed_object_types[0]
    try:
        rules.object_type(otype)
    except KeyError:
        raise Invalid(f"Неизвестный тип социального объекта «{otype}»", code="bad_type") from None
    q = _quota(conn, passenger_id=passenger_id, category=category, object_type=otype,
               pickup_at=at, rules=rules)  # fmt: skip
    pstore.log_access(conn, user_id=actor.id, action="read_quota", passenger_ids=[passenger_id],
                      purpose=purpose)  # fmt: skip
    return PassengerQuota(passenger_id=passenger_id, category=category, category_name=cat.name,
                          object_type=otype, at=at, quota=q)  # fmt: skip
