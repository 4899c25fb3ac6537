"""The passenger store against real PostgreSQL: inserts, search SQL, constraint mapping."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest

from dispatch.errors import Conflict, Invalid
from dispatch.identity import normalize_name
from dispatch.models import BenefitIn
from dispatch.store import passengers as pstore


def _add(conn, last, first, middle, born, phones, snils=None):
    return pstore.insert_passenger(
        conn,
        fields={
            "last_name": last,
            "first_name": first,
            "middle_name": middle,
            "birth_date": born,
            "snils": snils,
            "name_norm": normalize_name(last, first, middle),
        },
        phones=phones,
        benefits=[BenefitIn(category="disabled_1", valid_from=date(2025, 1, 1))],
    )


@pytest.fixture
def conn(db_url):
    with psycopg.connect(db_url) as c:  # a transaction, as the pool gives the services
        yield c


def test_search_by_name_and_phone(conn):
    a = _add(conn, "Семёнова", "Мария", "Петровна", date(1941, 3, 12), ["79211234567"])
    b = _add(conn, "Семенов", "Пётр", None, date(1938, 7, 1), ["78125556677", "79219876543"])
    q = normalize_name("семенава мария")
    assert [
        h.id
        for h in pstore.search_by_name(conn, name_norm=q, birth_date=None, min_score=0.5, limit=5)
    ][0] == a
    hits = pstore.search_by_name(
        conn,
        name_norm=normalize_name("Семенов Петр"),
        birth_date=date(1938, 7, 1),
        min_score=0.5,
        limit=5,
    )
    assert [(h.id, h.score) for h in hits] == [(b, 1.0)]
    assert hits[0].phones == ["78125556677", "79219876543"]
    assert [h.id for h in pstore.search_by_phone(conn, digits="79211234567", limit=5)] == [a]
    assert {h.id for h in pstore.search_by_phone(conn, digits="7921", limit=5)} == {a, b}
    assert [h.id for h in pstore.search_by_phone(conn, digits="5566", limit=5)] == [b]


def test_constraint_violations_become_dispatch_errors(conn):
    _add(conn, "Иванов", "Иван", None, date(1940, 1, 1), [], snils="11223344595")
    with pytest.raises(Conflict, match="СНИЛС"):
        with conn.transaction():
            _add(conn, "Петров", "Пётр", None, date(1940, 1, 1), [], snils="11223344595")
    with pytest.raises(Invalid, match="категория"):
        with conn.transaction():
            pstore.insert_passenger(
                conn,
                fields={
                    "last_name": "А",
                    "first_name": "Б",
                    "birth_date": date(1940, 1, 1),
                    "name_norm": "а б",
                },
                phones=[],
                benefits=[BenefitIn(category="nobody", valid_from=date(2025, 1, 1))],
            )


def test_name_only_search_takes_two_exact_words_from_the_word_index(conn, monkeypatch):
    """Without a birth date, two exact words of three (a typo in the third) are answered by the
    word index (migration 0202); only a weaker match falls back to the trigram scan."""
    a = _add(conn, "Кузнецова", "Анна", "Ильинична", date(1940, 5, 5), ["79210000001"])
    _add(conn, "Кузьмина", "Анна", "Ильинична", date(1944, 1, 1), ["79210000002"])
    assert conn.execute(
        "SELECT 1 FROM pg_indexes WHERE indexname = 'passengers_name_words'"
    ).fetchone()
    calls: list[str] = []
    real = pstore._name_hits

    def spy(c, where, params):  # type: ignore[no-untyped-def]
        calls.append("words" if "to_tsvector" in where else "trigram")
        return real(c, where, params)

    monkeypatch.setattr(pstore, "_name_hits", spy)

    def search(text: str) -> list[int]:
        q = normalize_name(text)
        return [
            h.id
            for h in pstore.search_by_name(
                conn, name_norm=q, birth_date=None, min_score=0.5, limit=5
            )
        ]

    assert search("Кузнецава Анна Ильинична")[0] == a and calls == ["words"]
    calls.clear()
    assert search("кузнецова")[0] == a and calls == ["words"]
    calls.clear()
    assert search("Кузнецава Ана Ильинична")[0] == a and calls == ["words", "trigram"]


def test_duplicate_snils_is_refused_before_the_database_sees_it(conn):
    """No unique violation (whose DETAIL would log the СНИЛС in clear on the server): the
    duplicate is found by a query, so the transaction is not even aborted."""
    a = _add(conn, "Иванов", "Иван", None, date(1940, 1, 1), [], snils="11223344595")
    b = _add(conn, "Петров", "Пётр", None, date(1941, 1, 1), [])
    with pytest.raises(Conflict, match="СНИЛС"):
        _add(conn, "Сидоров", "Сидор", None, date(1940, 1, 1), [], snils="11223344595")
    with pytest.raises(Conflict, match="СНИЛС"):
        pstore.update_passenger(conn, passenger_id=b, fields={"snils": "11223344595"})
    # the same СНИЛС on its own passenger is no conflict
    assert pstore.update_passenger(conn, passenger_id=a, fields={"snils": "11223344595"})
    assert conn.execute("SELECT count(*) FROM passengers").fetchone() == (2,)


def test_homoglyph_migration_rewrites_mixed_script_names(db_url):
    from pathlib import Path

    sql = (
        Path(__file__).parents[2] / "db/migrations/0225_passenger_name_homoglyphs.sql"
    ).read_text()
    with psycopg.connect(db_url, autocommit=True) as c:
        for norm in ("ивaнова мaрия", "smith john"):  # a Latin «a»; a Latin name
            c.execute(
                "INSERT INTO passengers (last_name, first_name, birth_date, name_norm)"
                " VALUES ('x', 'y', '1940-01-01', %s)",
                (norm,),
            )
        c.execute(sql)
        got = [r[0] for r in c.execute("SELECT name_norm FROM passengers ORDER BY id")]
    assert got == ["иванова мария", "smith john"]
