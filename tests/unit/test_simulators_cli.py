"""``socialtaxi simulate scenarios`` on the shipped map: the same seed writes the same file byte
for byte, every kind is present and labelled; bad input is one clear line."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest

from simulators.scenarios import HARD_NEGATIVES, KINDS, QUOTA_KINDS


def _run(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SOCIALTAXI_MAP_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run(
        [sys.executable, "-m", "socialtaxi", "simulate", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


@pytest.mark.slow
def test_same_seed_same_scenario_file_on_the_shipped_map(tmp_path):
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    n = str(len(KINDS) + 2)  # the quota kinds come as one group of six (a limit of four)
    for out, seed in ((a, "21"), (b, "21"), (c, "22")):
        res = _run(tmp_path, "scenarios", "--trips", n, "--seed", seed, "--out", str(out))
        assert res.returncode == 0, res.stderr
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    doc = orjson.loads(a.read_bytes())
    assert (
        doc["generator"]["map"] == "murino_lo.osm.gz" and len(doc["generator"]["map_sha256"]) == 64
    )
    group = ["quota_history"] * 3 + ["quota_at_limit", "over_quota", "quota_override"]
    expected = [k for k in KINDS if k not in QUOTA_KINDS]
    at = KINDS.index("over_quota")  # the first quota kind in turn brings the group
    assert [t["kind"] for t in doc["trips"]] == expected[:at] + group + expected[at:]
    for t in doc["trips"]:
        flagged = {r for r, v in t["truth"].items() if v}
        if t["kind"] in HARD_NEGATIVES or t["kind"] == "honest":
            assert flagged == set(), (t["kind"], flagged)
        else:
            assert flagged, t["kind"]


@pytest.mark.slow
def test_bad_map_and_bad_scenario_are_one_line_each(tmp_path):
    bad = tmp_path / "broken.osm"
    bad.write_text("<osm><this is not xml")
    res = _run(tmp_path, "scenarios", "--map", str(bad), "--out", str(tmp_path / "x.json"))
    assert res.returncode == 1
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("Ошибка")]
    assert len(lines) == 1 and "карт" in lines[0], res.stderr
    assert "Traceback" not in res.stderr
    res = _run(tmp_path, "--scenario", str(tmp_path / "missing.json"))
    assert res.returncode == 1
    assert "сценарий не прочитать" in res.stderr and "Traceback" not in res.stderr
