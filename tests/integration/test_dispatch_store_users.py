"""Users' store against real PostgreSQL: creating never resets, upserting does."""

from __future__ import annotations

import psycopg
import pytest

from dispatch.errors import Conflict
from dispatch.store import users as ustore


def test_create_refuses_an_existing_login_and_upsert_resets_it(db_url):
    with psycopg.connect(db_url) as conn:
        u = ustore.create_user(conn, login="ivanova", full_name="Иванова А. А.",
                               password_hash="h1", roles=["operator", "dispatcher"])  # fmt: skip
        assert u.login == "ivanova" and sorted(u.roles) == ["dispatcher", "operator"]
        conn.commit()
        with pytest.raises(Conflict):
            ustore.create_user(conn, login="ivanova", full_name="Другая",
                               password_hash="h2", roles=["admin"])  # fmt: skip
        conn.rollback()
        assert ustore.get_user_with_hash(conn, login="ivanova")[1] == "h1"  # type: ignore[index]
        ustore.set_active(conn, user_id=u.id, active=False)
        again = ustore.upsert_user(conn, login="ivanova", full_name="Иванова А. Б.",
                                   password_hash="h3", roles=["controller"])  # fmt: skip
        assert again.id == u.id and again.full_name == "Иванова А. Б." and again.active
        assert list(again.roles) == ["controller"]
        assert ustore.get_user_with_hash(conn, login="ivanova")[1] == "h3"  # type: ignore[index]
