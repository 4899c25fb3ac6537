"""Seeded synthetic tracks (``routing.tracks``) used by the matcher's tests and bench."""

from __future__ import annotations

import numpy as np
import pytest

from routing.matching import _index
from routing.tracks import drive, random_route
from tests.unit.conftest_routing import *  # noqa: F403 (session fixtures)


def test_random_route_is_a_connected_path_without_u_turns(murino):
    g = murino
    edges = random_route(g, np.random.default_rng(4), min_length_m=5_000.0)
    assert g.edge_length_m[edges].sum() >= 5_000.0
    assert np.array_equal(g.edge_u[edges[1:]], g.edge_v[edges[:-1]])
    back = (g.edge_u[edges[1:]] == g.edge_v[edges[:-1]]) & (
        g.edge_v[edges[1:]] == g.edge_u[edges[:-1]]
    )
    assert not back.any()


@pytest.mark.parametrize("correlation_s", [0.0, 30.0])
def test_drive_noise_and_truth(heidelberg, correlation_s):
    g = heidelberg
    rng = np.random.default_rng(1)
    edges = random_route(g, rng, min_length_m=20_000.0)
    clean = drive(g, edges, np.random.default_rng(2), interval_s=1.0, sigma_m=0.0)
    noisy = drive(
        g, edges, np.random.default_rng(2), interval_s=1.0, sigma_m=10.0,
        correlation_s=correlation_s,
    )  # fmt: skip
    assert clean.length_m == pytest.approx(float(g.edge_length_m[edges].sum()))
    assert clean.along_m[0] == 0.0 and clean.along_m[-1] == pytest.approx(clean.length_m)
    assert np.all(np.diff(clean.t_s) <= 1.0 + 1e-9) and np.all(np.diff(clean.along_m) >= 0)
    tr = _index(g).tr
    cx, cy = tr.transform(clean.lon, clean.lat)
    nx_, ny_ = tr.transform(noisy.lon, noisy.lat)
    e = np.asarray(nx_) - np.asarray(cx)
    # correlated noise has fewer independent samples: a looser bound on its spread
    assert np.std(e) == pytest.approx(10.0, rel=0.2 if correlation_s else 0.05)
    lag1 = np.corrcoef(e[:-1], e[1:])[0, 1]
    if correlation_s:
        assert lag1 == pytest.approx(np.exp(-1 / correlation_s), abs=0.03)
    else:
        assert abs(lag1) < 0.05
