"""Booking: preview (quote) and book a trip, or a recurring series of trips.

The shell gathers the passenger, the destination, the passenger's other trips and a planned route
from routing; :func:`dispatch.eligibility.check_booking`, :func:`dispatch.quota.quota_status` and
:func:`dispatch.tariff.quote` decide; the trip and its ``booked`` event are written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import psycopg

from config.rules import Rules
from dispatch import eligibility
from dispatch.errors import DispatchError, Invalid, NotFound
from dispatch.lifecycle import TripStatus
from dispatch.models import (
    Passenger,
    PassengerQuota,
    RecurringRequest,
    RecurringResult,
    RefusedDate,
    ReturnQuote,
    SeriesRefusal,
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
    scope,
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
class _Leg:
    """How a trip runs relative to its social object, and the pair it belongs to."""

    direction: str  # "to_object" | "from_object"
    pair_key: int | None = None


#: The pair key of a pair not written yet (real keys are trip ids, positive): the outward leg of a
#: there-and-back booking is counted under it while its return is checked, before anything is
#: written — so the quote and the booking check the return the same way.
_NEW_PAIR = -1


@dataclass(frozen=True)
class _Outward:
    """The outward leg of a pair being booked, as its return is checked against it."""

    counted: CountedTrip
    start: datetime
    end: datetime


@dataclass(frozen=True)
class _Prepared:
    passenger: Passenger
    dest: SocialObject
    category: str
    category_reason: str
    vehicle_type: str
    pickup: tuple[str, float, float]
    route: Any
    fare: FareQuote
    quota: QuotaStatus
    direction: str = "to_object"
    dropoff: tuple[str, float, float] | None = None  # None: the social object
    pair_key: int | None = None


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
    pair_key: int | None = None,
    extra: Sequence[CountedTrip] = (),
) -> QuotaStatus:
    """The quota position for one more trip; ``extra``: legs of this booking not written yet."""
    start, end = _year_bounds_utc(pickup_at, rules.timezone)
    rows = tstore.counted_trips(conn, passenger_id=passenger_id, start=start, end=end)
    trips = [
        CountedTrip(r["pickup_at"], r["status"], r["object_type"], r["category"], r["pair_id"],
                    counts=r["counts_for_quota"])
        for r in rows
    ]  # fmt: skip
    return quota_status(
        category=rules.category(category),
        object_type=rules.object_type(object_type),
        trips=[*trips, *extra],
        pickup_at=pickup_at,
        tz=rules.timezone,
        pair_counts_as=rules.return_trips.pair_counts_as,
        new_pair_key=pair_key,
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


def _pickup(
    conn: psycopg.Connection, req: TripRequest, passenger: Passenger
) -> tuple[str, float, float]:
    """Pickup address and coordinates: given coordinates; an address found in the offline index;
    or the passenger's home when no address (or the home address itself) is given.

    An address that the index cannot place is refused with the closest candidates named — never
    silently replaced by the home coordinates.
    """
    if (req.pickup_lat is None) != (req.pickup_lon is None):
        raise Invalid("Координаты подачи указываются парой: широта и долгота", code="bad_coords")
    if req.pickup_lat is not None and req.pickup_lon is not None:
        if not req.pickup_address:
            raise Invalid("Укажите адрес подачи", code="pickup_address_required")
        return (req.pickup_address, req.pickup_lat, req.pickup_lon)
    home = passenger.home_lat is not None and passenger.home_lon is not None
    if req.pickup_address and req.pickup_address != passenger.home_address:
        return _resolve_address(conn, req.pickup_address)
    if home:
        assert passenger.home_lat is not None and passenger.home_lon is not None
        return (passenger.home_address or "", passenger.home_lat, passenger.home_lon)
    raise Invalid(
        "У пассажира нет домашнего адреса с координатами: укажите адрес подачи", code="no_pickup"
    )


def _resolve_address(conn: psycopg.Connection, text: str) -> tuple[str, float, float]:
    """The point of an address typed without coordinates (the map's address index)."""
    from routing.address_store import MIN_SCORE, search_addresses
    from routing.errors import AddressError

    try:
        hits = search_addresses(conn, query=text, limit=3)
    except AddressError as exc:
        raise BookingRefused(
            [eligibility.Refusal("pickup_address_unknown", "pickup", exc.message)]
        ) from None
    top = hits[0] if hits else None
    wants_house = any(ch.isdigit() for ch in text)
    if top is None or top.score < MIN_SCORE or (wants_house and top.kind != "house"):
        near = "; ".join(f"«{h.label}»" for h in hits[:3])
        hint = f" Похожие адреса: {near}." if near else ""
        raise BookingRefused(
            [
                eligibility.Refusal(
                    "pickup_address_unknown",
                    "pickup",
                    f"Адрес подачи не найден на карте: «{text}». Выберите адрес из поиска "
                    f"или укажите точку на карте.{hint}",
                )
            ]
        )
    return (top.label, top.lat, top.lon)


def find_pickup_address(
    conn: psycopg.Connection, *, text: str, actor: User
) -> tuple[str, float, float]:
    """The label and point (WGS 84) of a pickup address typed without a point — the lookup the
    booking itself makes, so the wizard's pickup step can refuse it at once, naming the closest
    candidates (:class:`BookingRefused`, field ``pickup``)."""
    scope.refuse_carrier_staff(actor, "бронирование поездок")
    return _resolve_address(conn, text)


def _periods(passenger: Passenger) -> list[eligibility.BenefitPeriod]:
    return [
        eligibility.BenefitPeriod(b.category, b.valid_from, b.valid_to) for b in passenger.benefits
    ]


def _category_on(passenger: Passenger, at: datetime, rules: Rules) -> tuple[str | None, Any]:
    """A benefit category of the passenger on the local day of ``at`` (no trip: for the card),
    and that day."""
    local_day = at.astimezone(ZoneInfo(rules.timezone)).date()
    return eligibility.active_category(_periods(passenger), local_day), local_day


def _trip_category(
    passenger: Passenger, at: datetime, dest: SocialObject, distance_km: float, rules: Rules
) -> tuple[str | None, str]:
    """The trip's category (:func:`dispatch.eligibility.choose_category`) and the reason; when no
    valid category allows the destination, one valid category (so the check names the refusal)."""
    local_day = at.astimezone(ZoneInfo(rules.timezone)).date()
    periods = _periods(passenger)
    choice = eligibility.choose_category(
        periods, local_day, destination_type=dest.object_type, distance_km=distance_km, rules=rules
    )
    if choice is not None:
        return choice.category, choice.reason
    return eligibility.active_category(periods, local_day), ""


def _overlaps(
    conn: psycopg.Connection, *, passenger_id: int, start: datetime, end: datetime, rules: Rules
) -> list[eligibility.Refusal]:
    """A refusal per trip of the passenger that overlaps the new one in time."""
    zone = ZoneInfo(rules.timezone)
    out = []
    for r in tstore.overlapping_trips(conn, passenger_id=passenger_id, start=start, end=end):
        t0 = r["pickup_at"].astimezone(zone)
        out.append(
            eligibility.Refusal(
                "overlapping_trip",
                "pickup_at",
                f"У пассажира уже есть поездка №{r['id']} на {t0:%d.%m.%Y %H:%M}, "
                "которая пересекается по времени с этой",
            )
        )
    return out


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
    leg: _Leg | None = None,
    outward: _Outward | None = None,
) -> _Prepared:
    """Every check of one booking of ``passenger`` to ``dest`` at ``pickup_at`` (loaded by the
    caller, once); the route is planned unless given (a series plans it once for every date).
    ``outward``: this is the return of a pair whose outward leg is not written yet — it counts for
    the quota and for the overlap as if it were."""
    leg = leg or _Leg(req.direction)
    refusals: list[eligibility.Refusal] = []
    if not passenger.active:
        refusals.append(
            eligibility.Refusal("passenger_inactive", "passenger", "Пассажир исключён из реестра")
        )
    try:
        pickup = _pickup(conn, req, passenger)
    except BookingRefused as exc:
        refusals += exc.refusals
        pickup = ("", dest.lat, dest.lon)  # nothing to route from; the refusal is reported
    dropoff: tuple[str, float, float] | None = None
    if leg.direction == "from_object":
        # Back from the object: picked up there, dropped at the passenger's end of the trip.
        pickup, dropoff = (dest.address, dest.lat, dest.lon), pickup
    to_lat, to_lon = (dropoff[1], dropoff[2]) if dropoff else (dest.lat, dest.lon)
    category, reason = _trip_category(passenger, pickup_at, dest, 0.0, rules)
    vehicle_type = req.vehicle_type or _default_vehicle_type(passenger, rules)
    local_day = pickup_at.astimezone(ZoneInfo(rules.timezone)).date()
    minor = eligibility.minor_on(
        passenger.birth_date, local_day, adult_age_years=rules.booking.adult_age_years
    )
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
            minor=minor,
        ),
        category=category,
        rules=rules,
        now=now,
    )
    if minor and req.companions > 0 and not req.companion_name:
        refusals.append(
            eligibility.Refusal(
                "companion_name_required",
                "companion_name",
                "Для несовершеннолетнего пассажира укажите ФИО сопровождающего",
            )
        )
    if route is None and not any(r.code == "pickup_address_unknown" for r in refusals):
        from routing.profiled import graph_at  # the active speed profile's hour of the pickup

        try:
            route = _plan_route(
                graph_at(graph, pickup_at), (pickup[1], pickup[2]), (to_lat, to_lon), rules
            )
        except BookingRefused as exc:
            refusals += exc.refusals
    if route is not None:
        end = _dropoff(route, pickup_at)
        refusals += _overlaps(conn, passenger_id=passenger.id, start=pickup_at, end=end,
                              rules=rules)  # fmt: skip
        if outward is not None and outward.start <= end and outward.end >= pickup_at:
            eta = outward.end.astimezone(ZoneInfo(rules.timezone))
            refusals.append(
                eligibility.Refusal(
                    "overlapping_trip",
                    "pickup_at",
                    f"подача раньше, чем поездка туда прибудет (расчётное прибытие {eta:%H:%M})",
                )
            )
    if refusals:
        raise BookingRefused(refusals)
    # The band of the co-payment depends on the distance: choose again with the route's length.
    category, reason = _trip_category(passenger, pickup_at, dest, route.dist_m / 1000, rules)
    assert category is not None
    fare = quote(rules, category=category, vehicle_type=vehicle_type, distance_m=route.dist_m)
    q = _quota(
        conn,
        passenger_id=passenger.id,
        category=category,
        object_type=dest.object_type,
        pickup_at=pickup_at,
        rules=rules,
        pair_key=leg.pair_key,
        extra=(outward.counted,) if outward is not None else (),
    )
    return _Prepared(passenger, dest, category, reason, vehicle_type, pickup, route, fare, q,
                     leg.direction, dropoff, leg.pair_key)  # fmt: skip


def in_region(ts: datetime, rules: Rules) -> datetime:
    """``ts`` in the region's time zone: a naive time is read as the region's local time (a
    wall-clock time that does not exist or repeats on a DST change is taken with ``fold=0``)."""
    zone = ZoneInfo(rules.timezone)
    if ts.tzinfo is None or ts.utcoffset() is None:
        return ts.replace(tzinfo=zone)
    return ts.astimezone(zone)


def _region_request(req: TripRequest, rules: Rules) -> TripRequest:
    if req.pickup_at is None:
        return req
    return req.model_copy(update={"pickup_at": in_region(req.pickup_at, rules)})


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
    """Quota left, co-payment due, planned route and ETA for ``req`` — nothing is written.

    With ``return_pickup_at`` both legs are quoted by the very checks and prices the booking
    applies (:func:`_prepare_legs`): the return's route, ETA and fare, the co-payment band of the
    pair's total distance, and the quota with the pair counted as the rules say.
    """
    scope.refuse_carrier_staff(actor, "бронирование поездок")
    req = _region_request(req, rules)
    passenger, dest = _load(conn, req=req)
    p, r = _prepare_legs(conn, req=req, passenger=passenger, dest=dest, rules=rules, graph=graph,
                         now=now)  # fmt: skip
    legs = [_counted(p, req.pickup_at, pair_key=_NEW_PAIR if r else None)]
    back = None
    if r is not None:
        back_at = in_region(_return_at(req), rules)
        legs.append(_counted(r, back_at, pair_key=_NEW_PAIR))
        # back home from the object, or (an outward ``from_object``) back to the object
        to = r.dropoff or (dest.address, dest.lat, dest.lon)
        back = ReturnQuote(
            category=r.category,
            pickup_at=back_at,
            pickup_address=r.pickup[0],
            pickup_lat=r.pickup[1],
            pickup_lon=r.pickup[2],
            dropoff_address=to[0],
            dropoff_lat=to[1],
            dropoff_lon=to[2],
            quota=r.quota,
            fare_kop=r.fare.fare_kop,
            copay_share_pct=r.fare.copay_share_pct,
            copay_kop=r.fare.copay_kop,
            distance_km=r.fare.distance_km,
            planned_route=r.route.to_geojson(),
            planned_dist_m=float(r.route.dist_m),
            planned_duration_s=float(r.route.duration_s),
            planned_dropoff_at=_dropoff(r.route, back_at),
        )
    # What is left after this booking: the position for one more trip with these legs counted.
    after = _quota(conn, passenger_id=passenger.id, category=p.category,
                   object_type=dest.object_type, pickup_at=req.pickup_at, rules=rules,
                   extra=legs)  # fmt: skip
    pstore.log_access(conn, user_id=actor.id, action="quote", passenger_ids=[p.passenger.id],
                      purpose="booking")  # fmt: skip
    return TripQuote(
        passenger_id=p.passenger.id,
        destination_id=p.dest.id,
        category=p.category,
        category_reason=p.category_reason,
        vehicle_type=p.vehicle_type,
        pickup_at=req.pickup_at,
        pickup_address=p.pickup[0],
        pickup_lat=p.pickup[1],
        pickup_lon=p.pickup[2],
        quota=p.quota,
        override_required=p.quota.over or (r is not None and r.quota.over),
        fare_kop=p.fare.fare_kop,
        copay_share_pct=p.fare.copay_share_pct,
        copay_kop=p.fare.copay_kop,
        distance_km=p.fare.distance_km,
        rules_version=rules.version,
        planned_route=p.route.to_geojson(),
        planned_dist_m=float(p.route.dist_m),
        planned_duration_s=float(p.route.duration_s),
        planned_dropoff_at=_dropoff(p.route, req.pickup_at),
        return_trip=back,
        band_km=_band_km(p, r, rules),
        total_fare_kop=p.fare.fare_kop + (r.fare.fare_kop if r else 0),
        total_copay_kop=p.fare.copay_kop + (r.fare.copay_kop if r else 0),
        quota_after=after,
    )


def _return_at(req: TripRequest) -> datetime:
    assert req.return_pickup_at is not None
    return req.return_pickup_at


def _counted(p: _Prepared, pickup_at: datetime, *, pair_key: int | None) -> CountedTrip:
    """A leg of this booking as the quota counts it once written (status ``booked``)."""
    return CountedTrip(pickup_at, TripStatus.BOOKED.value, p.dest.object_type, p.category,
                       pair_key)  # fmt: skip


def _band_km(p: _Prepared, r: _Prepared | None, rules: Rules) -> float:
    """The distance the co-payment band is found from: the pair's total when the rules say so."""
    if r is not None and rules.return_trips.copay_band == "pair_total":
        return (float(p.route.dist_m) + float(r.route.dist_m)) / 1000
    return p.fare.distance_km


def _prepare_legs(
    conn: psycopg.Connection,
    *,
    req: TripRequest,
    passenger: Passenger,
    dest: SocialObject,
    rules: Rules,
    graph: GraphLike | None,
    now: datetime,
) -> tuple[_Prepared, _Prepared | None]:
    """Every check and the price of the booking ``req`` — the outward trip and, with
    ``return_pickup_at``, its return — nothing written; the quote and the booking both use it.

    The return is checked like any trip (its time, the overlap with the outward leg, the quota —
    a pair counts as the rules' ``[return_trips] pair_counts_as`` says, the outward leg counted as
    if written); with ``copay_band = "pair_total"`` both legs' co-payment band is found from the
    pair's total distance. A refused return refuses both, its refusals named «Обратная поездка».
    """
    p = _prepare(conn, req=req, passenger=passenger, dest=dest, pickup_at=req.pickup_at,
                 rules=rules, graph=graph, now=now)  # fmt: skip
    if req.return_pickup_at is None:
        return p, None
    back_at = in_region(req.return_pickup_at, rules)
    back_dir = "from_object" if p.direction == "to_object" else "to_object"
    outward = _Outward(_counted(p, req.pickup_at, pair_key=_NEW_PAIR), req.pickup_at,
                       _dropoff(p.route, req.pickup_at))  # fmt: skip
    try:
        r = _prepare(conn, req=req, passenger=passenger, dest=dest, pickup_at=back_at,
                     rules=rules, graph=graph, now=now, leg=_Leg(back_dir, pair_key=_NEW_PAIR),
                     outward=outward)  # fmt: skip
    except BookingRefused as exc:
        raise BookingRefused([
            eligibility.Refusal(x.code, "return_pickup_at" if x.field == "pickup_at" else x.field,
                                "Обратная поездка: " + x.message)
            for x in exc.refusals
        ]) from None  # fmt: skip
    if rules.return_trips.copay_band == "pair_total":
        band = _band_km(p, r, rules)
        p = replace(p, fare=quote(rules, category=p.category, vehicle_type=p.vehicle_type,
                                  distance_m=p.route.dist_m, band_km=band))  # fmt: skip
        r = replace(r, fare=quote(rules, category=r.category, vehicle_type=r.vehicle_type,
                                  distance_m=r.route.dist_m, band_km=band))  # fmt: skip
    return p, r


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
            "category_reason": p.category_reason,
            "object_type": p.dest.object_type,
            "companion_name": req.companion_name,
            "status": TripStatus.BOOKED.value,
            "vehicle_type": p.vehicle_type,
            "companions": req.companions,
            "wheelchair": p.passenger.wheelchair,
            "pickup_at": pickup_at,
            "pickup_address": p.pickup[0],
            "pickup_lat": p.pickup[1],
            "pickup_lon": p.pickup[2],
            "dest_object_id": p.dest.id,
            "dest_lat": p.dropoff[1] if p.dropoff else p.dest.lat,
            "dest_lon": p.dropoff[2] if p.dropoff else p.dest.lon,
            "dest_address": p.dropoff[0] if p.dropoff else p.dest.address,
            "direction": p.direction,
            "pickup_object_id": p.dest.id if p.direction == "from_object" else None,
            "pair_id": p.pair_key,
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
    """Book one trip, or a trip and its return (``return_pickup_at``, linked by ``pair_id``):
    every rule checked, quota counted (override by a supervisor with a reason), fare, co-payment
    and planned route stored, a ``booked`` event written per leg — exactly as
    :func:`quote_trip` priced it (both use :func:`_prepare_legs`)."""
    scope.refuse_carrier_staff(actor, "бронирование поездок")
    req = _region_request(req, rules)
    passenger, dest = _load(conn, req=req, lock=True)
    p, r = _prepare_legs(conn, req=req, passenger=passenger, dest=dest, rules=rules, graph=graph,
                         now=now)  # fmt: skip
    _check_override(p, req, actor)
    if r is not None:
        _check_override(r, req, actor)
    trip = _insert(conn, p=p, req=req, pickup_at=req.pickup_at, rules=rules, actor=actor, now=now)
    if r is not None:
        tstore.set_pair(conn, trip_id=trip.id, pair_id=trip.id)
        back = _insert(conn, p=replace(r, pair_key=trip.id), req=req,
                       pickup_at=in_region(_return_at(req), rules), rules=rules, actor=actor,
                       now=now)  # fmt: skip
        tstore.set_return(conn, trip_id=trip.id, return_trip_id=back.id)
        got = tstore.get_trip(conn, trip_id=trip.id)
        assert got is not None
        trip = got
    pstore.log_access(conn, user_id=actor.id, action="book", passenger_ids=[trip.passenger_id],
                      purpose="booking", detail={"trip_id": trip.id})  # fmt: skip
    return trip


def _horizon_last(now: datetime, rules: Rules) -> date:
    """The last local date bookable at ``now`` (today + ``max_advance_days``)."""
    return now.astimezone(ZoneInfo(rules.timezone)).date() + timedelta(
        days=rules.booking.max_advance_days
    )


def book_recurring(
    conn: psycopg.Connection,
    *,
    req: RecurringRequest,
    rules: Rules,
    graph: GraphLike | None,
    actor: User,
    now: datetime,
) -> RecurringResult:
    """Store a rolling series and book its dates that are within the booking horizon now.

    Every occurrence is checked on its own (time rules, quota counted including the ones booked
    just before it), each in a savepoint, so a refusal never undoes the others. Dates beyond the
    horizon are *pending*: :func:`expand_series` (a daily job) books them as they come within it,
    quota-checked then. Refused dates are kept for the operator (:func:`series_refusals`).
    """
    scope.refuse_carrier_staff(actor, "бронирование поездок")
    if req.return_pickup_at is not None:
        raise Invalid(
            "Для серии поездок обратные поездки бронируются отдельной серией "
            "(направление «от объекта»)",
            code="series_return_not_supported",
        )
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
    route = _series_route(conn, req=req, passenger=passenger, dest=dest, rules=rules, graph=graph,
                          first=times[0] if times else None)  # fmt: skip
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
        request=req.model_dump(mode="json"),
        until_date=req.until,
    )
    last = _horizon_last(now, rules)
    zone = ZoneInfo(rules.timezone)
    now_times = [t for t in times if t.astimezone(zone).date() <= last]
    pending = [t for t in times if t.astimezone(zone).date() > last]
    booked, refused = _book_dates(conn, req=req, passenger=passenger, dest=dest, rec_id=rec_id,
                                  times=now_times, rules=rules, graph=graph, actor=actor, now=now,
                                  route=route)  # fmt: skip
    tstore.set_expanded_through(conn, recurrence_id=rec_id, through=min(req.until, last))
    pstore.log_access(conn, user_id=actor.id, action="book_recurring",
                      passenger_ids=[req.passenger_id], purpose="booking",
                      detail={"recurrence_id": rec_id})  # fmt: skip
    return RecurringResult(recurrence_id=rec_id, booked=booked, refused=refused, pending=pending)


def _book_dates(
    conn: psycopg.Connection,
    *,
    req: RecurringRequest,
    passenger: Passenger,
    dest: SocialObject,
    rec_id: int,
    times: list[datetime],
    rules: Rules,
    graph: GraphLike | None,
    actor: User,
    now: datetime,
    route: Any,
) -> tuple[list[Trip], list[RefusedDate]]:
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
                    )  # fmt: skip
                )
        except BookingRefused as exc:
            refused.append(
                RefusedDate(
                    pickup_at=ts,
                    reasons=[r.message for r in exc.refusals],
                    codes=[r.code for r in exc.refusals],
                )
            )
        except DispatchError as exc:  # over quota, no right to override, bad input
            refused.append(RefusedDate(pickup_at=ts, reasons=[exc.message], codes=[exc.code]))
    for r in refused:
        tstore.record_refusal(conn, recurrence_id=rec_id, pickup_at=r.pickup_at, codes=r.codes,
                              reasons=r.reasons, checked_at=now)  # fmt: skip
    return booked, refused


@dataclass(frozen=True)
class SeriesExpansion:
    """What one run of :func:`expand_series` did to one series."""

    recurrence_id: int
    booked: int
    refused: int


def expand_series(
    conn: psycopg.Connection, *, rules: Rules, graph: GraphLike | None, now: datetime
) -> list[SeriesExpansion]:
    """The daily job: book every stored series' dates that have come within the horizon.

    Each date is checked as a booking made now (quota included); no over-quota override is
    possible here (the job is no supervisor), so such dates are refused and listed. Runs are
    safe to repeat and to run in parallel (series are locked, skipped by another run)."""
    last = _horizon_last(now, rules)
    out = []
    for row in tstore.recurrences_to_expand(conn):
        req = RecurringRequest.model_validate(row["request"])
        start = req.start
        if row["expanded_through"] is not None:
            start = max(start, row["expanded_through"] + timedelta(days=1))
        until = min(req.until, last)
        if until < start:
            continue
        actor = User(id=row["created_by"] or 0, login="series", full_name="Продление серии",
                     roles=frozenset(), carrier_id=None, active=True)  # fmt: skip
        times = expand(weekdays=req.weekdays, local_time=req.local_time, start=start,
                       until=until, tz=rules.timezone)  # fmt: skip
        n_booked = n_refused = 0
        try:
            passenger, dest = _load(conn, req=req, lock=True)
            route = _series_route(conn, req=req, passenger=passenger, dest=dest, rules=rules,
                                  graph=graph, first=times[0] if times else None)  # fmt: skip
        except DispatchError as exc:  # the map changed: no route any more
            msgs = (
                [r.message for r in exc.refusals]
                if isinstance(exc, BookingRefused)
                else [exc.message]
            )
            for ts in times:
                tstore.record_refusal(
                    conn,
                    recurrence_id=row["id"],
                    pickup_at=ts,
                    codes=["route_unavailable"],
                    reasons=msgs,
                    checked_at=now,
                )
            n_refused = len(times)
        else:
            booked, refused = _book_dates(
                conn, req=req, passenger=passenger, dest=dest, rec_id=row["id"], times=times,
                rules=rules, graph=graph, actor=actor, now=now, route=route,
            )  # fmt: skip
            n_booked, n_refused = len(booked), len(refused)
        tstore.set_expanded_through(conn, recurrence_id=row["id"], through=until)
        out.append(SeriesExpansion(row["id"], n_booked, n_refused))
    return out


def series_refusals(
    conn: psycopg.Connection, *, recurrence_id: int | None, actor: User, limit: int = 500
) -> list[SeriesRefusal]:
    """Dates of a series (or of every series) that could not be booked, latest first."""
    scope.refuse_carrier_staff(actor, "серии поездок")
    rows = tstore.list_refusals(conn, recurrence_id=recurrence_id, limit=limit)
    if rows:
        pstore.log_access(conn, user_id=actor.id, action="read_series_refusals",
                          passenger_ids=sorted({r["passenger_id"] for r in rows}),
                          purpose="booking")  # fmt: skip
    return [SeriesRefusal(**r) for r in rows]


def _series_route(
    conn: psycopg.Connection,
    *,
    req: TripRequest,
    passenger: Passenger,
    dest: SocialObject,
    rules: Rules,
    graph: GraphLike | None,
    first: datetime | None,
) -> Any:
    """The planned route of a series (pickup and destination do not change between dates), at
    the hour of the week of its first date ``first`` (the active speed profile's)."""
    from routing.profiled import graph_at

    graph = graph_at(graph, first)
    _, lat, lon = _pickup(conn, req, passenger)
    if req.direction == "from_object":
        return _plan_route(graph, (dest.lat, dest.lon), (lat, lon), rules)
    return _plan_route(graph, (lat, lon), (dest.lat, dest.lon), rules)


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
    scope.check_passenger(conn, actor, passenger_id)
    category, local_day = _category_on(passenger, at, rules)
    if object_type is not None:
        # The category a trip to this type of object would be booked under.
        choice = eligibility.choose_category(
            _periods(passenger), local_day, destination_type=object_type, distance_km=0.0,
            rules=rules,
        )  # fmt: skip
        category = choice.category if choice is not None else category
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
