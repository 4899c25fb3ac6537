"""Address normalisation for the offline index: abbreviations, ё/е, house parts, OSM tags."""

from __future__ import annotations

import pytest

from routing.addresses import (
    AddressQuery,
    address_entries,
    dedupe,
    normalize_house,
    normalize_words,
    parse_address_query,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Гатчина, ул. Володарского, 27", AddressQuery("гатчина володарского", "27", ("улица",))),
        ("г. Гатчина, ул. Володарского, д. 27 корп. 2",
         AddressQuery("гатчина володарского", "27к2", ("город", "улица"))),
        ("пр-т Ленина 5А", AddressQuery("ленина", "5а", ("проспект",))),
        ("Невский пр., 28", AddressQuery("невский", "28", ("проспект",))),
        ("просп. Невский д.28", AddressQuery("невский", "28", ("проспект",))),
        ("пер. Мучной, 2", AddressQuery("мучной", "2", ("переулок",))),
        ("Сёмёновская ул 3 стр 1", AddressQuery("семеновская", "3с1", ("улица",))),
        ("ул. Шоссе в Лаврики, 1", AddressQuery("шоссе в лаврики", "1", ("улица",))),
        ("ул. 3-я Новоостанкинская, 18/28",
         AddressQuery("3-я новоостанкинская", "18/28", ("улица",))),
        ("17-й проезд Марьиной Рощи", AddressQuery("17-й марьиной рощи", None, ("проезд",))),
        ("Мурино", AddressQuery("мурино", None, ())),
    ],
)  # fmt: skip
def test_operator_queries(text: str, expected: AddressQuery) -> None:
    assert parse_address_query(text) == expected


@pytest.mark.parametrize(
    ("raw", "norm"),
    [("27", "27"), ("27А", "27а"), ("27 корп. 2", "27к2"), ("27к2", "27к2"), ("3 стр. 1", "3с1"),
     ("27А с1", "27ас1"), ("5/22 литВ", "5/22в"), ("10/16 c1", "10/16с1"),
     ("28-30 к11", "28-30к11")],
)  # fmt: skip
def test_house_numbers(raw: str, norm: str) -> None:
    assert normalize_house(raw) == norm


def test_query_and_map_spellings_meet() -> None:
    # The map says «Володарского улица, 27 корпус 2»; the operator types «ул. Володарского д27 к2».
    q = parse_address_query("ул. Володарского д. 27 к. 2")
    (e,) = address_entries(
        {"addr:street": "Володарского улица", "addr:housenumber": "27 корпус 2"},
        59.56, 30.12, osm_ref="w1",
    )  # fmt: skip
    assert (q.words, q.house) == (e.words, e.house)
    assert q.type_words == e.type_words == ("улица",)


def test_entries_from_tags() -> None:
    house = address_entries(
        {"addr:street": "улица Ломоносова", "addr:housenumber": "10", "addr:city": "Гатчина",
         "building": "yes"}, 59.5, 30.1, osm_ref="w7")  # fmt: skip
    assert [(e.kind, e.label, e.words, e.house) for e in house] == [
        ("house", "улица Ломоносова, 10, Гатчина", "ломоносова гатчина", "10")
    ]
    street = address_entries({"highway": "residential", "name": "Невский проспект"}, 59.9, 30.3,
                             osm_ref="w8", is_road=True)  # fmt: skip
    assert [(e.kind, e.words, e.type_words) for e in street] == [
        ("street", "невский", ("проспект",))
    ]
    place = address_entries({"place": "town", "name": "Гатчина"}, 59.57, 30.13, osm_ref="n9")
    assert [(e.kind, e.words) for e in place] == [("place", "гатчина")]
    # osmnx writes missing names as "nan"; a road without a name is no street entry.
    assert (
        address_entries({"highway": "primary", "name": "nan"}, 60, 30, osm_ref="w", is_road=True)
        == []
    )
    assert address_entries({"addr:housenumber": "5"}, 60, 30, osm_ref="n") == []  # no street


def test_dedupe_keeps_one_entry_per_address() -> None:
    tags = {"highway": "residential", "name": "Садовая улица"}
    segs = [address_entries(tags, 59.9 + i / 1000, 30.3, osm_ref=f"w{i}", is_road=True)[0]
            for i in range(3)]  # fmt: skip
    assert [e.osm_ref for e in dedupe(segs)] == ["w0"]


def test_type_word_alone_is_the_name() -> None:
    assert normalize_words("Шоссе") == ("шоссе", ())
    assert normalize_words("набережная канала Грибоедова") == ("канала грибоедова", ("набережная",))
