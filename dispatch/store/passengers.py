"""Passengers, their phones and benefit periods; search by phone and by name.

Search relies on the indexes of migration 0001: ``passenger_phones.phone_norm`` (btree
``text_pattern_ops`` for prefixes, gin trigram for substrings), ``passengers.name_norm`` (gin
trigram) and ``passengers (name_norm, birth_date)`` / ``passengers (birth_date)``; and of 0202:
the words of ``passengers.name_norm`` (gin ``to_tsvector('simple', ...)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import psycopg

from dispatch.errors import Conflict
from dispatch.models import Benefit, BenefitIn, Passenger, PassengerHit
from dispatch.store._sql import (
    db_errors,
    fetch_all,
    fetch_one,
    insert_row,
    unique_message,
    update_row,
)

_COLUMNS = (
    "last_name",
    "first_name",
    "middle_name",
    "birth_date",
    "snils",
    "name_norm",
    "home_address",
    "home_lat",
    "home_lon",
    "wheelchair",
    "walker",
    "visually_impaired",
    "needs_companion",
    "notes",
)


def insert_passenger(
    conn: psycopg.Connection,
    *,
    fields: dict[str, Any],
    phones: Sequence[str],
    benefits: Sequence[BenefitIn],
) -> int:
    """Insert one passenger with phones (first is primary) and benefits; return the id."""
    check_snils_free(conn, fields.get("snils"))
    row = insert_row(
        conn, "passengers", {k: fields[k] for k in _COLUMNS if k in fields}, returning="id"
    )
    pid = int(row["id"])
    replace_phones(conn, passenger_id=pid, phones=phones)
    replace_benefits(conn, passenger_id=pid, benefits=benefits)
    return pid


def update_passenger(
    conn: psycopg.Connection, *, passenger_id: int, fields: dict[str, Any]
) -> bool:
    values = {k: fields[k] for k in _COLUMNS if k in fields}
    check_snils_free(conn, values.get("snils"), passenger_id=passenger_id)
    return update_row(conn, "passengers", passenger_id, values, touch=True) is not None


def check_snils_free(
    conn: psycopg.Connection, snils: str | None, *, passenger_id: int | None = None
) -> None:
    """Refuse a СНИЛС another passenger has, *before* the insert: a unique violation would put
    the СНИЛС in clear into the PostgreSQL server log (``DETAIL: Key (snils)=(...)``). The unique
    constraint stays as the guard against a concurrent duplicate."""
    if not snils:
        return
    taken = fetch_one(
        conn,
        "SELECT 1 FROM passengers WHERE snils = %s AND id IS DISTINCT FROM %s",
        (snils, passenger_id),
    )
    if taken is not None:
        raise Conflict(unique_message("passengers_snils_key"), code="duplicate")


def set_active(conn: psycopg.Connection, *, table: str, row_id: int, active: bool) -> bool:
    from psycopg import sql

    q = sql.SQL("UPDATE {} SET active = %s WHERE id = %s RETURNING id").format(
        sql.Identifier(table)
    )
    return fetch_one(conn, q, (active, row_id)) is not None


def replace_phones(conn: psycopg.Connection, *, passenger_id: int, phones: Sequence[str]) -> None:
    conn.execute("DELETE FROM passenger_phones WHERE passenger_id = %s", (passenger_id,))
    with conn.cursor() as cur, db_errors():
        cur.executemany(
            "INSERT INTO passenger_phones (passenger_id, phone_norm, is_primary)"
            " VALUES (%s, %s, %s)",
            [(passenger_id, p, i == 0) for i, p in enumerate(phones)],
        )


def replace_benefits(
    conn: psycopg.Connection, *, passenger_id: int, benefits: Sequence[BenefitIn]
) -> None:
    conn.execute("DELETE FROM passenger_benefits WHERE passenger_id = %s", (passenger_id,))
    with conn.cursor() as cur, db_errors():
        cur.executemany(
            "INSERT INTO passenger_benefits (passenger_id, category, valid_from, valid_to,"
            " document_ref) VALUES (%s, %s, %s, %s, %s)",
            [
                (passenger_id, b.category, b.valid_from, b.valid_to, b.document_ref)
                for b in benefits
            ],
        )


def get_passenger(
    conn: psycopg.Connection, *, passenger_id: int, lock: bool = False
) -> Passenger | None:
    row = fetch_one(
        conn,
        "SELECT * FROM passengers WHERE id = %s" + (" FOR UPDATE" if lock else ""),
        (passenger_id,),
    )
    if row is None:
        return None
    row["phones"] = [
        r["phone_norm"]
        for r in fetch_all(
            conn,
            "SELECT phone_norm FROM passenger_phones WHERE passenger_id = %s"
            " ORDER BY is_primary DESC, phone_norm",
            (passenger_id,),
        )
    ]
    row["benefits"] = [
        Benefit.model_validate(r)
        for r in fetch_all(
            conn,
            "SELECT id, category, valid_from, valid_to, document_ref FROM passenger_benefits"
            " WHERE passenger_id = %s ORDER BY valid_from, id",
            (passenger_id,),
        )
    ]
    return Passenger.model_validate(row)


def list_passengers(
    conn: psycopg.Connection, *, active: bool | None, limit: int, offset: int
) -> list[PassengerHit]:
    rows = fetch_all(
        conn,
        "SELECT p.id, p.last_name, p.first_name, p.middle_name, p.birth_date, p.active,"
        " 1.0 AS score,"
        " ARRAY(SELECT phone_norm FROM passenger_phones ph WHERE ph.passenger_id = p.id"
        "       ORDER BY is_primary DESC, phone_norm) AS phones"
        " FROM passengers p WHERE (%(active)s::boolean IS NULL OR p.active = %(active)s)"
        " ORDER BY p.id LIMIT %(limit)s OFFSET %(offset)s",
        {"active": active, "limit": limit, "offset": offset},
    )
    return [PassengerHit.model_validate(r) for r in rows]


_HIT_SELECT = (
    "SELECT p.id, p.last_name, p.first_name, p.middle_name, p.birth_date, p.active,"
    " ARRAY(SELECT phone_norm FROM passenger_phones ph WHERE ph.passenger_id = p.id"
    "       ORDER BY is_primary DESC, phone_norm) AS phones, "
)


def search_by_phone(
    conn: psycopg.Connection, *, digits: str, limit: int, alt_digits: str | None = None
) -> list[PassengerHit]:
    """Passengers with a phone equal to (11 digits) or containing ``digits`` (or ``alt_digits``,
    another reading of the same input, ranked below).

    A full number is an equality lookup (btree); a partial one a ``LIKE '%digits%'`` that the
    trigram index answers. Ranking: the whole number (score 1.0), then numbers that start with
    the digits (0.75: "8 921 12" typed from the start), then the rest (0.5: a tail "45-67").
    """
    if len(digits) == 11:
        cond = "phone_norm = %(d)s"
    elif alt_digits:
        cond = "(phone_norm LIKE '%%' || %(d)s || '%%' OR phone_norm LIKE '%%' || %(a)s || '%%')"
    else:
        cond = "phone_norm LIKE '%%' || %(d)s || '%%'"
    rows = fetch_all(
        conn,
        _HIT_SELECT + "CASE WHEN m.exact THEN 1.0 WHEN m.prefix THEN 0.75 ELSE 0.5 END AS score"
        " FROM (SELECT passenger_id, bool_or(phone_norm = %(d)s) AS exact,"
        "       bool_or(phone_norm LIKE %(d)s || '%%') AS prefix FROM passenger_phones"
        f"       WHERE {cond} GROUP BY passenger_id"
        "       ORDER BY exact DESC, prefix DESC LIMIT %(cap)s) m"
        " JOIN passengers p ON p.id = m.passenger_id"
        " ORDER BY m.exact DESC, m.prefix DESC, p.active DESC, p.name_norm LIMIT %(limit)s",
        {"d": digits, "a": alt_digits, "limit": limit, "cap": max(limit * 10, 200)},
    )
    return [PassengerHit.model_validate(r) for r in rows]


WORDS_ACCEPT_SCORE = 0.75
"""A word-index match this good (one typo in a three-word ФИО scores ~0.8) is taken as the
answer; below it the trigram search runs."""


def search_by_name(
    conn: psycopg.Connection,
    *,
    name_norm: str,
    birth_date: date | None,
    min_score: float,
    limit: int,
) -> list[PassengerHit]:
    """Passengers whose normalised ФИО matches ``name_norm`` exactly or approximately.

    The score is ``word_similarity`` (pg_trgm): a partial name ("иванов") or a typo ("иваноф иван")
    still scores high. With a birth date the candidate set is that day's passengers (btree).
    Without one, the passengers who have two of its words exactly (a typo in the third; for a
    one-word query, that word) are taken first from the word index of migration 0202; when the
    best of them scores under :data:`WORDS_ACCEPT_SCORE` (several typos, a partial word), the
    trigram index finds candidates with the ``<%`` operator.
    """
    params: dict[str, Any] = {"q": name_norm, "bd": birth_date, "s": min_score, "limit": limit}
    if birth_date is not None:
        return _name_hits(
            conn,
            "p.birth_date = %(bd)s AND (p.name_norm = %(q)s"
            " OR word_similarity(%(q)s, p.name_norm) >= %(s)s)",
            params,
        )
    words = name_norm.split()[:4]
    if words:
        tsq = (
            " || ".join(
                f"(plainto_tsquery('simple', %(w{i})s) && plainto_tsquery('simple', %(w{j})s))"
                for i in range(len(words))
                for j in range(i + 1, len(words))
            )
            or "plainto_tsquery('simple', %(w0)s)"
        )
        hits = _name_hits(
            conn,
            f"to_tsvector('simple', p.name_norm) @@ ({tsq})"
            " AND word_similarity(%(q)s, p.name_norm) >= %(s)s",
            params | {f"w{i}": w for i, w in enumerate(words)},
        )
        if hits and hits[0].score >= WORDS_ACCEPT_SCORE:
            return hits
    with db_errors():
        conn.execute(
            "SELECT set_config('pg_trgm.word_similarity_threshold', %s, true)",
            (str(min_score),),
        )
    return _name_hits(conn, "%(q)s <%% p.name_norm", params)


def _name_hits(conn: psycopg.Connection, where: str, params: dict[str, Any]) -> list[PassengerHit]:
    score = "GREATEST(word_similarity(%(q)s, p.name_norm), similarity(%(q)s, p.name_norm))"
    rows = fetch_all(
        conn,
        _HIT_SELECT + f"CASE WHEN p.name_norm = %(q)s THEN 1.0 ELSE {score} END AS score"
        f" FROM passengers p WHERE {where}"
        " ORDER BY score DESC, p.active DESC, p.id LIMIT %(limit)s",
        params,
    )
    return [PassengerHit.model_validate(r) for r in rows]


def log_access(
    conn: psycopg.Connection,
    *,
    user_id: int | None,
    action: str,
    passenger_ids: Sequence[int | None],
    purpose: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """One ``access_log`` row per passenger whose personal data was read (``None``: none found)."""
    from psycopg.types.json import Jsonb

    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO access_log (user_id, action, passenger_id, purpose, detail)"
            " VALUES (%s, %s, %s, %s, %s)",
            [(user_id, action, pid, purpose, Jsonb(detail or {})) for pid in passenger_ids],
        )


def find_duplicates(
    conn: psycopg.Connection,
    *,
    name_norm: str,
    birth_date: date,
    phones: Sequence[str],
    exclude_id: int | None = None,
) -> list[dict[str, Any]]:
    """Passengers that look like the same person: the same normalised ФИО and birth date
    (``by_name``), or a shared phone and the same birth date (``by_phone``)."""
    return fetch_all(
        conn,
        "SELECT p.id, p.last_name, p.first_name, p.middle_name, p.birth_date,"
        " p.name_norm = %(n)s AS by_name,"
        " EXISTS (SELECT 1 FROM passenger_phones ph WHERE ph.passenger_id = p.id"
        "         AND ph.phone_norm = ANY(%(ph)s)) AS by_phone"
        " FROM passengers p"
        " WHERE p.birth_date = %(bd)s AND p.id IS DISTINCT FROM %(ex)s"
        " AND (p.name_norm = %(n)s OR EXISTS (SELECT 1 FROM passenger_phones ph"
        "      WHERE ph.passenger_id = p.id AND ph.phone_norm = ANY(%(ph)s)))"
        " ORDER BY p.id LIMIT 5",
        {"n": name_norm, "bd": birth_date, "ph": list(phones), "ex": exclude_id},
    )
