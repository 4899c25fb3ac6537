"""Unit tests of the pages' pure parts: the wizard's form parsing and refusal placement, the
destination filter, the weekly chart, the live map's join, lateness, the base map lines, CSRF
tokens, safe "next" paths and money formatting."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import numpy as np
import pytest

from dispatch.models import SocialObject
from web.pages.auth import _local_path
from web.pages.basemap import road_lines
from web.pages.charts import weekly_chart, weekly_counts
from web.pages.dispatcher import lateness_s
from web.pages.forms import Errors, default_return, find_objects, local_pickup, trip_request
from web.pages.live import vehicle_states
from web.pages.render import rub
from web.pages.session import csrf_for, login_url

TZ = "Europe/Moscow"


def _obj(i: int, name: str, otype: str = "medical", active: bool = True) -> SocialObject:
    return SocialObject(
        id=i, name=name, object_type=otype, address=f"Мурино, ул. Ёлочная, {i}", lat=60.05,
        lon=30.45, geofence=None, radius_m=150.0, active=active,
    )  # fmt: skip


OBJECTS = [
    _obj(1, "Муринская поликлиника"),
    _obj(2, "МФЦ Мурино", "mfc"),
    _obj(3, "Старая поликлиника", active=False),
]


def test_local_pickup_is_the_regions_time_as_utc():
    assert local_pickup("2026-03-17", "10:00", TZ) == datetime(2026, 3, 17, 7, 0, tzinfo=UTC)
    assert local_pickup("17.03.2026", "10:30", TZ) == datetime(2026, 3, 17, 7, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="Укажите дату подачи"):
        local_pickup("31.02.2026", "10:00", TZ)
    with pytest.raises(ValueError, match="Укажите время подачи"):
        local_pickup("2026-03-17", "25:00", TZ)


def test_trip_request_home_object_and_address():
    base = {"pickup_date": "2026-03-17", "pickup_time": "10:00", "destination_id": "2"}
    req, errors = trip_request(
        {**base, "pickup_kind": "home", "companions": "1", "comment": " домофон "},
        passenger_id=5, objects=OBJECTS, tz=TZ, need_destination=True,
    )  # fmt: skip
    assert not errors and req is not None
    assert (req.passenger_id, req.destination_id, req.companions, req.comment) == (
        5,
        2,
        1,
        "домофон",
    )
    assert req.pickup_lat is None  # home: the service takes the passenger's address
    req, _ = trip_request(
        {**base, "pickup_kind": "object", "pickup_object_id": "1"},
        passenger_id=5, objects=OBJECTS, tz=TZ, need_destination=True,
    )  # fmt: skip
    assert req is not None and req.pickup_address == "Мурино, ул. Ёлочная, 1"
    req, _ = trip_request(
        {**base, "pickup_kind": "address", "pickup_address": "Мурино, 5", "pickup_lat": "60,051",
         "pickup_lon": "30.452"},
        passenger_id=5, objects=OBJECTS, tz=TZ, need_destination=True,
    )  # fmt: skip
    assert req is not None and (req.pickup_lat, req.pickup_lon) == (60.051, 30.452)


def test_trip_request_refusals_land_next_to_their_fields():
    _, errors = trip_request(
        {"pickup_kind": "address", "pickup_date": "x", "pickup_time": "10:00",
         "companions": "-1"},
        passenger_id=5, objects=OBJECTS, tz=TZ, need_destination=True,
    )  # fmt: skip
    assert errors.fields == {
        "pickup_address": "Введите адрес подачи",
        "pickup_time": "Укажите дату подачи (ДД.ММ.ГГГГ)",
        "companions": "Число сопровождающих — целое число от 0",
        "destination_id": "Выберите место назначения из реестра",
    }
    # step 3 alone does not ask for the destination
    _, errors = trip_request(
        {"pickup_kind": "object", "pickup_object_id": "99", "pickup_date": "2026-03-17",
         "pickup_time": "10:00"},
        passenger_id=5, objects=OBJECTS, tz=TZ, need_destination=False,
    )  # fmt: skip
    assert errors.fields == {"pickup_object_id": "Выберите социальный объект подачи"}
    # the booking service's field names map onto the wizard's
    e = Errors()
    e.add("pickup_at", "Вне часов работы")
    e.add("destination", "Не социальный объект")
    e.add(None, "Что-то общее")
    assert e.fields == {"pickup_time": "Вне часов работы", "destination_id": "Не социальный объект"}
    assert e.general == ["Что-то общее"]


def test_a_typed_address_without_a_point_goes_to_the_service_as_typed():
    req, errors = trip_request(
        {"pickup_kind": "address", "pickup_address": "Воронцовский б-р, 5",
         "pickup_date": "2026-03-17", "pickup_time": "10:00", "destination_id": "1"},
        passenger_id=5, objects=OBJECTS, tz=TZ, need_destination=True,
    )  # fmt: skip
    assert not errors and req is not None
    assert (req.pickup_address, req.pickup_lat, req.pickup_lon) == ("Воронцовский б-р, 5", None,
                                                                    None)  # fmt: skip


def test_the_return_trip_fields_become_the_return_pickup():
    base = {"pickup_kind": "home", "pickup_date": "2026-03-17", "pickup_time": "10:00",
            "destination_id": "1", "return_date": "2026-03-17", "return_time": "13:30"}  # fmt: skip
    req, errors = trip_request(base, passenger_id=5, objects=OBJECTS, tz=TZ, need_destination=True)
    assert not errors and req is not None and req.return_pickup_at is None  # not ticked
    req, errors = trip_request({**base, "return_trip": "1"}, passenger_id=5, objects=OBJECTS,
                               tz=TZ, need_destination=True)  # fmt: skip
    assert req is not None and req.return_pickup_at == datetime(2026, 3, 17, 10, 30, tzinfo=UTC)
    _, errors = trip_request({**base, "return_trip": "1", "return_time": ""}, passenger_id=5,
                             objects=OBJECTS, tz=TZ, need_destination=True)  # fmt: skip
    assert errors.fields == {"return_time": "Укажите время обратной подачи (ЧЧ:ММ)"}
    e = Errors()
    e.add("return_pickup_at", "Обратная поездка: подача раньше, чем поездка туда прибудет")
    assert list(e.fields) == ["return_time"]
    # the default: three hours later, the next day after a late pickup; nothing from bad input
    after = timedelta(hours=3)
    assert default_return("2026-03-17", "10:00", TZ, after=after) == ("2026-03-17", "13:00")
    assert default_return("2026-03-17", "22:30", TZ, after=after) == ("2026-03-18", "01:30")
    assert default_return("2026-03-17", "", TZ, after=after) == ("", "")


def test_find_objects_by_words_type_and_ё():
    assert [o.id for o in find_objects(OBJECTS, query="ПОЛИКЛИН")] == [1]  # closed one hidden
    assert [o.id for o in find_objects(OBJECTS, query="елочная мурино")] == [1, 2]
    assert [o.id for o in find_objects(OBJECTS, object_type="mfc")] == [2]
    assert find_objects(OBJECTS, query="гемодиализ") == []


def test_weekly_chart_groups_by_local_monday_and_carrier():
    sunday_late = datetime(2026, 3, 15, 22, 0, tzinfo=UTC)  # Monday 01:00 in Moscow
    day = datetime(2026, 3, 10, 8, tzinfo=UTC)
    items = [(sunday_late, 1), (day, 1), (day + timedelta(days=1), 2), (day + timedelta(days=1), 2)]
    counts = weekly_counts(items, TZ)
    assert counts == Counter({(date(2026, 3, 16), 1): 1, (date(2026, 3, 9), 1): 1,
                              (date(2026, 3, 9), 2): 2})  # fmt: skip
    chart = weekly_chart(
        counts, weeks=[date(2026, 3, 9), date(2026, 3, 16)], carriers={1: "А", 2: "Б"}
    )
    assert chart.max_count == 2 and not chart.empty and len(chart.bars) == 3
    tallest = max(chart.bars, key=lambda b: b.height)
    assert tallest.label == "Б, 09.03: 2"
    assert all(
        b.height == pytest.approx(tallest.height / 2) for b in chart.bars if b is not tallest
    )
    assert [c for _, c in chart.legend] == ["А", "Б"]
    assert weekly_chart(Counter(), weeks=[date(2026, 3, 9)], carriers={}).empty


@dataclass
class _T:
    id: int
    vehicle_id: int | None
    status: str
    pickup_at: datetime
    picked_up_at: datetime | None = None


NOW = datetime(2026, 3, 16, 7, 0, tzinfo=UTC)


def test_vehicle_states_prefer_the_trip_in_progress():
    pos = [SimpleNamespace(vehicle_id=v, plate=f"P{v}", lat=60.0, lon=30.0, ts=NOW, speed_kmh=None)
           for v in (1, 2, 3)]  # fmt: skip
    trips = [
        _T(10, 1, "assigned", NOW - timedelta(hours=1)),
        _T(11, 1, "on_board", NOW),  # later, but in progress: this one
        _T(12, 2, "completed", NOW - timedelta(hours=2)),  # final: not current
        _T(13, 2, "assigned", NOW + timedelta(hours=3)),
    ]
    states = vehicle_states(pos, {1: 7, 2: 7, 3: 8}, trips)
    assert (states[1].trip_id, states[1].trip_status) == (11, "on_board")
    assert (states[2].trip_id, states[2].trip_status) == (13, "assigned")
    assert states[3].trip_id is None and states[3].as_json()["status"] == "free"
    assert states[3].carrier_id == 8


def test_lateness():
    booked = NOW
    assert lateness_s(_T(1, 1, "assigned", booked), NOW + timedelta(minutes=5)) == 300
    assert lateness_s(_T(1, 1, "assigned", booked), NOW - timedelta(minutes=5)) is None
    done = _T(1, 1, "completed", booked, picked_up_at=booked + timedelta(minutes=12))
    assert lateness_s(done, NOW + timedelta(hours=5)) == 720
    assert lateness_s(_T(1, 1, "cancelled", booked), NOW + timedelta(hours=1)) is None


def test_road_lines_one_segment_per_street():
    g = SimpleNamespace(
        edge_u=np.array([0, 1, 1]), edge_v=np.array([1, 0, 2]),
        node_lat=np.array([60.0, 60.001, 60.002]), node_lon=np.array([30.0, 30.001, 30.002]),
        bounds=(60.0, 30.0, 60.002, 30.002),
    )  # fmt: skip
    out = road_lines(g)
    assert out["lines"] == [[60.0, 30.0, 60.001, 30.001], [60.001, 30.001, 60.002, 30.002]]
    assert out["bounds"] == [[60.0, 30.0], [60.002, 30.002]]
    assert road_lines(None) == {"bounds": None, "lines": []}


def test_csrf_is_bound_to_the_session_and_the_secret():
    a = csrf_for("session-a", "secret")
    assert a == csrf_for("session-a", "secret") and len(a) == 64
    assert a != csrf_for("session-b", "secret") and a != csrf_for("session-a", "other")


def test_next_paths_stay_on_this_server():
    assert _local_path("/operator/trips?status=booked") == "/operator/trips?status=booked"
    for bad in ("//evil.example/x", "https://evil.example", "\\\\evil", "", None, "javascript:x"):
        assert _local_path(bad) == "/"
    assert login_url("/dispatcher?day=2026-03-17", "expired") == (
        "/login?next=/dispatcher%3Fday%3D2026-03-17&reason=expired"
    )


def test_rub():
    assert rub(123450) == "1\u00a0234,50\u00a0₽"
    assert rub(5) == "0,05\u00a0₽"
    assert rub(None) == "—"


def test_every_vehicle_event_has_a_russian_label():
    """The controller's and the trip page's event lists show no raw event codes."""
    from telemetry.model import EventType
    from web.pages.render import EVENT_RU

    assert not [e.value for e in EventType if e.value not in EVENT_RU]
