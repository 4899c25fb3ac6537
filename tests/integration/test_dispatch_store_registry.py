"""The fleet registries' store against real PostgreSQL."""

from __future__ import annotations

import psycopg
import pytest

from dispatch.errors import Conflict
from dispatch.store import registry as rstore


@pytest.fixture
def conn(db_url):
    with psycopg.connect(db_url) as c:  # a transaction, as the pool gives the services
        yield c


def test_duplicates_are_refused_before_the_database_sees_them(conn):
    """A duplicate licence number (a driver's personal data) is found by a query, never by a
    unique violation whose DETAIL the server would log: the transaction is not even aborted."""
    carrier = rstore.insert(conn, table="carriers", values={"name": "ООО Такси"})
    values = {"carrier_id": carrier.id, "full_name": "Петров Пётр", "license_no": "47 12 345678"}
    first = rstore.insert(conn, table="drivers", values=values)
    with pytest.raises(Conflict, match="удостоверения"):
        rstore.insert(conn, table="drivers", values=values | {"full_name": "Двойник"})
    other = rstore.insert(
        conn,
        table="drivers",
        values=values | {"license_no": "47 00 000001", "full_name": "Сидоров"},
    )
    with pytest.raises(Conflict, match="удостоверения"):
        rstore.update(conn, table="drivers", row_id=other.id, values={"license_no": "47 12 345678"})
    assert rstore.update(
        conn, table="drivers", row_id=first.id, values={"license_no": "47 12 345678"}
    )
    vehicle = {"carrier_id": carrier.id, "plate": "А123ВС47", "vehicle_type": "car", "seats": 4,
               "mqtt_id": "car-1"}  # fmt: skip
    rstore.insert(conn, table="vehicles", values=vehicle)
    with pytest.raises(Conflict, match="госномером"):
        rstore.insert(conn, table="vehicles", values=vehicle | {"mqtt_id": "car-2"})
    with pytest.raises(Conflict, match="MQTT"):
        rstore.insert(conn, table="vehicles", values=vehicle | {"plate": "В456ОР47"})
    assert conn.execute("SELECT count(*) FROM drivers").fetchone() == (2,)
