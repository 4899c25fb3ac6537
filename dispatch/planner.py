"""Vehicle assignment: which vehicle serves which trip of a day.

Pure: the caller passes the trips, the vehicles' states and a vectorised travel function (the
shell wraps ``routing``'s matrix). All travel times and distances of a call come from ONE matrix
request: rows are the vehicles' start points and the trips' destinations, columns the trips'
pickups.

Model
-----
A vehicle serves one trip at a time (the passenger and companions only; no ride sharing) and its
trips in pickup-time order. For each trip it drives empty from where it is (its start point, or
the previous trip's destination) to the pickup, arrives at ``arrival``, waits if early, spends
``boarding_s`` at the pickup and ``duration_s`` driving the passenger, and is then free at the
destination. Lateness of a trip is ``max(0, arrival - pickup_at)``; a trip may not be more than
``max_late_s`` late. Empty driving is the legs to pickups (start → first pickup, destination →
next pickup); the drive back to the depot is not counted. ``boarding_s`` and ``max_late_s`` are
the rules file's ``[assignment]`` thresholds; every entry point requires them (no defaults here).

A vehicle fits a trip when its type is the booked type (the fare was quoted for that type), it
has a wheelchair place for a wheelchair trip, and enough seats (passenger + companions; a
wheelchair user sits in the wheelchair place).

Optimisation (:func:`plan_day`)
-------------------------------
1. Manual overrides (``fixed``) are placed first and never moved.
2. A min-cost bipartite matching (``scipy.optimize.linear_sum_assignment``) links every free trip
   to its predecessor: a vehicle's start (or the end of one of its fixed trips) or another trip
   that ends early enough; the cost is the empty leg in metres plus a lateness penalty. The
   chains that hang off vehicle starts are the vehicles' routes. This is the classic exact
   model of vehicle scheduling with fixed trip times, solved in one shot for the whole day.
3. Chains are merged with fixed trips and replayed exactly (lateness propagates along a route);
   trips that break a time window are ejected and re-inserted at their cheapest feasible place.
4. Local search until no move improves: insert unassigned trips (directly, or by moving one
   trip out of the way), relocate one trip to another vehicle, exchange route tails between two
   vehicles (2-opt*).

Steps 2–4 run twice — matching only links that are on time, then links up to ``max_late_s`` late
— and the better plan wins. When the on-time matching already serves every trip on time (and
nothing is fixed) it is the exact optimum: the link costs it minimised are then the true ones.

The objective is ``empty_m + LATE_WEIGHT_M_PER_S × lateness_s`` plus a large penalty per
unassigned trip.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from scipy.optimize import linear_sum_assignment

from dispatch.errors import Invalid

__all__ = [
    "VehicleState",
    "TripJob",
    "Candidate",
    "AssignmentConflict",
    "Plan",
    "TravelFn",
    "fits",
    "propose",
    "plan_day",
    "greedy_baseline",
    "find_conflicts",
    "LATE_WEIGHT_M_PER_S",
]

TravelFn = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``travel(orig, dest) -> (duration_s, dist_m)``: ``orig`` (n, 2) and ``dest`` (m, 2) arrays of
lat/lon (WGS 84 degrees); returns two (n, m) arrays, seconds and metres; ``inf`` where there is
no route."""

LATE_WEIGHT_M_PER_S = 10_000.0
"""One second of lateness costs as much as 10 km of empty driving: in effect punctuality first,
empty kilometres second — the passengers are elderly or disabled people waiting outside. (With
100 m/s the planner trades a couple of late minutes for ~20 km less empty driving.)"""

_UNASSIGNED_PENALTY = 1e7  # 10,000 km: any feasible insertion beats leaving a trip unserved
_UNREACHABLE_S = 1e7  # stand-in for "no route" so that all arithmetic stays finite
_UNREACHABLE_M = 1e9
_EPS = 1e-6
_INF = float("inf")


@dataclass(frozen=True)
class VehicleState:
    """A vehicle and where/when it becomes free (depot at shift start, or its last drop-off).

    ``lat``/``lon`` ``None``: the start is unknown (no position reported, no depot); the vehicle
    is then planned *from its first pickup*: it is assumed to be there at ``available_from``
    and the empty leg to that first pickup is not counted (zero time and distance).
    """

    id: int
    vehicle_type: str
    seats: int
    wheelchair_places: int
    lat: float | None
    lon: float | None
    available_from: datetime


@dataclass(frozen=True)
class TripJob:
    """A trip to serve: pickup time and place, destination, planned drive ``duration_s`` /
    ``dist_m`` (pickup → destination), the booked vehicle type and what it carries."""

    id: int
    pickup_at: datetime
    pickup_lat: float
    pickup_lon: float
    dest_lat: float
    dest_lon: float
    duration_s: float
    dist_m: float
    vehicle_type: str
    wheelchair: bool
    companions: int


@dataclass(frozen=True)
class Candidate:
    """A vehicle that can take a trip.

    ``empty_s``/``empty_m``: the empty driving the vehicle's day grows by (the leg to this
    pickup, plus the leg from this destination to the next committed pickup, minus the leg it
    replaces). ``arrival_at``: when it reaches the pickup; ``lateness_s``: how late that is.
    """

    vehicle_id: int
    empty_s: float
    empty_m: float
    arrival_at: datetime
    lateness_s: float


@dataclass(frozen=True)
class AssignmentConflict:
    """A problem with an assignment. ``kind``: ``type_mismatch``, ``overlap`` (the vehicle is
    still busy with the previous trip — even started on time and with zero travel — until
    after this pickup's allowed lateness), ``unreachable`` (it cannot get there
    within the allowed lateness), ``unknown_vehicle``, ``unknown_trip``. ``message`` is Russian."""

    kind: str
    vehicle_id: int
    trip_ids: tuple[int, ...]
    message: str


@dataclass(frozen=True)
class Plan:
    """A day's assignment and its figures.

    ``empty_m``/``empty_s``: total empty driving; ``lateness_s``: total lateness over assigned
    trips, ``late_trips`` how many are late at all; ``routes``: vehicle id → its trip ids in
    order; ``arrivals``: trip id → planned arrival at the pickup (UTC); ``conflicts``: problems
    left in the plan (only manual overrides can cause them).
    """

    assignments: dict[int, int]
    unassigned: tuple[int, ...]
    empty_m: float
    lateness_s: float
    conflicts: tuple[AssignmentConflict, ...]
    empty_s: float = 0.0
    late_trips: int = 0
    routes: dict[int, tuple[int, ...]] = field(default_factory=dict)
    arrivals: dict[int, datetime] = field(default_factory=dict)


def fits(trip: TripJob, vehicle: VehicleState) -> bool:
    """Whether ``vehicle`` may serve ``trip`` (type, wheelchair place, seats)."""
    return _mismatch(trip, vehicle) is None


def _mismatch(trip: TripJob, vehicle: VehicleState) -> str | None:
    if vehicle.vehicle_type != trip.vehicle_type:
        return f"тип машины «{vehicle.vehicle_type}», заказан «{trip.vehicle_type}»"
    if trip.wheelchair and vehicle.wheelchair_places < 1:
        return "нет места для коляски"
    seats = trip.companions + (0 if trip.wheelchair else 1)
    if seats > vehicle.seats:
        return f"мест {vehicle.seats}, нужно {seats}"
    return None


# --------------------------------------------------------------------------------------------
# The problem: trips, vehicles and one travel matrix
# --------------------------------------------------------------------------------------------


class _Problem:
    """Indices, times (epoch seconds) and the travel matrix as Python lists for fast scalar
    access in the search loops.

    ``T[r][j]``/``M[r][j]``: time/distance from row ``r`` to the pickup of trip ``j``; rows
    ``0..V-1`` are vehicle starts, ``V + i`` the destination of trip ``i``.
    """

    def __init__(
        self,
        trips: Sequence[TripJob],
        vehicles: Sequence[VehicleState],
        travel: TravelFn,
        *,
        boarding_s: float,
        max_late_s: float,
    ) -> None:
        _unique_ids("поездок", [t.id for t in trips])
        _unique_ids("машин", [v.id for v in vehicles])
        self.trips = list(trips)
        self.vehicles = list(vehicles)
        self.N, self.V = len(self.trips), len(self.vehicles)
        self.trip_index = {t.id: i for i, t in enumerate(self.trips)}
        self.vehicle_index = {v.id: i for i, v in enumerate(self.vehicles)}
        self.boarding_s = float(boarding_s)
        self.max_late_s = float(max_late_s)
        self.P = [_epoch(t.pickup_at) for t in self.trips]
        self.svc = [self.boarding_s + float(t.duration_s) for t in self.trips]
        self.avail = [_epoch(v.available_from) for v in self.vehicles]
        self.key = [(self.P[i], t.id) for i, t in enumerate(self.trips)]
        self.compat = [[fits(t, v) for v in self.vehicles] for t in self.trips]
        self.limit = [self.max_late_s] * self.N  # max lateness per trip (fixed trips may exceed)
        if self.N == 0:
            self.T_np = np.zeros((self.V, 0))
            self.M_np = np.zeros((self.V, 0))
        else:
            # Vehicles with an unknown start are routed from nowhere: their start rows are zeros.
            known = np.array([v.lat is not None and v.lon is not None for v in self.vehicles])
            starts = [
                (v.lat, v.lon) for v in self.vehicles if v.lat is not None and v.lon is not None
            ]
            orig = np.array(
                starts + [(t.dest_lat, t.dest_lon) for t in self.trips], dtype=float
            ).reshape(-1, 2)
            dest = np.array([(t.pickup_lat, t.pickup_lon) for t in self.trips], dtype=float)
            dur, dist = travel(orig, dest)
            dur = np.asarray(dur, dtype=float)
            dist = np.asarray(dist, dtype=float)
            if dur.shape != (len(orig), len(dest)) or dist.shape != dur.shape:
                raise ValueError(
                    f"travel returned {dur.shape}/{dist.shape}, expected {(len(orig), len(dest))}"
                )
            bad = ~np.isfinite(dur) | ~np.isfinite(dist)
            dur = np.where(bad, _UNREACHABLE_S, dur)
            dist = np.where(bad, _UNREACHABLE_M, dist)
            n_known = len(starts)
            self.T_np = np.zeros((self.V + self.N, self.N))
            self.M_np = np.zeros((self.V + self.N, self.N))
            self.T_np[np.flatnonzero(known)] = dur[:n_known]
            self.M_np[np.flatnonzero(known)] = dist[:n_known]
            self.T_np[self.V :] = dur[n_known:]
            self.M_np[self.V :] = dist[n_known:]
        self.T = self.T_np.tolist()
        self.M = self.M_np.tolist()

    # --- one route, replayed exactly ----------------------------------------------------------
    def cost(self, v: int, route: Sequence[int]) -> float:
        """Objective of one route, or ``inf`` if a trip exceeds its lateness limit."""
        T, M, P, svc, limit = self.T, self.M, self.P, self.svc, self.limit
        t = self.avail[v]
        r = v
        total = 0.0
        V = self.V
        for j in route:
            arr = t + T[r][j]
            late = arr - P[j]
            if late > 0:
                if late > limit[j] + _EPS:
                    return _INF
                total += LATE_WEIGHT_M_PER_S * late
                t = arr + svc[j]
            else:
                t = P[j] + svc[j]
            total += M[r][j]
            r = V + j
        return total

    def replay(self, v: int, route: Sequence[int]) -> list[tuple[float, float, float, float]]:
        """Per trip of the route: (arrival, lateness_s, empty_s, empty_m) of its leg."""
        out = []
        t = self.avail[v]
        r = v
        for j in route:
            arr = t + self.T[r][j]
            late = max(0.0, arr - self.P[j])
            out.append((arr, late, self.T[r][j], self.M[r][j]))
            t = max(arr, self.P[j]) + self.svc[j]
            r = self.V + j
        return out

    def insert_pos(self, route: Sequence[int], j: int) -> int:
        return bisect.bisect_left([self.key[i] for i in route], self.key[j])

    def plan(self, routes: Mapping[int, Sequence[int]], unassigned: Sequence[int]) -> Plan:
        assignments: dict[int, int] = {}
        arrivals: dict[int, datetime] = {}
        out_routes: dict[int, tuple[int, ...]] = {}
        empty_m = empty_s = late_s = 0.0
        late_n = 0
        for v, route in routes.items():
            if not route:
                continue
            vid = self.vehicles[v].id
            out_routes[vid] = tuple(self.trips[j].id for j in route)
            for j, (arr, late, es, em) in zip(route, self.replay(v, route), strict=True):
                tid = self.trips[j].id
                assignments[tid] = vid
                arrivals[tid] = datetime.fromtimestamp(arr, UTC)
                empty_s += es
                empty_m += em
                late_s += late
                late_n += late > 0
        conflicts = _conflicts(self, {v: list(r) for v, r in routes.items()})
        return Plan(
            assignments=assignments,
            unassigned=tuple(
                self.trips[j].id for j in sorted(unassigned, key=self.key.__getitem__)
            ),
            empty_m=empty_m,
            lateness_s=late_s,
            conflicts=tuple(conflicts),
            empty_s=empty_s,
            late_trips=late_n,
            routes=out_routes,
            arrivals=arrivals,
        )


def _epoch(ts: datetime) -> float:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise Invalid("Время должно быть указано с часовым поясом", code="naive_time")
    return ts.timestamp()


def _unique_ids(what: str, ids: Sequence[int]) -> None:
    if len(set(ids)) != len(ids):
        raise Invalid(f"Повторяющиеся номера {what}", code="duplicate_ids")


# --------------------------------------------------------------------------------------------
# Conflicts
# --------------------------------------------------------------------------------------------


def _conflicts(pb: _Problem, routes: Mapping[int, Sequence[int]]) -> list[AssignmentConflict]:
    out: list[AssignmentConflict] = []
    for v, route in routes.items():
        veh = pb.vehicles[v]
        for j in route:
            why = _mismatch(pb.trips[j], veh)
            if why is not None:
                out.append(
                    AssignmentConflict(
                        "type_mismatch",
                        veh.id,
                        (pb.trips[j].id,),
                        f"Машина {veh.id} не подходит для поездки {pb.trips[j].id}: {why}",
                    )
                )
        legs = pb.replay(v, route)
        for k, j in enumerate(route):
            late = legs[k][1]
            if k > 0:
                i = route[k - 1]
                if pb.P[i] + pb.svc[i] > pb.P[j] + pb.max_late_s + _EPS:
                    a, b = pb.trips[i], pb.trips[j]
                    out.append(
                        AssignmentConflict(
                            "overlap",
                            veh.id,
                            (a.id, b.id),
                            f"Машина {veh.id}: поездка {b.id} в {_hm(b.pickup_at)} начинается, "
                            f"пока не закончена поездка {a.id} (подача {_hm(a.pickup_at)})",
                        )
                    )
                    continue
            if late > pb.max_late_s + _EPS:
                t = pb.trips[j]
                ids = (pb.trips[route[k - 1]].id, t.id) if k > 0 else (t.id,)
                minutes = (
                    "нет маршрута"
                    if late >= _UNREACHABLE_S / 2
                    else f"опоздание {late / 60:.0f} мин"
                )
                out.append(
                    AssignmentConflict(
                        "unreachable",
                        veh.id,
                        ids,
                        f"Машина {veh.id} не успевает к подаче поездки {t.id} в "
                        f"{_hm(t.pickup_at)}: {minutes}",
                    )
                )
    return out


def _hm(ts: datetime) -> str:
    return f"{ts.astimezone(UTC):%H:%M} UTC"


def find_conflicts(
    assignments: Mapping[int, int],
    trips: Sequence[TripJob],
    vehicles: Sequence[VehicleState],
    travel: TravelFn,
    *,
    boarding_s: float,
    max_late_s: float,
) -> list[AssignmentConflict]:
    """Problems with an existing assignment (trip id → vehicle id).

    Each vehicle's trips are taken in pickup order and replayed: a vehicle of the wrong type or
    without room (``type_mismatch``), a pickup more than ``max_late_s`` before the previous trip
    can even finish (``overlap``), a pickup the vehicle cannot reach within ``max_late_s`` of
    lateness (``unreachable``), an assignment to a vehicle or of a trip not in the lists
    (``unknown_vehicle``/``unknown_trip``).
    """
    trip_ids = {t.id for t in trips}
    vehicle_ids = {v.id for v in vehicles}
    out: list[AssignmentConflict] = []
    used: list[TripJob] = []
    for tid, vid in assignments.items():
        if tid not in trip_ids:
            out.append(AssignmentConflict("unknown_trip", vid, (tid,), f"Поездка {tid} не найдена"))
        elif vid not in vehicle_ids:
            out.append(
                AssignmentConflict(
                    "unknown_vehicle", vid, (tid,), f"Машина {vid} не найдена или не работает"
                )
            )
    used = [t for t in trips if t.id in assignments and assignments[t.id] in vehicle_ids]
    pb = _Problem(used, vehicles, travel, boarding_s=boarding_s, max_late_s=max_late_s)
    routes: dict[int, list[int]] = {v: [] for v in range(pb.V)}
    for j in sorted(range(pb.N), key=pb.key.__getitem__):
        routes[pb.vehicle_index[assignments[pb.trips[j].id]]].append(j)
    return out + _conflicts(pb, routes)


# --------------------------------------------------------------------------------------------
# One trip: candidates
# --------------------------------------------------------------------------------------------


def propose(
    trip: TripJob,
    vehicles: Sequence[VehicleState],
    schedule: Mapping[int, Sequence[TripJob]],
    travel: TravelFn,
    *,
    boarding_s: float,
    max_late_s: float,
) -> list[Candidate]:
    """Vehicles that can take ``trip`` given their committed trips, best first.

    A vehicle qualifies when it fits the trip, reaches the pickup from its previous drop-off (or
    start) within ``max_late_s`` and still reaches its next committed pickups in time (no
    committed trip gets later than allowed, nor later than it already was if it was beyond).
    Order: least added empty driving time, then lateness, then vehicle id. ``schedule`` maps
    vehicle id → its committed trips (any order; ``trip`` itself is ignored there).
    """
    others: dict[int, TripJob] = {}
    for trips in schedule.values():
        for t in trips:
            if t.id != trip.id:
                others[t.id] = t
    all_trips = [trip, *others.values()]
    pb = _Problem(all_trips, vehicles, travel, boarding_s=boarding_s, max_late_s=max_late_s)
    out: list[Candidate] = []
    for v, veh in enumerate(pb.vehicles):
        if not pb.compat[0][v]:
            continue
        route = sorted(
            (pb.trip_index[t.id] for t in schedule.get(veh.id, ()) if t.id != trip.id),
            key=pb.key.__getitem__,
        )
        before = pb.replay(v, route)
        for j, leg in zip(route, before, strict=True):
            pb.limit[j] = max(pb.max_late_s, leg[1])
        pos = pb.insert_pos(route, 0)
        new = [*route[:pos], 0, *route[pos:]]
        if pb.cost(v, new) == _INF:
            continue
        after = pb.replay(v, new)
        arr, late, _, _ = after[pos]
        out.append(
            Candidate(
                vehicle_id=veh.id,
                empty_s=sum(x[2] for x in after) - sum(x[2] for x in before),
                empty_m=sum(x[3] for x in after) - sum(x[3] for x in before),
                arrival_at=datetime.fromtimestamp(arr, UTC),
                lateness_s=late,
            )
        )
    out.sort(key=lambda c: (c.empty_s, c.lateness_s, c.vehicle_id))
    return out


# --------------------------------------------------------------------------------------------
# A whole day
# --------------------------------------------------------------------------------------------


def greedy_baseline(
    trips: Sequence[TripJob],
    vehicles: Sequence[VehicleState],
    travel: TravelFn,
    *,
    fixed: Mapping[int, int] | None = None,
    boarding_s: float,
    max_late_s: float,
) -> Plan:
    """The simple dispatcher's rule, for comparison: trips in pickup order, each appended to the
    fitting vehicle that arrives least late — among those on time, the nearest (least empty
    driving time from where it became free); a vehicle more than ``max_late_s`` late is not
    considered. Fixed trips go to their vehicle regardless."""
    pb = _Problem(trips, vehicles, travel, boarding_s=boarding_s, max_late_s=max_late_s)
    fixed_idx = _fixed_indices(pb, fixed or {})
    routes: dict[int, list[int]] = {v: [] for v in range(pb.V)}
    free_at = list(pb.avail)
    row = list(range(pb.V))
    unassigned: list[int] = []
    for j in sorted(range(pb.N), key=pb.key.__getitem__):
        if j in fixed_idx:
            best = fixed_idx[j]
        else:
            best, best_key = -1, (_INF, _INF)
            for v in range(pb.V):
                if not pb.compat[j][v]:
                    continue
                tt = pb.T[row[v]][j]
                late = max(0.0, free_at[v] + tt - pb.P[j])
                if late <= pb.max_late_s + _EPS and (late, tt) < best_key:
                    best, best_key = v, (late, tt)
            if best < 0:
                unassigned.append(j)
                continue
        arr = free_at[best] + pb.T[row[best]][j]
        free_at[best] = max(arr, pb.P[j]) + pb.svc[j]
        row[best] = pb.V + j
        routes[best].append(j)
    return pb.plan(routes, unassigned)


def plan_day(
    trips: Sequence[TripJob],
    vehicles: Sequence[VehicleState],
    travel: TravelFn,
    *,
    fixed: Mapping[int, int] | None = None,
    boarding_s: float,
    max_late_s: float,
    max_passes: int = 30,
) -> Plan:
    """Assign a whole day's trips to vehicles (see the module docstring for the method).

    Parameters
    ----------
    trips, vehicles
        The day's trips and the vehicles on shift (ids unique).
    travel
        Vectorised travel function; called once.
    fixed
        Manual overrides, trip id → vehicle id: kept as given, even when they conflict (the
        conflicts are reported in :attr:`Plan.conflicts`).
    boarding_s
        Time at the pickup, seconds (``rules.assignment.boarding_s``).
    max_late_s
        Largest allowed lateness at a pickup, seconds (``rules.assignment.max_late_s``).
    max_passes
        Bound on local-search passes (each pass is a full sweep of all moves).

    Raises
    ------
    Invalid
        ``fixed`` names an unknown trip or vehicle, duplicate ids, naive times.
    """
    pb = _Problem(trips, vehicles, travel, boarding_s=boarding_s, max_late_s=max_late_s)
    fixed_idx = _fixed_indices(pb, fixed or {})
    is_fixed = [j in fixed_idx for j in range(pb.N)]

    # 1. Fixed trips first; their own lateness (if beyond the limit) becomes their limit.
    base: dict[int, list[int]] = {v: [] for v in range(pb.V)}
    for j in sorted(fixed_idx, key=pb.key.__getitem__):
        base[fixed_idx[j]].append(j)
    for v, route in base.items():
        for j, leg in zip(route, pb.replay(v, route), strict=True):
            pb.limit[j] = max(pb.max_late_s, leg[1])
    free = [j for j in range(pb.N) if not is_fixed[j]]

    # 2-4 twice: matching on on-time links only (punctual, may leave trips over), and on links
    # up to the allowed lateness (serves more); the better result wins.
    best: _Search | None = None
    for arc_late_s in (0.0, pb.max_late_s):
        search = _construct(pb, base, free, is_fixed, arc_late_s=arc_late_s)
        if arc_late_s == 0.0 and not fixed_idx and search.complete_and_punctual():
            # Every trip served on time straight from the matching: its costs were exact, so
            # this is the optimum (least empty driving among punctual plans); nothing to improve.
            return pb.plan(search.routes, [])
        search.run(max_passes)
        if best is None or search.objective() < best.objective() - _EPS:
            best = search
    assert best is not None
    return pb.plan(best.routes, sorted(best.unassigned))


def _construct(
    pb: _Problem,
    base: Mapping[int, Sequence[int]],
    free: Sequence[int],
    is_fixed: Sequence[bool],
    *,
    arc_late_s: float,
) -> _Search:
    """Matching, exact replay with repair, cheapest insertion of what is left."""
    routes = {v: list(r) for v, r in base.items()}
    for v, chain in _match_chains(pb, routes, free, arc_late_s=arc_late_s):
        routes[v].extend(chain)
    placed = {j for r in routes.values() for j in r}
    pending = [j for j in free if j not in placed]
    for v in range(pb.V):
        routes[v].sort(key=pb.key.__getitem__)
        pending.extend(_repair(pb, v, routes[v], is_fixed))
    search = _Search(pb, routes, is_fixed)
    for j in sorted(pending, key=pb.key.__getitem__):
        if not search.insert_best(j):
            search.unassigned.add(j)
    return search


def _fixed_indices(pb: _Problem, fixed: Mapping[int, int]) -> dict[int, int]:
    out = {}
    for tid, vid in fixed.items():
        if tid not in pb.trip_index:
            raise Invalid(f"Закреплённая поездка {tid} не входит в план", code="unknown_trip")
        if vid not in pb.vehicle_index:
            raise Invalid(f"Машина {vid} для поездки {tid} не на линии", code="unknown_vehicle")
        out[pb.trip_index[tid]] = pb.vehicle_index[vid]
    return out


def _match_chains(
    pb: _Problem, routes: Mapping[int, Sequence[int]], free: Sequence[int], *, arc_late_s: float
) -> list[tuple[int, list[int]]]:
    """Min-cost predecessor matching; returns (vehicle, chain of free trips) pairs.

    A link is allowed when the successor is reached at most ``arc_late_s`` late, assuming the
    predecessor trip starts on time (the exact replay afterwards corrects that assumption).
    """
    if not free:
        return []
    big = 1e15
    f = np.asarray(free)
    P = np.asarray(pb.P)[f]
    n = len(f)
    # Segments: a vehicle's start, then the end of each of its fixed trips.
    seg_v, seg_row, seg_t, seg_lo, seg_hi = [], [], [], [], []
    for v in range(pb.V):
        route = routes[v]
        legs = pb.replay(v, route)
        starts = [(v, pb.avail[v], -_INF)]
        for j, leg in zip(route, legs, strict=True):
            starts.append((pb.V + j, max(leg[0], pb.P[j]) + pb.svc[j], pb.P[j]))
        ends = [pb.P[j] for j in route] + [_INF]
        for (row, t, lo), hi in zip(starts, ends, strict=True):
            seg_v.append(v)
            seg_row.append(row)
            seg_t.append(t)
            seg_lo.append(lo)
            seg_hi.append(hi)
    S = len(seg_v)
    seg_row_a = np.asarray(seg_row, dtype=np.int64)
    T_seg = pb.T_np[seg_row_a][:, f]
    M_seg = pb.M_np[seg_row_a][:, f]
    late_seg = np.maximum(0.0, np.asarray(seg_t)[:, None] + T_seg - P[None, :])
    compat = (
        np.asarray(pb.compat, dtype=bool)
        .reshape(pb.N, pb.V)[f][:, np.asarray(seg_v, dtype=np.int64)]
        .T
    )  # (S, n)
    ok_seg = (
        compat
        & (late_seg <= arc_late_s)
        & (P[None, :] >= np.asarray(seg_lo)[:, None])
        & (P[None, :] < np.asarray(seg_hi)[:, None])
    )
    cost_seg = np.where(ok_seg, M_seg + LATE_WEIGHT_M_PER_S * late_seg, big)

    # Trip → trip arcs, strictly forward in (pickup, id) order, same booked type.
    T_tt = pb.T_np[pb.V + f][:, f]
    M_tt = pb.M_np[pb.V + f][:, f]
    ready = P + np.asarray(pb.svc)[f]
    late_tt = np.maximum(0.0, ready[:, None] + T_tt - P[None, :])
    order = np.empty(n, dtype=np.int64)
    order[np.lexsort((np.asarray([pb.trips[j].id for j in f]), P))] = np.arange(n)
    types = np.asarray([pb.trips[j].vehicle_type for j in f])
    ok_tt = (
        (order[:, None] < order[None, :])
        & (types[:, None] == types[None, :])
        & (late_tt <= arc_late_s)
    )
    cost_tt = np.where(ok_tt, M_tt + LATE_WEIGHT_M_PER_S * late_tt, big)

    cost = np.vstack([cost_seg, cost_tt])
    rows, cols = linear_sum_assignment(cost)
    succ: dict[int, int] = {}
    heads: list[tuple[int, int]] = []  # (segment, first trip position)
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        if cost[r, c] >= big:
            continue
        if r < S:
            heads.append((r, c))
        else:
            succ[r - S] = c
    out = []
    for s, c in heads:
        chain = []
        while True:
            chain.append(int(f[c]))
            if c not in succ:
                break
            c = succ[c]
        out.append((seg_v[s], chain))
    return out


def _repair(pb: _Problem, v: int, route: list[int], is_fixed: Sequence[bool]) -> list[int]:
    """Eject free trips from ``route`` (in place) until it is feasible; return the ejected."""
    ejected: list[int] = []
    while True:
        bad = -1
        for k, (j, leg) in enumerate(zip(route, pb.replay(v, route), strict=True)):
            if not is_fixed[j] and (not pb.compat[j][v] or leg[1] > pb.limit[j] + _EPS):
                bad = k
                break
            if is_fixed[j] and leg[1] > pb.limit[j] + _EPS:
                earlier = [i for i in range(k) if not is_fixed[route[i]]]
                if earlier:
                    bad = earlier[-1]
                    break
        if bad < 0:
            return ejected
        ejected.append(route.pop(bad))


class _Search:
    """Local search over routes; only free trips move."""

    def __init__(self, pb: _Problem, routes: dict[int, list[int]], is_fixed: Sequence[bool]):
        self.pb = pb
        self.routes = routes
        self.is_fixed = is_fixed
        self.unassigned: set[int] = set()
        self.costs = {v: pb.cost(v, r) for v, r in routes.items()}
        self.where = {j: v for v, r in routes.items() for j in r}
        # Vehicles that could take each trip, and groups of vehicles of one type.
        self.fit = [[v for v in range(pb.V) if pb.compat[j][v]] for j in range(pb.N)]

    def _with(self, route: Sequence[int], j: int) -> list[int]:
        pos = self.pb.insert_pos(route, j)
        return [*route[:pos], j, *route[pos:]]

    def insert_best(self, j: int, *, gain: float = _INF) -> bool:
        """Insert ``j`` where it adds least, if that adds less than ``gain``; True if done."""
        best, best_v, best_route = gain - _EPS, -1, None
        for v in self.fit[j]:
            new = self._with(self.routes[v], j)
            c = self.pb.cost(v, new)
            if c == _INF:
                continue
            d = c - self.costs[v]
            if d < best:
                best, best_v, best_route = d, v, new
        if best_route is None:
            return False
        self._set(best_v, best_route)
        self.where[j] = best_v
        return True

    def complete_and_punctual(self) -> bool:
        if self.unassigned:
            return False
        for v, route in self.routes.items():
            if any(leg[1] > 0 for leg in self.pb.replay(v, route)):
                return False
        return True

    def objective(self) -> float:
        return sum(self.costs.values()) + _UNASSIGNED_PENALTY * len(self.unassigned)

    def _set(self, v: int, route: list[int]) -> None:
        self.routes[v] = route
        self.costs[v] = self.pb.cost(v, route)

    def run(self, max_passes: int) -> None:
        for _ in range(max_passes):
            improved = False
            for j in sorted(self.unassigned, key=self.pb.key.__getitem__):
                if self.insert_best(j) or self._insert_by_ejection(j):
                    self.unassigned.discard(j)
                    improved = True
            improved |= self._relocate()
            improved |= self._exchange_tails()
            if not improved:
                return

    def _insert_by_ejection(self, j: int) -> bool:
        """Serve the unassigned ``j`` by taking one free trip ``k`` out of a route and moving
        ``k`` to its cheapest feasible place elsewhere (a two-step ejection chain)."""
        pb = self.pb
        best, best_move = _INF, None
        for v in self.fit[j]:
            route = self.routes[v]
            for k in route:
                if self.is_fixed[k]:
                    continue
                new = self._with([i for i in route if i != k], j)
                c = pb.cost(v, new)
                if c == _INF:
                    continue
                for w in self.fit[k]:
                    if w == v:
                        continue
                    other = self._with(self.routes[w], k)
                    c2 = pb.cost(w, other)
                    if c2 == _INF:
                        continue
                    d = c - self.costs[v] + c2 - self.costs[w]
                    if d < best:
                        best, best_move = d, (v, new, w, other, k)
        if best_move is None:
            return False
        v, new, w, other, k = best_move
        self._set(v, new)
        self._set(w, other)
        self.where[j] = v
        self.where[k] = w
        return True

    def _relocate(self) -> bool:
        improved = False
        for j in sorted(self.where, key=self.pb.key.__getitem__):
            if self.is_fixed[j]:
                continue
            a = self.where[j]
            rest = [i for i in self.routes[a] if i != j]
            c_rest = self.pb.cost(a, rest)
            if c_rest == _INF:  # cannot happen with a triangle-respecting matrix; stay put
                continue
            gain = self.costs[a] - c_rest
            old_route, old_cost = self.routes[a], self.costs[a]
            self.routes[a], self.costs[a] = rest, c_rest
            del self.where[j]
            if self.insert_best(j, gain=gain) and self.where[j] != a:
                improved = True
            elif j not in self.where:
                self.routes[a], self.costs[a] = old_route, old_cost
                self.where[j] = a
        return improved

    def _exchange_tails(self) -> bool:
        pb = self.pb
        improved = False
        V = pb.V
        for a in range(V):
            for b in range(a + 1, V):
                va, vb = pb.vehicles[a], pb.vehicles[b]
                if va.vehicle_type != vb.vehicle_type:
                    continue
                if self._best_tail_swap(a, b):
                    improved = True
        return improved

    def _best_tail_swap(self, a: int, b: int) -> bool:
        pb = self.pb
        A, B = self.routes[a], self.routes[b]
        if not A and not B:
            return False
        kA = [pb.key[j] for j in A]
        kB = [pb.key[j] for j in B]
        # Suffix flags: does the tail from position i hold a fixed trip / a trip unfit for the
        # other vehicle?
        movable_A = _movable_suffix(A, self.is_fixed, lambda j: pb.compat[j][b])
        movable_B = _movable_suffix(B, self.is_fixed, lambda j: pb.compat[j][a])
        base = self.costs[a] + self.costs[b]
        best, best_pair = base - _EPS, None
        for i in range(len(A) + 1):
            if not movable_A[i]:
                continue
            lo = kA[i - 1] if i > 0 else None
            hi = kA[i] if i < len(A) else None
            k_from = bisect.bisect_left(kB, lo) if lo is not None else 0
            k_to = bisect.bisect_right(kB, hi) if hi is not None else len(B)
            for k in range(k_from, k_to + 1):
                if k > len(B) or not movable_B[k] or (i == len(A) and k == len(B)):
                    continue
                newA = A[:i] + B[k:]
                newB = B[:k] + A[i:]
                ca = pb.cost(a, newA)
                if ca == _INF or ca >= best:
                    continue
                cb = pb.cost(b, newB)
                if ca + cb < best:
                    best, best_pair = ca + cb, (newA, newB)
        if best_pair is None:
            return False
        newA, newB = best_pair
        self._set(a, newA)
        self._set(b, newB)
        for j in newA:
            self.where[j] = a
        for j in newB:
            self.where[j] = b
        return True


def _movable_suffix(
    route: Sequence[int], is_fixed: Sequence[bool], fits_other: Callable[[int], bool]
) -> list[bool]:
    """``out[i]``: the tail ``route[i:]`` may move to the other vehicle."""
    out = [True] * (len(route) + 1)
    for i in range(len(route) - 1, -1, -1):
        j = route[i]
        out[i] = out[i + 1] and not is_fixed[j] and fits_other(j)
    return out
