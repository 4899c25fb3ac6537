"""The address index in PostgreSQL: import a map's addresses, search them.

Load → decide → persist: :func:`routing._io.read_address_entries` reads the OSM file,
:mod:`routing.addresses` normalises, this module writes rows with ``COPY`` and answers searches
with the trigram index (``addresses_words_trgm``, migration 0220).

Ranking: ``word_similarity(query words, entry words)`` (pg_trgm: how well the typed words match a
stretch of the entry; typos lower it a little), plus 0.5 for the exact house number, plus 0.05
when the typed street type matches; an entry of another house on the right street ranks below the
street itself, so a number missing from the map yields the street, never a wrong house.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg

from routing.addresses import AddressEntry, parse_address_query
from routing.errors import AddressError

__all__ = ["AddressHit", "import_addresses", "replace_addresses", "search_addresses", "MIN_SCORE"]

#: ``pg_trgm.word_similarity_threshold`` for the search: low enough for two typos in a short
#: street name, high enough that the index prunes.
WORD_THRESHOLD = 0.3
#: A hit below this score is not offered as the answer to a booking's address.
MIN_SCORE = 0.6


@dataclass(frozen=True)
class AddressHit:
    """One search result: the label as the map spells it, a WGS 84 point and a score (higher is
    better; ≥ 1.5 means the words and the house number both matched closely)."""

    id: int
    kind: str
    label: str
    lat: float
    lon: float
    score: float


def replace_addresses(
    conn: psycopg.Connection, *, source: str, entries: Sequence[AddressEntry]
) -> int:
    """Replace the index rows of ``source`` (a map file name) with ``entries``; return the count."""
    with conn.transaction():
        conn.execute("DELETE FROM addresses WHERE source = %s", (source,))
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY addresses (source, kind, label, words, house, type_words, lat, lon, osm_ref)"
                " FROM STDIN"
            ) as copy,
        ):
            for e in entries:
                copy.write_row(
                    (source, e.kind, e.label, e.words, e.house, list(e.type_words), e.lat, e.lon,
                     e.osm_ref)
                )  # fmt: skip
        # New GIN entries wait in the index's pending list, which every search scans linearly
        # until a vacuum; move them into the index now so the first searches are fast too.
        conn.execute("SELECT gin_clean_pending_list('addresses_words_trgm'::regclass)")
        conn.execute("ANALYZE addresses")
    return len(entries)


def import_addresses(conn: psycopg.Connection, path: Path, *, progress: bool = False) -> int:
    """Read the addresses of an OSM file and replace that file's rows in the index."""
    from routing._io import read_address_entries

    entries = read_address_entries(path, progress=progress)
    return replace_addresses(conn, source=path.name, entries=entries)


_SCORE = """
       word_similarity(%(w)s, words)
       + CASE WHEN %(h)s::text IS NULL THEN CASE WHEN kind = 'house' THEN 0 ELSE 0.2 END
              WHEN house = %(h)s THEN 0.5
              WHEN kind = 'street' THEN 0.1
              ELSE -0.3 END
       + CASE WHEN type_words && %(t)s::text[] THEN 0.05 ELSE 0 END"""
# Houses with the typed number (btree on ``house``: a handful of rows), scored directly.
_BY_HOUSE = f"""
SELECT id, kind, label, lat, lon, {_SCORE} AS score
FROM addresses
WHERE house = %(h)s AND word_similarity(%(w)s, words) >= %(min_sim)s
ORDER BY score DESC, label, id
LIMIT %(limit)s
"""
# Every kind of entry whose words match (GIN trigram index).
_FUZZY = f"""
SELECT id, kind, label, lat, lon, {_SCORE} AS score
FROM addresses
WHERE %(w)s <%% words
ORDER BY score DESC, kind, label, id
LIMIT %(limit)s
"""
#: When the best house with the typed number matches the words this well, no other entry can
#: outrank it (a street scores at most 1 + 0.1 + 0.05 < this + 0.5), so the fuzzy pass is skipped.
_SURE_SIM = 0.66


def search_addresses(conn: psycopg.Connection, *, query: str, limit: int = 10) -> list[AddressHit]:
    """The index entries best matching an address typed by an operator, best first.

    Two passes: the houses with the typed number (exact), scored by their words; then, unless one
    of them already matches the words closely, every entry whose words match (pg_trgm).

    Raises
    ------
    AddressError
        No street, place or settlement words in the query (only a number, or empty).
    """
    q = parse_address_query(query)
    if len(q.words.replace(" ", "")) < 3:
        raise AddressError(
            "Введите улицу или населённый пункт (не менее 3 букв), например «ул. Володарского, 27»",
            f"address query without words ({len(query)} chars)",
        )
    params = {"w": q.words, "h": q.house, "t": list(q.type_words), "limit": limit,
              "min_sim": WORD_THRESHOLD}  # fmt: skip
    hits: dict[int, AddressHit] = {}
    with conn.transaction():
        if q.house is not None:
            for r in conn.execute(_BY_HOUSE, params).fetchall():
                hits[int(r[0])] = _hit(r)
            best = max((h.score for h in hits.values()), default=0.0)
            if best - 0.5 - 0.05 >= _SURE_SIM:
                return sorted(hits.values(), key=lambda h: -h.score)[:limit]
        conn.execute(
            "SELECT set_config('pg_trgm.word_similarity_threshold', %s, true),"
            # On a small index (a district: ~10,000 rows) the planner prefers a sequential scan,
            # but word_similarity costs ~10 µs a row there; the GIN scan rechecks only the rows
            # that share trigrams with the query (measured by bench/geocode.py).
            " set_config('enable_seqscan', 'off', true)",
            (str(WORD_THRESHOLD),),
        )
        for r in conn.execute(_FUZZY, params).fetchall():
            hits.setdefault(int(r[0]), _hit(r))
    return sorted(hits.values(), key=lambda h: (-h.score, h.label, h.id))[:limit]


def _hit(r: tuple) -> AddressHit:  # type: ignore[type-arg]
    return AddressHit(int(r[0]), r[1], r[2], float(r[3]), float(r[4]), float(r[5]))
