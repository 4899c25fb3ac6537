"""The code stays ruff-clean and mypy-clean (STYLE.md habit 7)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = [
    "config",
    "socialtaxi",
    "dispatch",
    "web",
    "telemetry",
    "routing",
    "audit",
    "simulators",
]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600
    )


def test_ruff():
    res = _run("ruff", "check", ".", "--exclude", ".venv")
    assert res.returncode == 0, res.stdout + res.stderr


def test_mypy(tmp_path):
    res = _run("mypy", "--cache-dir", str(tmp_path / "mypy"), *PACKAGES)
    assert res.returncode == 0, res.stdout + res.stderr
