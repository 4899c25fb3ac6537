"""Addresses from OSM data, normalised for an offline search: pure functions, no I/O.

An operator types «Гатчина, ул. Володарского, 27», «пр-т Ленина д.5 корп.2» or «володарсково 27»
(a typo); :func:`parse_address_query` reduces it to the street/place words, a house number and the
words that name a street type, the same way :func:`address_entries` reduces the OSM tags of the
map's buildings, entrances, streets and places. The store (:mod:`routing.address_store`) matches
the words with pg_trgm (typos) and the house number exactly.

Normalisation (:func:`normalize_words`): lower case, ``ё`` → ``е``, punctuation to spaces, and the
Russian abbreviations read as the full words: ``ул.`` улица, ``пр.``/``пр-т``/``просп.`` проспект,
``пр-д`` проезд, ``пер.`` переулок, ``пл.`` площадь, ``ш.`` шоссе, ``наб.`` набережная, ``б-р``
бульвар, ``г.`` город, ``пос.``/``п.`` посёлок, ``д.`` дом (dropped: a number follows). Street-type
words are kept apart from the name (``type_words``): «ул. Ленина» and «Ленина улица» are the same
street, and a query that omits the type still finds it. The house part keeps its digits and letters:
``27``, ``27а``, ``27/2``, ``27к2`` (``корп. 2``, ``к.2``), ``27с1`` (``стр. 1``).

Why by hand: the address parsers that exist (libpostal, Natasha/yargy) bring large models or
grammars for a job this small; OSM already splits addresses into ``addr:*`` fields, so only the
operator's free text needs reading, and the fuzzy part is pg_trgm's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "AddressEntry",
    "AddressQuery",
    "STREET_TYPES",
    "address_entries",
    "normalize_house",
    "normalize_words",
    "parse_address_query",
]

# Canonical street-type words and the spellings (abbreviations, Latin-script languages of the
# test maps) that mean them. The canonical word is what the index stores in ``type_words``.
STREET_TYPES: dict[str, tuple[str, ...]] = {
    "улица": ("ул", "улица"),
    "проспект": ("пр", "пр-т", "прт", "просп", "проспект", "пр-кт", "пркт"),
    "проезд": ("пр-д", "прд", "проезд", "пр-зд"),
    "переулок": ("пер", "переулок", "пер-к"),
    "площадь": ("пл", "площадь"),
    "шоссе": ("ш", "шоссе", "ш-се"),
    "набережная": ("наб", "набережная", "н-я"),
    "бульвар": ("б-р", "бр", "бул", "бульвар"),
    "тупик": ("туп", "тупик"),
    "линия": ("лин", "линия"),
    "аллея": ("ал", "аллея"),
    "микрорайон": ("мкр", "мкрн", "микрорайон"),
}
PLACE_TYPES: dict[str, tuple[str, ...]] = {
    "город": ("г", "гор", "город"),
    "поселок": ("пос", "п", "поселок", "пгт", "рп", "гп"),
    "деревня": ("дер", "д-н", "деревня"),
    "село": ("с", "село"),
}
_TYPE_OF: dict[str, str] = {
    alias: canon for table in (STREET_TYPES, PLACE_TYPES) for canon, aliases in table.items()
    for alias in aliases
}  # fmt: skip
# Words that only mark the house number or its parts; the parts are folded into the number.
_HOUSE_MARK = frozenset({"д", "дом"})
_PART_MARK = {"корп": "к", "корпус": "к", "к": "к", "стр": "с", "строение": "с", "с": "с",
              "лит": "", "литера": "", "литер": ""}  # fmt: skip
# Alias spellings with a hyphen (``пр-т``) must be read before hyphens split words.
_HYPHEN_ALIASES = sorted((a for a in _TYPE_OF if "-" in a), key=len, reverse=True)
_HYPHEN_RE = re.compile(
    r"(?<![\w-])(" + "|".join(re.escape(a) for a in _HYPHEN_ALIASES) + r")(?![\w-])"
)
_SPLIT = re.compile(r"[^\w/-]+")
_HOUSE = re.compile(r"^\d+[\w/-]*$")
# «3-я Новоостанкинская», «17-й проезд», «1-го Мая»: an ordinal is part of the name, not a house.
_ORDINAL = re.compile(r"^\d+-?(й|я|е|ой|ий|ый|ая|ое|го|му|м)$")


def _basic(text: str) -> str:
    text = (text or "").lower().replace("ё", "е")
    return _HYPHEN_RE.sub(lambda m: m.group(1).replace("-", ""), text)


def _tokens(text: str) -> list[str]:
    toks = (t.strip("-/") for t in _SPLIT.split(_basic(text).replace("_", " ")))
    return [t for t in toks if t]


def normalize_house(text: str) -> str:
    """A house number reduced for exact comparison: ``"27 корп. 2"`` → ``"27к2"``, ``"5 А"`` →
    ``"5а"``, ``"12/1"`` → ``"12/1"``, ``"3 стр 1"`` → ``"3с1"``, ``"5/22 литВ"`` → ``"5/22в"``."""
    toks = [t for t in _tokens(text) if t not in _HOUSE_MARK]
    if not toks:
        return ""
    house, j = _read_house(toks, 0)
    # Whatever follows is kept as typed (rare: «1 вл. 2»), so distinct numbers stay distinct.
    return house + "".join(toks[j:])


# Latin letters typed for Cyrillic ones in house numbers («10/16 c1» with a Latin c).
_HOUSE_HOMOGLYPHS = str.maketrans("aceko", "асеко")
_PART_TOKEN = re.compile(r"^(корп|корпус|к|стр|строение|с|лит|литера|литер)(\d+|[^\W\d_])$")


def _read_house(toks: list[str], i: int) -> tuple[str, int]:
    """The house number starting at ``toks[i]`` and the index after it: the number, then any
    корпус/строение/литера parts (``корп. 2``, ``к2``, ``стр 1``, ``с1``, ``лит. А``) and a single
    letter (``27 А``)."""
    house = toks[i].translate(_HOUSE_HOMOGLYPHS)
    j = i + 1
    while j < len(toks):
        nxt = toks[j].translate(_HOUSE_HOMOGLYPHS)
        after = toks[j + 1] if j + 1 < len(toks) else ""
        m = _PART_TOKEN.match(nxt)
        if nxt in _PART_MARK and after and (after[:1].isdigit() or len(after) == 1):
            house += _PART_MARK[nxt] + after.translate(_HOUSE_HOMOGLYPHS)
            j += 2
        elif m:
            house += _PART_MARK[m.group(1)] + m.group(2)
            j += 1
        elif len(nxt) == 1 and nxt.isalpha() and nxt not in _TYPE_OF:
            house += nxt
            j += 1
        else:
            break
    return house, j


def _split_types(toks: list[str]) -> tuple[list[str], list[str]]:
    """Name words and type words: the first street-type and the first place-type word are types
    («ул. Шоссе в Лаврики»: «ул» is the type, «шоссе» part of the name), and a text that is only
    a type word («Шоссе») keeps it as its name."""
    words: list[str] = []
    types: list[str] = []
    taken: set[bool] = set()
    for tok in toks:
        canon = _TYPE_OF.get(tok)
        table = canon in STREET_TYPES if canon is not None else None
        if canon is not None and table not in taken:
            taken.add(bool(table))
            types.append(canon)
        else:
            words.append(tok)
    if not words and types:
        return [t for t in toks], []
    return words, types


def normalize_words(text: str) -> tuple[str, tuple[str, ...]]:
    """The name words of a street or place (space-joined) and its canonical type words.

    >>> normalize_words("ул. Шоссе в Лаврики")
    ('шоссе в лаврики', ('улица',))
    >>> normalize_words("Володарского улица")
    ('володарского', ('улица',))
    """
    words, types = _split_types(_tokens(text))
    return " ".join(words), tuple(types)


@dataclass(frozen=True)
class AddressQuery:
    """What an operator's address line asks for.

    ``words``: the name words of the street, place or settlement (no type words, no number);
    ``house``: the normalised house number (``None``: a street or place was asked for);
    ``type_words``: canonical street/place types mentioned («улица», «город»).
    """

    words: str
    house: str | None
    type_words: tuple[str, ...]


def parse_address_query(text: str) -> AddressQuery:
    """Read an address typed by an operator (any order of city, street and house).

    The first token that starts with a digit starts the house number; a following ``корп.``/``к``
    or ``стр.``/``с`` with a number, or a single letter, is folded into it. Everything else but
    type words and ``д.``/``дом`` is a name word.

    >>> parse_address_query("Гатчина, ул. Володарского, д. 27 корп. 2")
    AddressQuery(words='гатчина володарского', house='27к2', type_words=('улица',))
    """
    toks = _tokens(text)
    rest: list[str] = []
    house: str | None = None
    i = 0
    while i < len(toks):
        tok = toks[i]
        if house is None and _HOUSE.match(tok) and not _ORDINAL.match(tok):
            house, i = _read_house(toks, i)
            continue
        if tok not in _HOUSE_MARK:
            rest.append(tok)
        i += 1
    words, types = _split_types(rest)
    return AddressQuery(" ".join(words), house, tuple(types))


@dataclass(frozen=True)
class AddressEntry:
    """One searchable address of the map.

    ``kind``: ``"house"`` (a building or entrance with ``addr:housenumber``), ``"street"`` (a
    named road, one entry per name and settlement) or ``"place"`` (a settlement or district).
    ``label`` is what the operator sees («Володарского улица, 27, Гатчина» as OSM spells it);
    ``words`` the normalised street/place name plus the settlement, ``house`` the normalised
    number. Coordinates are WGS 84 degrees.
    """

    kind: str
    label: str
    words: str
    house: str | None
    type_words: tuple[str, ...]
    lat: float
    lon: float
    osm_ref: str

    @property
    def key(self) -> tuple[str, str, str | None]:
        """Entries with the same key are the same address (kept once)."""
        return (self.kind, self.words, self.house)


_PLACE_KINDS = frozenset(
    "city town village hamlet suburb quarter neighbourhood isolated_dwelling locality".split()
)


def address_entries(
    tags: Mapping[str, str], lat: float, lon: float, *, osm_ref: str, is_road: bool = False
) -> list[AddressEntry]:
    """The index entries an OSM object's tags give (none, one or two).

    Parameters
    ----------
    tags
        The object's tags.
    lat, lon
        A representative point: the node, a building's centroid, a road's middle node.
    osm_ref
        ``"n123"`` / ``"w456"``, kept for tracing an entry back to the map.
    is_road
        The object is a road (``highway=*``): a ``name`` makes it a street entry.
    """
    out: list[AddressEntry] = []
    house_raw = tags.get("addr:housenumber")
    city = tags.get("addr:city") or tags.get("addr:place") or tags.get("addr:suburb") or ""
    street = tags.get("addr:street") or tags.get("addr:place") or ""
    if house_raw and street:
        house = normalize_house(house_raw)
        name, types = normalize_words(street)
        city_words = normalize_words(city)[0] if city and city != street else ""
        label = f"{street}, {house_raw}" + (f", {city}" if city_words else "")
        if house:
            words = _join(name, city_words)
            out.append(AddressEntry("house", label, words, house, types, lat, lon, osm_ref))
    name_tag = tags.get("name")
    if name_tag == "nan":  # osmnx writes a missing value as the string "nan"
        name_tag = None
    if is_road and name_tag:
        name, types = normalize_words(name_tag)
        if name:
            out.append(AddressEntry("street", name_tag, name, None, types, lat, lon, osm_ref))
    place = tags.get("place")
    if place in _PLACE_KINDS and name_tag and not is_road:
        name, types = normalize_words(name_tag)
        if name:
            out.append(AddressEntry("place", name_tag, name, None, types, lat, lon, osm_ref))
    return out


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def dedupe(entries: Iterable[AddressEntry]) -> list[AddressEntry]:
    """Entries with distinct :attr:`AddressEntry.key`, first seen kept (a building and its
    entrance, or the segments of one street, become one entry)."""
    seen: set[tuple[str, str, str | None]] = set()
    out = []
    for e in entries:
        if e.key not in seen:
            seen.add(e.key)
            out.append(e)
    return out
