"""The binary COPY rows of a batch, built with numpy (no database needed)."""


def test_newest_plausible_fix_per_vehicle_for_the_live_map():
    import numpy as np

    from telemetry.pipeline import Positions
    from telemetry.store import copy_binary, newest_plausible

    vid = np.array([2, 1, 2, 1, 2, 3])
    ts = np.array([30, 10, 10, 20, 20, 5])
    flags = np.array([True, False, False, False, False, True])  # vehicle 3: only implausible
    num = np.tile([59.9, 30.3, np.nan, 1.0, np.nan, np.nan, np.nan, 7.0], (6, 1))
    num[0, 2] = 50.0  # a second layout group (speed present)
    p = Positions(vid, ts, num, np.zeros(6, bool), flags)
    order = np.lexsort((ts, vid))
    assert newest_plausible(p, order).tolist() == [False, False, False, True, True, False]
    data, in_order = copy_binary(p)
    assert data.startswith(b"PGCOPY\n\xff\r\n\x00") and data.endswith(b"\xff\xff")
    assert not in_order  # two layouts: the INSERT sorts
    one = Positions(vid[1:], ts[1:], num[1:], np.zeros(5, bool), flags[1:])
    assert copy_binary(one)[1]
