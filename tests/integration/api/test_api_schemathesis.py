"""Property-based run of the whole OpenAPI document against the ASGI app (schemathesis):
authenticated as a user holding every role, a bounded number of examples per operation, against
a database with some real data; no request may produce a 5xx, and 2xx bodies must match their
declared schema."""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.conftest import _drop, pg_url, sample_pdf
from tests.integration.api.conftest import (
    fresh_sessions,
    make_api,
    seed_basics,
    set_position,
    trip_body,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzz_api(template_db, murino_graph, password_hash):
    name = f"st_fuzz_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    try:
        gen = make_api(pg_url(name), murino_graph, password_hash)
        api = next(gen)
        ids = seed_basics(api)
        set_position(api.db_url, ids["car"], 60.055, 30.46)
        t = api.ok("POST", "trips", 201, json=trip_body(ids))
        api.ok(
            "POST",
            f"trips/{t['id']}/documents",
            201,
            files={"file": ("a.pdf", sample_pdf(), "x/y")},
        )
        yield api
        gen.close()
    finally:
        _drop(name)


MAX_EXAMPLES = int(os.environ.get("ST_FUZZ_EXAMPLES", "12"))  # 60 found nothing more either


def test_no_server_errors(fuzz_api):
    """Every operation, ``MAX_EXAMPLES`` generated requests each (positive and negative data).

    (Driven through Hypothesis directly: schemathesis' pytest fixture loader does not support
    pytest 9 yet.)
    """
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", fuzz_api.client.app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 45
    for op in operations:
        # logout, password change, deactivation, role change end sessions: start each
        # operation with the accounts as they were and a fresh session
        token = fresh_sessions(fuzz_api.db_url)["boss"]
        headers = {"Authorization": f"Bearer {token}"}

        @given(case=op.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
        def run(case):
            response = case.call(headers=headers)  # noqa: B023 - called in this iteration
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )

        try:
            run()
        except BaseException as exc:  # noqa: BLE001 - collect every operation's failure
            failures.append(f"{op.label}: {str(exc)[:2000]}")
    assert not failures, "\n\n".join(failures)
