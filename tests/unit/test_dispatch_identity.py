"""Phone numbers, partial phone search, СНИЛС and names."""

from __future__ import annotations

from datetime import date

import pytest

from dispatch.errors import Invalid
from dispatch.identity import (
    fix_homoglyphs,
    normalize_name,
    normalize_phone,
    phone_search_digits,
    read_birth_year,
    snils_checksum,
    switch_layout,
    validate_snils,
)


@pytest.mark.parametrize(
    "raw",
    [
        "+7 (921) 123-45-67",
        "+79211234567",
        "+7 921 123 45 67",
        "+7-921-123-45-67",
        "8-921-123-45-67",
        "8 (921) 123-45-67",
        "89211234567",
        "79211234567",
        "7 921 1234567",
        "9211234567",
        "(921) 123-45-67",
        "921.123.45.67",
        "  8 921 123 45 67  ",
        "8\u00a0921\u00a0123\u201145\u201167",  # no-break spaces, non-breaking hyphens
    ],
)
def test_phone_formats_normalise_to_eleven_digits(raw: str) -> None:
    assert normalize_phone(raw) == "79211234567"


def test_landline_with_long_area_code() -> None:
    # Vsevolozhsk landline: area code 81370.
    assert normalize_phone("8 (81370) 2-34-56") == "78137023456"
    assert normalize_phone("+7 812 555-12-34") == "78125551234"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "12345",
        "921123456",  # 9 digits
        "+8 921 123 45 67",  # + must be followed by 7
        "+79211234567 доб. 12",
        "8921123456789",  # too many digits
        "89211234567x",
        "1921123456",  # national numbers never start with 1
        "0211234567",
        "+7 (021) 123-45-67",
        "+7921123456",  # + and 10 digits
        "9211234567".replace("9", "٩"),  # non-ASCII digits
    ],
)
def test_bad_phones_refused_with_russian_message(raw: str) -> None:
    with pytest.raises(Invalid) as exc:
        normalize_phone(raw)
    assert exc.value.code == "bad_phone"
    assert exc.value.message.startswith("Неверный номер телефона")


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("8921", "7921"),
        ("+7921", "7921"),
        ("+7 (921) 12", "792112"),
        ("8 (921) 123-45-67", "79211234567"),
        ("123-45", "12345"),
        ("4567", "4567"),
        ("921 123", "921123"),
        ("8067", "8067"),  # 8 then a digit no national number starts with: not a trunk prefix
        ("45-67", "4567"),
    ],
)
def test_partial_phone_search_digits(raw: str, digits: str) -> None:
    assert phone_search_digits(raw) == digits


def test_partial_search_matches_the_normalised_number() -> None:
    stored = normalize_phone("+7 (921) 123-45-67")
    for typed in ("8921", "+7 921 12", "123-45", "4567", "921-123-45-67"):
        assert phone_search_digits(typed) in stored


@pytest.mark.parametrize("raw", ["", "892", "12-3", "абвг", "+8921", "12a45"])
def test_partial_search_needs_four_digits(raw: str) -> None:
    with pytest.raises(Invalid):
        phone_search_digits(raw)


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("112-233-445 95", "11223344595"),
        ("11223344595", "11223344595"),
        ("112 233 445 95", "11223344595"),
        ("112-233-445-95", "11223344595"),
    ],
)
def test_valid_snils(raw: str, digits: str) -> None:
    assert validate_snils(raw) == digits


def test_snils_checksum_rules() -> None:
    # Digits weighted 9..1 from the left.
    assert snils_checksum("112233445") == 95
    assert snils_checksum("900000001") == 82  # 81 + 1
    assert snils_checksum("900000073") == 98  # 81 + 14 + 3
    assert snils_checksum("900000091") == 0  # sum 100 -> 00
    assert snils_checksum("900000092") == 0  # sum 101 -> 00
    assert snils_checksum("900000093") == 1  # sum 102 -> 102 % 101 = 1
    assert snils_checksum("999999999") == 1  # 405 % 101 = 1
    assert snils_checksum("990000000") == 52  # 153 % 101 = 52


def test_snils_sum_modulo_101_giving_100_is_00() -> None:
    # 9*9 + 9*8 + 6*7 + 1*6 = 201; 201 % 101 = 100 -> 00.
    assert snils_checksum("996100000") == 0
    assert validate_snils("996-100-000 00") == "99610000000"


@pytest.mark.parametrize(
    "raw",
    [
        "112-233-445 96",  # wrong control number
        "112-233-445 59",
        "112-233-445",  # too short
        "112-233-445 955",
        "112-233-44a 95",
        "000-000-000 00",
        "",
    ],
)
def test_invalid_snils(raw: str) -> None:
    with pytest.raises(Invalid) as exc:
        validate_snils(raw)
    assert exc.value.code == "bad_snils"
    assert exc.value.message.startswith("Неверный СНИЛС")


def test_old_snils_numbers_have_no_checksum() -> None:
    # Up to 001-001-998 the control number is not checked.
    assert validate_snils("001-001-998 77") == "00100199877"
    assert validate_snils("000-000-001 00") == "00000000100"
    # From 001-001-999 on it is.
    good = snils_checksum("001001999")
    assert validate_snils(f"001-001-999 {good:02d}") == f"001001999{good:02d}"
    with pytest.raises(Invalid):
        validate_snils(f"001-001-999 {(good + 1) % 100:02d}")


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("Семёнов", "Пётр ", None), "семенов петр"),
        (("  ИВАНОВ  ", "иван", "Иванович"), "иванов иван иванович"),
        (("Римская - Корсакова", "Анна"), "римская-корсакова анна"),
        (("Салтыков–Щедрин",), "салтыков-щедрин"),  # en dash
        (("О'Нил", "Шон"), "онил шон"),
        (("Петров", "И.И."), "петров и и"),
        (("Петров,", "Иван!"), "петров иван"),
        ((None, None), ""),
        (("Ёлкина", "Алёна"), "елкина алена"),
        (("Smith", "John"), "smith john"),
        (("Иванов 2",), "иванов"),
    ],
)
def test_normalize_name(parts: tuple[str | None, ...], expected: str) -> None:
    assert normalize_name(*parts) == expected


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("8 921 123 45 6", "не хватает цифры"),  # trunk 8 and a mobile number one digit short
        ("+7 921 123 45 6", "не хватает цифры"),
        ("921 123 45 6", "не хватает цифры"),
        ("8 921 123 45 678", "лишняя цифра"),
        ("+7 921 123 45 678", "лишняя цифра"),
        ("8921123456789", "лишних цифр: 2"),
    ],
)
def test_phone_with_a_missing_or_extra_digit_is_refused_saying_so(raw: str, says: str) -> None:
    with pytest.raises(Invalid) as exc:
        normalize_phone(raw)
    assert exc.value.code == "bad_phone" and says in exc.value.message


def test_ten_digit_national_numbers_starting_with_8_still_accepted() -> None:
    # 812 (St Petersburg) and 813xx (Leningrad Oblast) are real area codes without a trunk 8.
    assert normalize_phone("812 555 12 34") == "78125551234"
    assert normalize_phone("8137023456") == "78137023456"


def test_latin_look_alikes_in_a_cyrillic_name_are_read_as_cyrillic() -> None:
    assert normalize_name("Ивaнова", "Мaрия") == "иванова мария"  # Latin «a»
    assert normalize_name("ИBAHOB") == "иванов"  # Latin B, A, H, O (upper case)
    assert normalize_name("Smith") == "smith"  # a Latin name stays Latin
    assert fix_homoglyphs("cеменов") == "семенов"


def test_wrong_keyboard_layout_is_switched() -> None:
    assert switch_layout("Bdfyjdf") == "Иванова"
    assert switch_layout("Ctv`yjdf") == "Семёнова"
    assert switch_layout("Иванова") is None
    assert switch_layout("123") is None


@pytest.mark.parametrize(
    ("yy", "today", "year"),
    [(41, date(2026, 12, 1), 1941), (15, date(2026, 12, 1), 2015), (30, date(2026, 12, 1), 1930)],
)
def test_two_digit_year_rule(yy: int, today: date, year: int) -> None:
    assert read_birth_year(yy, month=3, day=12, today=today) == year


def test_ambiguous_two_digit_year_refused() -> None:
    with pytest.raises(Invalid) as exc:
        read_birth_year(24, month=3, day=12, today=date(2026, 12, 1))
    assert exc.value.code == "ambiguous_year" and "полностью" in exc.value.message
