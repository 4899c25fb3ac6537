"""Passenger identity values: phone numbers, СНИЛС, names — normalised for storage and search.

Pure functions, no I/O. Every refusal is a :class:`dispatch.errors.Invalid` with a Russian message
the operator sees as is.
"""

from __future__ import annotations

import re

from dispatch.errors import Invalid

__all__ = ["normalize_phone", "phone_search_digits", "validate_snils", "normalize_name"]

# Characters an operator may type around the digits of a phone number.
_PHONE_DECOR = re.compile(r"[\s()\-.\u2010-\u2015\u00a0]")
# The first digit of a national number in the +7 numbering zone: 3, 4, 8, 9 are Russian
# (geographic and mobile), 6 and 7 Kazakhstan. 0, 1, 2 and 5 are not assigned.
_NATIONAL_FIRST = frozenset("346789")
_MIN_SEARCH_DIGITS = 4


def normalize_phone(raw: str) -> str:
    """Normalise a Russian phone number to 11 digits starting with ``7``.

    Accepts the usual ways people write numbers of the +7 zone: ``+7 (921) 123-45-67``,
    ``8-921-123-45-67``, ``8 (81370) 1-23-45``, ``79211234567``, ``9211234567`` (10 digits,
    national number without a trunk prefix). Spaces, brackets, dots and dashes are ignored.

    Parameters
    ----------
    raw
        The number as typed.

    Returns
    -------
    str
        ``"7"`` followed by the 10-digit national number, e.g. ``"79211234567"``.

    Raises
    ------
    Invalid
        ``code="bad_phone"``: letters or other characters, a wrong number of digits, a ``+`` not
        followed by ``7``, or a national number that cannot exist in the +7 zone.
    """
    text = (raw or "").strip()
    bad = Invalid(f"Неверный номер телефона: «{text}»", code="bad_phone")
    body = _PHONE_DECOR.sub("", text)
    plus = body.startswith("+")
    if plus:
        body = body[1:]
    if not body.isascii() or not body.isdigit():
        raise bad
    if plus:
        if len(body) != 11 or body[0] != "7":
            raise bad
        national = body[1:]
    elif len(body) == 11 and body[0] in "78":
        national = body[1:]
    elif len(body) == 10:
        national = body
    else:
        raise bad
    if national[0] not in _NATIONAL_FIRST:
        raise bad
    return "7" + national


def phone_search_digits(raw: str) -> str:
    """Digits to look for inside normalised phone numbers (a partial-number search).

    Decoration is dropped. A leading ``+7`` becomes ``7``; a leading ``8`` followed by a digit
    that can start a national number (3, 4, 6, 7, 8, 9) is read as the trunk prefix and becomes
    ``7`` too — ``"8921"`` → ``"7921"``, ``"8 (921) 12"`` → ``"792112"``. Other input is kept as
    digits: ``"123-45"`` → ``"12345"``. (A fragment from the middle of a number that happens to
    start with 8 and a valid digit is read as a prefix; type it without the 8 to search the
    middle.)

    Raises
    ------
    Invalid
        ``code="bad_phone_search"``: fewer than 4 digits, or characters other than digits and
        phone decoration.
    """
    text = (raw or "").strip()
    body = _PHONE_DECOR.sub("", text)
    plus = body.startswith("+")
    if plus:
        body = body[1:]
    if not body.isascii() or not body.isdigit() or len(body) < _MIN_SEARCH_DIGITS:
        raise Invalid(
            f"Для поиска по телефону введите не менее {_MIN_SEARCH_DIGITS} цифр: «{text}»",
            code="bad_phone_search",
        )
    if plus:
        if body[0] != "7":
            raise Invalid(f"Неверный номер телефона: «{text}»", code="bad_phone_search")
        return body
    if body[0] == "8" and body[1] in _NATIONAL_FIRST and len(body) <= 11:
        return "7" + body[1:]
    return body


# СНИЛС numbers up to and including 001-001-998 were issued before the checksum was introduced.
_SNILS_NO_CHECK_MAX = 1_001_998


def validate_snils(raw: str) -> str:
    """Validate a СНИЛС (insurance number) and return its 11 digits.

    The format is ``XXX-XXX-XXX YY``; spaces and dashes are ignored. The control number ``YY``
    is checked per the Pension Fund rules: the sum of the first nine digits each multiplied by
    its position counted from the right (9…1); a sum below 100 is the control number itself,
    100 and 101 give ``00``, a larger sum is taken modulo 101 and the same rule applied again.
    Numbers up to 001-001-998 carry no checksum and are not checked. ``000-000-000 00`` is refused.

    Raises
    ------
    Invalid
        ``code="bad_snils"`` when the input is not 11 digits or the control number is wrong.
    """
    text = (raw or "").strip()
    digits = re.sub(r"[\s\-\u2010-\u2015\u00a0]", "", text)
    if len(digits) != 11 or not digits.isascii() or not digits.isdigit():
        raise Invalid(f"Неверный СНИЛС: «{text}» — нужно 11 цифр", code="bad_snils")
    number = int(digits[:9])
    if number == 0:
        raise Invalid(f"Неверный СНИЛС: «{text}»", code="bad_snils")
    if number > _SNILS_NO_CHECK_MAX and int(digits[9:]) != snils_checksum(digits[:9]):
        raise Invalid(f"Неверный СНИЛС: «{text}» — не сходится контрольное число", code="bad_snils")
    return digits


def snils_checksum(first9: str) -> int:
    """The control number (0–99) of a СНИЛС whose first nine digits are ``first9``."""
    total = sum(int(d) * w for d, w in zip(first9, range(9, 0, -1), strict=True))
    if total > 101:
        total %= 101
    return 0 if total in (100, 101) else total


_DASHES = re.compile(r"[\u2010-\u2015\u2212]")
_NOT_WORD = re.compile(r"[^\w\s-]|_|\d")
_APOSTROPHES = re.compile(r"[’'`ʼ]")


def normalize_name(*parts: str | None) -> str:
    """A name reduced for comparison and search.

    The parts (surname, first name, patronymic, any of them ``None``) are joined with spaces,
    lower-cased, ``ё`` becomes ``е``, apostrophes are dropped (``О'Нил`` → ``онил``), other
    punctuation and digits become spaces, typographic dashes become ``-`` and spaces around a
    hyphen are removed (``Римская - Корсакова`` → ``римская-корсакова``); runs of spaces collapse.

    >>> normalize_name("Семёнов", "Пётр ", None)
    'семенов петр'
    """
    text = " ".join(p for p in parts if p)
    text = text.lower().replace("ё", "е")
    text = _APOSTROPHES.sub("", text)
    text = _DASHES.sub("-", text)
    text = _NOT_WORD.sub(" ", text)
    text = re.sub(r"\s*-\s*", "-", text)
    text = re.sub(r"-{2,}", "-", text)
    words = [w.strip("-") for w in text.split()]
    return " ".join(w for w in words if w)
