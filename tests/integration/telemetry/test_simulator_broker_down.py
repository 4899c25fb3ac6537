"""``socialtaxi simulate`` with the broker down: one clear line, the fleet keeps going, and what
it buffered reaches the broker once it is up (a device's behaviour)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import orjson

from routing import RoadGraph
from routing.synthetic import grid_network
from simulators.scenarios import ScenarioOptions, generate

from .conftest import OwnBroker


def test_broker_down_then_up_everything_is_delivered(rules, tmp_path):
    grid = RoadGraph.from_arrays(grid_network(14, seed=3, spacing_m=170.0))
    doc = generate(grid, rules, ScenarioOptions(trips=2, seed=1, kinds=("honest",)))
    path = tmp_path / "s.json"
    path.write_bytes(orjson.dumps(doc))
    expected = sum(len(t["fixes"]) + len(t["events"]) for t in doc["trips"])
    broker = OwnBroker()  # not started: the simulator comes first
    env = {
        **os.environ,
        "SOCIALTAXI_MQTT_PORT": str(broker.port),
        "SOCIALTAXI_MQTT_TOPIC_PREFIX": f"t-{broker.port}/socialtaxi/v1",
        "SOCIALTAXI_MAP_CACHE_DIR": str(tmp_path / "cache"),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "socialtaxi",
            "simulate",
            "--scenario",
            str(path),
            "--speed",
            "100000",
            "--lookback",
            "1440",
        ],  # fmt: skip
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 120
        assert proc.stderr is not None
        while time.monotonic() < deadline:  # until it says the broker is down
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            if "недоступен" in line:
                break
        assert proc.poll() is None, "".join(seen)
        time.sleep(1)  # it keeps publishing into its buffer meanwhile
        broker.start()
        out, rest = proc.communicate(timeout=120)
        err = "".join(seen) + rest
    finally:
        if proc.poll() is None:
            proc.kill()
        broker.stop()
    assert proc.returncode == 0, err
    assert err.count("недоступен") == 1, err
    assert "Traceback" not in err
    acked = re.search(r"подтверждено брокером ([\d,]+)", out)
    assert acked and int(acked.group(1).replace(",", "")) == expected, out
