"""Turn costs and turn restrictions in the turn-aware hierarchy (:mod:`routing.turns`).

A plus-shaped junction of four 100 m two-way arms, built as an osmnx-like graph so that the
restrictions go through the same resolution (OSM way ids -> banned edge pairs) as an import.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import shapely

from routing import RoadGraph
from routing._io import barrier_kind, turn_restriction
from routing.graph import arrays_from_osmnx
from routing.speeds import SpeedDefaults, edge_speed_kmh
from routing.traveltime import turn_costs_s
from routing.turns import TurnCosts
from tests.unit.conftest_routing import *  # noqa: F403 (session fixtures)

C, N, S, E, W = 10, 11, 12, 13, 14  # OSM node ids
WAY = {N: 101, S: 102, E: 103, W: 104}
LAT, LON = 60.0, 30.0
ARM = {N: (0.0009, 0.0), S: (-0.0009, 0.0), E: (0.0, 0.0018), W: (0.0, -0.0018)}


def _plus(
    restrictions: list[tuple[str, int, int, int]] | None = None,
    barriers: list[tuple[float, float, str]] | None = None,
) -> RoadGraph:
    g = nx.MultiDiGraph()
    g.add_node(C, x=LON, y=LAT)
    for node, (dlat, dlon) in ARM.items():
        g.add_node(node, x=LON + dlon, y=LAT + dlat)
        mid = (LON + dlon / 2, LAT + dlat / 2)  # a shape point half-way along the arm
        for u, v in ((C, node), (node, C)):
            line = [(g.nodes[u]["x"], g.nodes[u]["y"]), mid, (g.nodes[v]["x"], g.nodes[v]["y"])]
            g.add_edge(
                u, v, length=100.0, highway="residential", osmid=WAY[node],
                geometry=shapely.LineString(line),
            )  # fmt: skip
    g.graph["turn_restrictions"] = restrictions or []
    g.graph["barriers"] = barriers or []
    arrays = arrays_from_osmnx(g, SpeedDefaults())
    return RoadGraph.from_arrays(arrays, {"turns": TurnCosts().as_dict()})


def _turn(angle: float, *, junction: bool = True, u_turn: bool = False) -> float:
    c = TurnCosts()
    return float(
        turn_costs_s(
            np.array([angle]),
            np.array([junction]),
            np.array([u_turn]),
            turn_penalty_s=c.turn_penalty_s,
            turn_bias=c.turn_bias,
            u_turn_penalty_s=c.u_turn_penalty_s,
            oncoming_turn_penalty_s=c.oncoming_turn_penalty_s,
        )[0]
    )


def _idx(g: RoadGraph, osm_id: int) -> int:
    return int(g.node_index([osm_id])[0])


def _steps(route_nodes: list[int]) -> set[tuple[int, int, int]]:
    return set(zip(route_nodes, route_nodes[1:], route_nodes[2:], strict=False))


def test_a_left_turn_costs_more_than_a_right_one():
    g = _plus()
    edge = float(g.edge_time_s[0])  # all arms alike
    right = g.route_nodes(_idx(g, S), _idx(g, E))  # northbound, then east
    left = g.route_nodes(_idx(g, S), _idx(g, W))
    assert right.nodes == [S, C, E] and left.nodes == [S, C, W]
    assert right.duration_s == pytest.approx(2 * edge + _turn(90.0))
    assert left.duration_s == pytest.approx(2 * edge + _turn(-90.0))
    assert left.duration_s - right.duration_s > 3.0  # OSRM's bias plus crossing oncoming traffic
    straight = g.travel_time(_idx(g, S), _idx(g, N))
    assert straight < right.duration_s


def test_a_u_turn_costs_its_penalty():
    assert _turn(180.0, junction=False, u_turn=True) == pytest.approx(
        20.0 + 7.5 / (1 + np.exp(-(13 / 1.075 - 6.5 * 1.075)))
    )
    assert _turn(30.0, junction=False) == 0.0  # a bend between two roads costs nothing
    g = _plus([("only", WAY[S], C, WAY[N])])
    route = g.route_nodes(_idx(g, S), _idx(g, E))
    # straight on to the dead end N, turn back there, then left into E
    assert route.nodes == [S, C, N, C, E]
    edge = float(g.edge_time_s[0])
    expected = 4 * edge + _turn(0.0) + _turn(180.0, junction=False, u_turn=True) + _turn(-90.0)
    assert route.duration_s == pytest.approx(expected)
    assert route.duration_s > 4 * edge + 20.0


def test_no_left_turn_is_obeyed():
    free = _plus()
    g = _plus([("no", WAY[S], C, WAY[W])])
    assert g.banned_count == 1 and free.banned_count == 0
    route = g.route_nodes(_idx(g, S), _idx(g, W))
    assert (S, C, W) not in _steps(route.nodes)
    assert route.duration_s > free.travel_time(_idx(free, S), _idx(free, W)) + 20.0
    m = g.matrix_nodes([_idx(g, S)], [_idx(g, W), _idx(g, E)]).duration_s
    assert m[0, 0] == pytest.approx(route.duration_s)
    assert m[0, 1] == pytest.approx(free.travel_time(_idx(free, S), _idx(free, E)))  # unaffected


def test_only_straight_on_is_obeyed():
    g = _plus([("only", WAY[S], C, WAY[N])])
    for target in (E, W):
        route = g.route_nodes(_idx(g, S), _idx(g, target))
        assert (S, C, target) not in _steps(route.nodes)
        assert route.nodes[:3] == [S, C, N]
    # the restriction binds only the approach from S: from W, turning into S is fine
    assert g.route_nodes(_idx(g, W), _idx(g, S)).nodes == [W, C, S]


def test_a_ban_that_would_trap_a_vehicle_is_dropped():
    # no U-turn at the dead end N: a vehicle that drove in could never leave
    g = _plus([("no", WAY[N], N, WAY[N]), ("no", WAY[S], C, WAY[W])])
    assert g.meta["banned_turns_dropped"] == 1 and g.banned_count == 1  # the left ban stays
    route = g.route_nodes(_idx(g, S), _idx(g, W))
    assert (S, C, W) not in _steps(route.nodes)
    assert np.isfinite(g.matrix_nodes(np.arange(5), np.arange(5)).duration_s).all()


def test_a_node_to_itself_costs_nothing():
    g = _plus()
    assert g.travel_time(_idx(g, C), _idx(g, C)) == 0.0
    assert g.fastest_path(_idx(g, C), _idx(g, C)) == (0.0, [C])
    assert g.route_nodes(_idx(g, C), _idx(g, C)).nodes == [C]
    assert g.matrix_nodes([0, 1], [0, 1]).duration_s[[0, 1], [0, 1]].tolist() == [0.0, 0.0]
    with pytest.raises(IndexError):
        g.fastest_path(0, g.node_count)


@pytest.mark.parametrize(
    ("tags", "members", "expected"),
    [
        (
            {"type": "restriction", "restriction": "no_left_turn"},
            [("w", 1, "from"), ("n", 5, "via"), ("w", 2, "to")],
            ("no", 1, 5, 2),
        ),
        (
            {"type": "restriction", "restriction": "only_straight_on"},
            [("w", 1, "from"), ("n", 5, "via"), ("w", 2, "to")],
            ("only", 1, 5, 2),
        ),
        (
            {"type": "restriction", "restriction:motorcar": "no_u_turn"},
            [("w", 1, "from"), ("n", 5, "via"), ("w", 1, "to")],
            ("no", 1, 5, 1),
        ),
        (
            {"type": "restriction", "restriction": "no_left_turn"},
            [("w", 1, "from"), ("w", 7, "via"), ("w", 2, "to")],
            "via_way",
        ),
        (
            {"type": "restriction", "restriction": "no_left_turn", "except": "psv;motorcar"},
            [("w", 1, "from"), ("n", 5, "via"), ("w", 2, "to")],
            None,
        ),
        ({"type": "restriction"}, [("w", 1, "from"), ("n", 5, "via"), ("w", 2, "to")], None),
        ({"type": "restriction", "restriction": "no_right_turn"}, [("n", 5, "via")], None),
    ],
)
def test_turn_restriction_relations(tags, members, expected):
    assert turn_restriction(tags, members) == expected


def test_courtyard_service_ways_are_slower():
    d = SpeedDefaults()
    assert edge_speed_kmh("service", None, None, d) == 20.0
    for sub in ("alley", "parking_aisle", "driveway"):
        assert edge_speed_kmh("service", None, None, d, sub) == 10.0
    assert edge_speed_kmh("service", "40", None, d, ["driveway", "alley"]) == 20.0
    assert edge_speed_kmh("service", None, None, d, "emergency_access") == 20.0
    assert SpeedDefaults.from_mapping({"service_factor": {"alley": 0.8}}).service_factor[
        "alley"
    ] == pytest.approx(0.8)
    assert SpeedDefaults.from_mapping({"turn_aware": False}).turn_aware is False
    # the settings' map_speeds is dict[str, float]: flags as 0/1, tables as flat keys
    flat = SpeedDefaults.from_mapping({"turn_aware": 0.0, "service_factor.alley": 0.7})
    assert flat.turn_aware is False and flat.service_factor["alley"] == pytest.approx(0.7)
    assert flat.service_factor["driveway"] == 0.5
    assert SpeedDefaults.from_mapping({"barrier_s.gate": 30}).barrier_s["gate"] == 30.0
    with pytest.raises(ValueError, match="turn_aware"):
        SpeedDefaults.from_mapping({"turn_aware": "no"})
    with pytest.raises(ValueError, match="turn_aware"):
        SpeedDefaults.from_mapping({"turn_aware": 2})


def test_restrictions_are_read_at_import(heidelberg):
    # Heidelberg (real OSM): restrictions via a node become banned edge pairs
    assert heidelberg.meta["turn_restrictions"] > 0
    assert heidelberg.banned_count > 0
    assert heidelberg.meta["turn_restrictions_via_way"] >= 0
    # the extract's border cuts some restricted streets: those bans are dropped, not the roads
    assert 0 <= heidelberg.meta["banned_turns_dropped"] < heidelberg.meta["banned_turns"] / 10


def test_a_gate_costs_osrms_barrier_penalty():
    dlat, dlon = ARM[N]
    free = _plus()
    gated = _plus(barriers=[(LON + dlon, LAT + dlat, "gate"), (LON, LAT + 0.0004, "bollard")])
    c, n = _idx(free, C), _idx(free, N)
    assert gated.travel_time(c, n) == pytest.approx(free.travel_time(c, n) + 60.0)
    assert gated.travel_time(n, c) == pytest.approx(free.travel_time(n, c))  # counted on entry


def test_a_bollard_blocks_the_road_it_stands_on():
    dlat, dlon = ARM[E]
    g = _plus(barriers=[(LON + dlon / 2, LAT + dlat / 2, "impassable")])
    assert E not in g.node_id.tolist() and g.node_count == 4  # the arm behind it is cut off
    assert g.route_nodes(_idx(g, S), _idx(g, W)).nodes == [S, C, W]


@pytest.mark.parametrize(
    ("tags", "kind"),
    [
        ({"barrier": "gate"}, "gate"),
        ({"barrier": "lift_gate"}, "lift_gate"),
        ({"barrier": "bollard"}, "impassable"),
        ({"barrier": "bollard", "bollard": "rising"}, "bollard"),
        ({"barrier": "bollard", "motor_vehicle": "yes"}, None),
        ({"barrier": "kerb", "kerb": "lowered"}, "kerb"),
        ({"barrier": "entrance"}, "entrance"),
        ({"barrier": "gate", "access": "private"}, None),  # restricted, not barred (OSRM)
        ({"barrier": "gate", "access": "no"}, "impassable"),
        ({"highway": "crossing"}, None),
    ],
)
def test_barriers_as_osrm_reads_them(tags, kind):
    assert barrier_kind(tags) == kind
