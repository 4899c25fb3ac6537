"""Pure domain modules (rules, geometry, tariffs, quotas, decoders) import no I/O libraries and
not the settings object (STYLE.md habits 1, 2 and 6)."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = (
    "psycopg",
    "psycopg_pool",
    "paho",
    "fastapi",
    "starlette",
    "folium",
    "uvicorn",
    "config.settings",
    "requests",
    "httpx",
)

PURE_MODULES = [
    "config/rules.py",
    "socialtaxi/demo_data.py",
    "dispatch/lifecycle.py",
    "dispatch/errors.py",
    "dispatch/identity.py",
    "dispatch/tariff.py",
    "dispatch/quota.py",
    "dispatch/eligibility.py",
    "dispatch/recurrence.py",
    "dispatch/planner.py",
    "dispatch/search.py",
    "dispatch/imports.py",
    "dispatch/documents.py",
    "dispatch/payments.py",
    "dispatch/models.py",
    "telemetry/decode.py",
    "telemetry/encode.py",
    "simulators/motion.py",
    "simulators/gps.py",
    "simulators/scenarios.py",
    "telemetry/model.py",
    "telemetry/pipeline.py",
    "telemetry/plausibility.py",
    "telemetry/events.py",
    "routing/speeds.py",
    "routing/paths.py",
    "routing/ch.py",
    "routing/graph.py",
    "routing/osmfilter.py",
    "routing/synthetic.py",
    "routing/errors.py",
]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_imports_no_io(module):
    path = REPO / module
    assert path.exists(), f"{module} is listed as pure but does not exist"
    bad = {n for n in _imports(path) if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)}
    assert not bad, f"{module} imports {sorted(bad)}"
