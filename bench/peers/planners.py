"""VROOM and OR-Tools as peers of our day planner, on exactly our problem.

Our planner's problem (``dispatch.planner``): each vehicle serves trips one after another; a trip
is driven from its pickup to its destination (``boarding_s`` + the trip's duration), so a trip is
one *job* whose service time is that whole ride, and the travel between two jobs is the empty
drive from the first trip's destination to the second's pickup. Pickup may start no earlier than
the booked time (the vehicle waits) and no later than ``max_late_s`` after it. A trip may only be
served by a vehicle of its booked type (a skill per vehicle type). Routes are open (no return).

Lateness: OR-Tools gets our objective (empty metres + ``LATE_WEIGHT_M_PER_S`` per second after the
booked time, as a soft upper bound, with the hard bound at ``max_late_s``); VROOM has no soft time
windows, so it gets the hard window [booked, booked + ``max_late_s``] and is free to use all of it.

Both peers get the same travel matrix our planner gets (``_Problem``'s rows: vehicle starts, then
trip destinations; columns: trip pickups), as integer seconds and metres, and minimise empty
metres. Their routes are then replayed by our ``_Problem.plan`` so every solver is measured by
the same code.

Benchmark only: ``pip install -e '.[bench]'`` installs ``pyvroom`` and ``ortools``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_BIG = 10**7  # cost of an unassigned trip in OR-Tools (metres): far above any route


def _matrices(pb: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(durations s, costs m, service s) over locations 0..V-1 (vehicle starts), V.. (trips)."""
    V, N = pb.V, pb.N
    dur = np.zeros((V + N, V + N), np.int64)
    cost = np.zeros((V + N, V + N), np.int64)
    # durations rounded up, so a plan feasible in whole seconds is feasible in ours too
    dur[:, V:] = np.ceil(pb.T_np)
    cost[:, V:] = np.rint(pb.M_np)
    np.fill_diagonal(dur, 0)
    np.fill_diagonal(cost, 0)
    service = np.ceil(np.array(pb.svc)).astype(np.int64)
    return dur, cost, service


def _skills(pb: Any) -> tuple[list[int], list[int]]:
    types = sorted({v.vehicle_type for v in pb.vehicles} | {t.vehicle_type for t in pb.trips})
    code = {t: i + 1 for i, t in enumerate(types)}
    return [code[v.vehicle_type] for v in pb.vehicles], [code[t.vehicle_type] for t in pb.trips]


def vroom_plan(
    pb: Any, *, time_limit_s: float, exploration_level: int = 5
) -> tuple[dict[int, list[int]], list[int]]:
    """Routes (vehicle index -> trip indices in order) and unassigned trip indices from VROOM."""
    from datetime import timedelta

    import vroom

    V, N = pb.V, pb.N
    dur, cost, service = _matrices(pb)
    t0 = int(min(min(pb.avail, default=0), min(pb.P, default=0))) - 3600  # times relative to t0
    vskill, tskill = _skills(pb)
    problem = vroom.Input()
    problem.set_durations_matrix(profile="car", matrix_input=dur.astype(np.uint32))
    problem.set_costs_matrix(profile="car", matrix_input=cost.astype(np.uint32))
    horizon = int(max(pb.P, default=0) - t0 + 2 * 86400)
    problem.add_vehicle(
        [
            vroom.Vehicle(
                v + 1,
                start=v,
                skills={vskill[v]},
                time_window=vroom.TimeWindow(int(pb.avail[v] - t0), horizon),
            )
            for v in range(V)
        ]
    )
    problem.add_job(
        [
            vroom.Job(
                j + 1,
                location=V + j,
                default_service=int(service[j]),
                skills={tskill[j]},
                time_windows=[vroom.TimeWindow(int(pb.P[j] - t0), int(pb.P[j] - t0 + pb.limit[j]))],
            )
            for j in range(N)
        ]
    )
    sol = problem.solve(
        exploration_level=exploration_level,
        nb_threads=1,
        timeout=timedelta(seconds=time_limit_s),
    )
    routes: dict[int, list[int]] = {v: [] for v in range(V)}
    df = sol.routes
    jobs = df[df["type"] == "job"]
    for vid, jid in zip(jobs["vehicle_id"].tolist(), jobs["id"].tolist(), strict=True):
        routes[int(vid) - 1].append(int(jid) - 1)
    assigned = {j for r in routes.values() for j in r}
    return routes, [j for j in range(N) if j not in assigned]


def ortools_plan(pb: Any, *, time_limit_s: float) -> tuple[dict[int, list[int]], list[int]]:
    """The same problem with OR-Tools routing: time windows, type restrictions, open routes."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    from dispatch.planner import LATE_WEIGHT_M_PER_S

    late_weight = max(1, round(LATE_WEIGHT_M_PER_S))

    V, N = pb.V, pb.N
    dur, cost, service = _matrices(pb)
    end = V + N  # one dummy end node: routes are open
    size = V + N + 1
    dur_x = np.zeros((size, size), np.int64)
    cost_x = np.zeros((size, size), np.int64)
    dur_x[: V + N, : V + N] = dur
    cost_x[: V + N, : V + N] = cost
    svc_x = np.zeros(size, np.int64)
    svc_x[V : V + N] = service
    # transit time from a node = its service (the ride) + the drive to the next node
    transit_t = (dur_x + svc_x[:, None]).tolist()
    transit_c = cost_x.tolist()
    t0 = int(min(min(pb.avail, default=0), min(pb.P, default=0))) - 3600
    manager = pywrapcp.RoutingIndexManager(size, V, list(range(V)), [end] * V)
    routing = pywrapcp.RoutingModel(manager)

    def _cost(i: int, j: int) -> int:
        return transit_c[manager.IndexToNode(i)][manager.IndexToNode(j)]

    def _time(i: int, j: int) -> int:
        return transit_t[manager.IndexToNode(i)][manager.IndexToNode(j)]

    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitCallback(_cost))
    time_cb = routing.RegisterTransitCallback(_time)
    horizon = int(max(pb.P, default=0) - t0 + 2 * 86400)
    routing.AddDimension(time_cb, horizon, horizon, False, "time")
    td = routing.GetDimensionOrDie("time")
    vskill, tskill = _skills(pb)
    for j in range(N):
        idx = manager.NodeToIndex(V + j)
        td.CumulVar(idx).SetRange(int(pb.P[j] - t0), int(pb.P[j] - t0 + pb.limit[j]))
        # lateness costs what it costs our planner (metres per second late)
        td.SetCumulVarSoftUpperBound(idx, int(pb.P[j] - t0), late_weight)
        # (SetAllowedVehiclesForIndex's binding refuses Python lists in ortools 9.15; -1 =
        # not performed, which the disjunction allows)
        routing.VehicleVar(idx).SetValues([-1] + [v for v in range(V) if vskill[v] == tskill[j]])
        routing.AddDisjunction([idx], _BIG)
    for v in range(V):
        td.CumulVar(routing.Start(v)).SetRange(int(pb.avail[v] - t0), horizon)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = (
        routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    )
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    params.time_limit.FromMilliseconds(int(time_limit_s * 1000))
    sol = routing.SolveWithParameters(params)
    routes: dict[int, list[int]] = {v: [] for v in range(V)}
    if sol is None:
        return routes, list(range(N))
    for v in range(V):
        i = sol.Value(routing.NextVar(routing.Start(v)))
        while not routing.IsEnd(i):
            routes[v].append(manager.IndexToNode(i) - V)
            i = sol.Value(routing.NextVar(i))
    assigned = {j for r in routes.values() for j in r}
    return routes, [j for j in range(N) if j not in assigned]
