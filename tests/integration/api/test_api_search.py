"""Passenger search: phone formats, partial numbers, ФИО with typos, ё/е, case; access log."""

from __future__ import annotations

import psycopg
import pytest

from tests.integration.api.conftest import passenger_body

PEOPLE = [
    dict(
        last_name="Семёнова",
        first_name="Мария",
        middle_name="Петровна",
        birth_date="1941-03-12",
        phones=["+7 (921) 123-45-67"],
        snils=None,
    ),
    dict(
        last_name="Семенов",
        first_name="Пётр",
        middle_name="Ильич",
        birth_date="1938-07-01",
        phones=["8 812 555-66-77", "+79219876543"],
        snils=None,
    ),
    dict(
        last_name="Иванова",
        first_name="Мария",
        middle_name="Ивановна",
        birth_date="1941-03-12",
        phones=["9110001122"],
        snils=None,
    ),
]


@pytest.fixture
def people(api):
    return [api.ok("POST", "passengers", 201, json=passenger_body(**p))["id"] for p in PEOPLE]


def _search(api, **body):
    return [h["id"] for h in api.ok("POST", "passengers/search", json=body, role="operator")]


@pytest.mark.parametrize(
    "phone",
    [
        "+7 (921) 123-45-67",
        "89211234567",
        "8-921-123-45-67",
        "79211234567",
        "9211234567",
        "+7 921 1234567",
    ],
)
def test_full_phone_in_any_format(api, people, phone):
    assert _search(api, phone=phone) == [people[0]]
    assert _search(api, query=phone) == [people[0]]


def test_partial_phone(api, people):
    assert _search(api, phone="45-67") == [people[0]]
    assert set(_search(api, phone="8 921")) == {people[0], people[1]}
    assert set(_search(api, query="555-66")) == {people[1]}
    assert _search(api, phone="0000000") == []
    # a fragment from the middle that starts with 8: both readings are searched
    assert _search(api, phone="876-543") == [people[1]]
    r = api.post("passengers/search", json={"phone": "12"})
    assert r.status_code == 422 and "не менее 4 цифр" in r.json()["detail"]


def test_name_exact_case_yo(api, people):
    assert _search(api, name="СЕМЕНОВА МАРИЯ ПЕТРОВНА", birth_date="1941-03-12") == [people[0]]
    assert _search(api, query="семёнов пётр ильич 01.07.1938") == [people[1]]


def test_name_typo_and_partial(api, people):
    hits = _search(api, name="Семенава Мария Петровна", birth_date="1941-03-12")
    assert hits == [people[0]]
    hits = _search(api, name="Семенова Мари")
    assert hits[0] == people[0]
    hits = _search(api, name="Мария", birth_date="1941-03-12")
    assert set(hits) == {people[0], people[2]}
    assert _search(api, name="Сидоров Сидор", birth_date="1941-03-12") == []


def test_search_is_logged_without_the_query(api, people):
    _search(api, phone="45-67")
    _search(api, name="Никого Нет Такого")
    with psycopg.connect(api.db_url) as conn:
        rows = conn.execute(
            "SELECT user_id, action, passenger_id, purpose, detail::text FROM access_log"
            " WHERE action = 'search' ORDER BY id"
        ).fetchall()
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("search", people[0], "booking"),
        ("search", None, "booking"),
    ]
    assert rows[0][0] == api.user_ids["operator"]
    assert all("4567" not in r[4] and "Никого" not in r[4] for r in rows)


def test_wrong_layout_and_latin_look_alikes_find_the_passenger(api, people):
    # «Bdfyjdf» is «Иванова» typed with the English layout on; «Ивaнова» has a Latin «a».
    assert people[2] in _search(api, query="Bdfyjdf")
    assert _search(api, query="Bdfyjdf Vfhbz")[0] == people[2]
    assert _search(api, query="Ивaнова Мaрия")[0] == people[2]


def test_two_digit_birth_year_is_read_or_refused(api, people):
    # Both Марии born 12.03.1941 match the date; the name ranks Иванова first.
    assert _search(api, query="Иванова Мария 12.3.41")[0] == people[2]
    assert people[1] not in _search(api, query="Семенов 12.3.41")
    r = api.post("passengers/search", json={"query": "Иванова 12.3"}, role="operator")
    assert r.status_code == 422 and "ДД.ММ.ГГГГ" in r.json()["detail"]


def test_phone_with_a_missing_digit_is_refused_on_create(api):
    r = api.post("passengers", json=passenger_body(phones=["8 921 123 45 6"], snils=None))
    assert r.status_code == 422
    assert "не хватает цифры" in r.text
