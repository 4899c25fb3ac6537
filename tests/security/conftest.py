"""The security suite (issue 9): each hole found by probing the system as an attacker has a test
here that failed before its fix. Runs with the normal ``pytest -q`` against the real PostgreSQL
and Mosquitto, reusing the API fixtures."""

from __future__ import annotations

from tests.integration.api.conftest import (  # noqa: F401  (fixtures)
    api,
    murino_graph,
    password_hash,
)
from tests.integration.telemetry.conftest import fleet  # noqa: F401  (fixture)
