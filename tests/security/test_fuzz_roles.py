"""Item 9: the existing Hypothesis/schemathesis driver (tests/integration/api/
test_api_schemathesis.py) over every operation with each role's token — the region's five
roles and carrier A's staff: no request may produce a 5xx, and no response to carrier A's staff
may contain anything of carrier B or of a passenger no carrier drives. Bounded: a few generated
requests per operation and role."""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error

from tests.conftest import _drop, pg_url
from tests.integration.api.conftest import ROLES, fresh_sessions, make_api
from tests.security.test_carrier_scope import B_MARKERS, build_world

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLES = int(os.environ.get("ST_SECURITY_FUZZ_EXAMPLES", "3"))
CARRIER_STAFF = ("a_disp", "a_all")


@pytest.fixture(scope="module")
def fuzz_world(template_db, murino_graph, password_hash):
    name = f"st_secfuzz_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    gen = make_api(pg_url(name), murino_graph, password_hash)
    try:
        api = next(gen)
        world = build_world(api)
        yield api, world
    finally:
        gen.close()
        _drop(name)


def test_every_operation_with_every_role(fuzz_world):
    api, _world = fuzz_world
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", api.client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 50
    failures: list[str] = []
    for op in operations:
        # accounts as they were and fresh sessions (examples log out, deactivate, change roles)
        tokens = fresh_sessions(api.db_url, now=api.clock.now)
        for who in (*ROLES, *CARRIER_STAFF):
            try:
                _runner(op, who, {"Authorization": f"Bearer {tokens[who]}"})()
            except BaseException as exc:  # noqa: BLE001 - collect every failure
                failures.append(f"{op.label} as {who}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)


def _runner(op, who: str, headers: dict[str, str]):
    @given(case=op.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case):
        response = case.call(headers=headers)
        case.validate_response(response, checks=[not_a_server_error])
        if who in CARRIER_STAFF:
            text = response.content.decode("utf-8", "replace")
            leaked = [m for m in B_MARKERS if m in text]
            assert not leaked, (who, case.path, leaked)

    return run
