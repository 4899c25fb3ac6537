"""The travel-time model: speed factor, traffic signals, junctions (routing/traveltime.py)."""

from __future__ import annotations

import numpy as np
import pytest

from routing.speeds import SpeedDefaults
from routing.traveltime import edge_times_s, junction_heads, signals_per_edge
from tests.unit.conftest_routing import *  # noqa: F403 (session fixtures)


def test_signals_counted_on_the_edge_that_passes_them_not_the_one_leaving() -> None:
    # edge 0: A(0,0) -> S(1,0) -> B(2,0); edge 1: B -> C; edge 2: S -> D (starts at the signal)
    geom_ptr = np.array([0, 3, 5, 7])
    lon = np.array([30.0, 30.001, 30.002, 30.002, 30.003, 30.001, 30.001])
    lat = np.array([60.0, 60.0, 60.0, 60.0, 60.0, 60.0, 60.001])
    got = signals_per_edge(geom_ptr, lon, lat, np.array([30.001]), np.array([60.0]))
    assert got.tolist() == [1, 0, 0]


def test_no_signals_gives_zeros() -> None:
    got = signals_per_edge(np.array([0, 2]), np.zeros(2), np.zeros(2), np.empty(0), np.empty(0))
    assert got.tolist() == [0]


def test_junction_is_a_node_with_more_than_two_neighbours() -> None:
    # star: 0 - 1, 1 - 2, 1 - 3 (both directions); chain node 2 -> 4
    u = np.array([0, 1, 1, 2, 1, 3, 2, 4])
    v = np.array([1, 0, 2, 1, 3, 1, 4, 2])
    heads = junction_heads(u, v, 5)
    assert heads.tolist() == [True, False, False, True, False, True, False, False]


def test_edge_time_adds_the_delays_to_the_driven_time() -> None:
    t = edge_times_s(
        np.array([1000.0, 0.0]), np.array([60.0, 60.0]), np.array([2, 0]), np.array([True, False]),
        speed_factor=0.8, traffic_signal_s=2.0, junction_s=1.0,
    )  # fmt: skip
    assert t[0] == pytest.approx(1000 / (48 / 3.6) + 4.0 + 1.0)
    assert t[1] == pytest.approx(0.1 / (48 / 3.6))  # a zero-length edge still costs something


def test_the_model_is_part_of_the_speed_settings() -> None:
    d = SpeedDefaults.from_mapping({"speed_factor": 0.9, "junction_s": 0})
    assert (d.speed_factor, d.junction_s, d.traffic_signal_s) == (0.9, 0.0, 2.0)
    assert d.fingerprint() != SpeedDefaults().fingerprint()  # a change rebuilds the cached graph
    with pytest.raises(ValueError, match="speed_factor"):
        SpeedDefaults(speed_factor=0)
    with pytest.raises(ValueError, match="must not be negative"):
        SpeedDefaults(traffic_signal_s=-1)


def test_imported_graph_charges_heidelberg_signals(heidelberg) -> None:  # type: ignore[no-untyped-def]
    g = heidelberg
    free = np.maximum(g.edge_length_m, 0.1) / (g.edge_speed_kmh.astype(float) * 0.8 / 3.6)
    extra = g.edge_time_s - free
    # every edge pays at least nothing; signals (2 s) and junctions (1 s) show up as delays
    assert extra.min() > -1e-6
    assert (extra > 1.5).sum() > 300  # Heidelberg has ~530 signal nodes on its roads
