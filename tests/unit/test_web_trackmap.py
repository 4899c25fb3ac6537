"""The finding page's track shaping: speeds from fixes, matched lines split at their breaks."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from web.pages.trackmap import polylines, speeds_kmh, track_json


def test_speed_over_the_window_is_the_driven_speed():
    t = np.arange(0.0, 60.0)  # 1 Hz
    x = t * 10.0  # 10 m/s = 36 km/h
    y = np.zeros_like(t)
    v = speeds_kmh(t, x, y)
    assert np.allclose(v, 36.0)
    # standing still after a stop: 0, not NaN
    assert speeds_kmh(t, np.zeros_like(t), y).max() == 0.0


def test_speed_of_sparse_fixes_uses_the_neighbours_and_one_fix_has_none():
    t = np.array([0.0, 30.0, 60.0])
    x = np.array([0.0, 300.0, 300.0])
    v = speeds_kmh(t, x, np.zeros(3))
    assert round(v[0]) == 36 and round(v[2]) == 0
    assert np.isnan(speeds_kmh(np.array([5.0]), np.zeros(1), np.zeros(1))).all()


def test_polylines_split_at_nan_and_drop_single_points():
    lat = np.array([60.0, 60.001, np.nan, 60.01, np.nan, 60.02, 60.021, 60.022])
    lon = np.full(8, 30.4)
    lines = polylines(lat, lon)
    assert [len(line) for line in lines] == [2, 3]
    assert lines[1][0] == [60.02, 30.4]
    assert polylines(np.array([np.nan]), np.array([np.nan])) == []


def test_track_json_times_are_after_the_first_fix_and_speed_may_be_null():
    part = SimpleNamespace(
        part="passenger", lat=np.array([60.0, 60.001]), lon=np.array([30.4, 30.4]),
        length_m=111.2, fixes=2, matched_fixes=2,
    )  # fmt: skip
    tr = SimpleNamespace(
        t_s=np.array([1000.0, 1001.0]), lat=np.array([60.0, 60.0001]),
        lon=np.array([30.4, 30.4]), x_m=np.array([0.0, 11.0]), y_m=np.zeros(2),
        start_s=1000.0, board_s=None, end_s=1001.0, matched=(part,), notes=("n",),
    )  # fmt: skip
    out = track_json(tr)
    assert out["t0"] == 1000.0 and out["raw"]["t"] == [0.0, 1.0]
    assert out["raw"]["speed_kmh"] == [40.0, 40.0]
    assert out["board"] is None and out["end"] == 1.0
    assert out["matched"][0]["points"] == 2 and out["notes"] == ["n"]
    one = SimpleNamespace(**(tr.__dict__ | {"t_s": np.array([1000.0]), "lat": np.array([60.0]),
                                            "lon": np.array([30.4]), "x_m": np.zeros(1),
                                            "y_m": np.zeros(1), "matched": ()}))  # fmt: skip
    assert track_json(one)["raw"]["speed_kmh"] == [None]
