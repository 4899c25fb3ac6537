"""The request's transaction is committed before the response is sent."""

from __future__ import annotations

import psycopg


def test_a_failed_commit_is_not_reported_as_success(api, monkeypatch):
    """If the commit fails, the client must not have been told "201 Created" already."""

    def failing_commit(self: psycopg.Connection) -> None:
        raise psycopg.OperationalError("connection lost at commit")

    monkeypatch.setattr(psycopg.Connection, "commit", failing_commit)
    r = api.post("carriers", json={"name": "ООО Ромашка"})
    monkeypatch.undo()
    assert r.status_code == 503, r.text
    with psycopg.connect(api.db_url) as conn:
        assert conn.execute("SELECT count(*) FROM carriers").fetchone() == (0,)
