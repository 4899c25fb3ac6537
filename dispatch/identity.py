"""Passenger identity values: phone numbers, СНИЛС, names — normalised for storage and search.

Pure functions, no I/O. Every refusal is a :class:`dispatch.errors.Invalid` with a Russian message
the operator sees as is.
"""

from __future__ import annotations

import re
from datetime import date

from dispatch.errors import Invalid

__all__ = [
    "normalize_phone",
    "phone_search_digits",
    "validate_snils",
    "normalize_name",
    "fix_homoglyphs",
    "switch_layout",
    "read_birth_year",
    "MAX_AGE_YEARS",
]

# Characters an operator may type around the digits of a phone number.
_PHONE_DECOR = re.compile(r"[\s()\-.\u2010-\u2015\u00a0]")
# The first digit of a national number in the +7 numbering zone: 3, 4, 8, 9 are Russian
# (geographic and mobile), 6 and 7 Kazakhstan. 0, 1, 2 and 5 are not assigned.
_NATIONAL_FIRST = frozenset("346789")
# National numbers of the +7 zone that start with 8 use 80x (free phone) and 81x–87x (geographic);
# 88x and 89x are not assigned. A 10-digit "89..." or "88..." is a trunk 8 with a digit missing.
_NO_SUCH_CODE = frozenset({"88", "89"})
_TRUNK_THEN_NO_CODE = _NO_SUCH_CODE
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
    n = len(body)
    if plus:
        if body[:1] != "7":
            raise bad
        if n != 11:
            raise _digit_count(text, n - 1, 10)
        national = body[1:]
    elif n == 11 and body[0] in "78":
        national = body[1:]
    elif n == 10 and body[:2] in _TRUNK_THEN_NO_CODE:
        # «8 921 123 45 6»: a trunk prefix and a national number one digit short. No national
        # number of the +7 zone starts with 88 or 89, so this is not a 10-digit national number.
        raise _digit_count(text, 9, 10)
    elif n == 10:
        national = body
    elif n > 11:
        raise _digit_count(text, n, 11)
    elif n < 10:
        raise _digit_count(text, n, 10)
    else:  # 11 digits that start with neither 7 nor 8
        raise bad
    if national[0] not in _NATIONAL_FIRST or national[:2] in _NO_SUCH_CODE:
        raise bad
    return "7" + national


def _digit_count(text: str, got: int, want: int) -> Invalid:
    """A refusal that says whether digits are missing or extra."""
    if got < want:
        diff = want - got
        what = "не хватает цифры" if diff == 1 else f"не хватает {diff} цифр"
    else:
        diff = got - want
        what = "лишняя цифра" if diff == 1 else f"лишних цифр: {diff}"
    return Invalid(
        f"Неверный номер телефона: «{text}» — {what} (номер пишется как +7 и 10 цифр "
        "или 8 и 10 цифр)",
        code="bad_phone",
    )


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
    lower-cased, Latin look-alike letters inside a Cyrillic word become Cyrillic
    (:func:`fix_homoglyphs`: «Ивaнова» with a Latin ``a`` → ``иванова``), ``ё`` becomes ``е``,
    apostrophes are dropped (``О'Нил`` → ``онил``), other
    punctuation and digits become spaces, typographic dashes become ``-`` and spaces around a
    hyphen are removed (``Римская - Корсакова`` → ``римская-корсакова``); runs of spaces collapse.

    >>> normalize_name("Семёнов", "Пётр ", None)
    'семенов петр'
    """
    text = " ".join(p for p in parts if p)
    text = fix_homoglyphs(text.lower()).replace("ё", "е")
    text = _APOSTROPHES.sub("", text)
    text = _DASHES.sub("-", text)
    text = _NOT_WORD.sub(" ", text)
    text = re.sub(r"\s*-\s*", "-", text)
    text = re.sub(r"-{2,}", "-", text)
    words = [w.strip("-") for w in text.split()]
    return " ".join(w for w in words if w)


# Latin letters that look like Cyrillic ones (lower case), as typed by mistake or pasted from a
# document with mixed scripts.
_HOMOGLYPHS = str.maketrans("aceopxykmthbu", "асеорхукмтнви")
_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
_LATIN = re.compile(r"[a-z]", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+")


def fix_homoglyphs(text: str) -> str:
    """Latin look-alike letters replaced by Cyrillic ones in every word that has Cyrillic letters.

    Works on lower-case text (``a c e o p x y k m t h b u`` → ``а с е о р х у к м т н в и``; the
    last three are the look-alikes of capital Н, В and of a handwritten и). A word with no Cyrillic
    letter is left alone (it may be a foreign name or the wrong keyboard layout,
    :func:`switch_layout`).

    >>> fix_homoglyphs("ивaнова мaрия smith")
    'иванова мария smith'
    """

    def one(m: re.Match[str]) -> str:
        w = m.group(0)
        if _CYRILLIC.search(w) and _LATIN.search(w):
            return w.translate(_HOMOGLYPHS)
        return w

    return _WORD.sub(one, text)


# The Russian ЙЦУКЕН layout over the US QWERTY keys (lower case; upper case is mapped too).
_QWERTY = "`qwertyuiop[]asdfghjkl;'zxcvbnm,."
_QWERTY_SHIFT = '~QWERTYUIOP{}ASDFGHJKL:"ZXCVBNM<>'
_JCUKEN = "ёйцукенгшщзхъфывапролджэячсмитьбю"
_LAYOUT = str.maketrans(_QWERTY + _QWERTY_SHIFT, _JCUKEN + _JCUKEN.upper())


def switch_layout(text: str) -> str | None:
    """``text`` read as if typed on the Russian layout with the English one switched on.

    Returns ``None`` when the text has Cyrillic letters or no Latin ones (nothing to switch).

    >>> switch_layout("Bdfyjdf")
    'Иванова'
    >>> switch_layout("Ctv`yjd")
    'Семёнов'
    """
    if _CYRILLIC.search(text) or not _LATIN.search(text):
        return None
    # ``[ ] ; ' , . ` `` are letters on the Russian layout (х ъ ж э б ю ё), and with Shift
    # ``{ } : " < > ~`` their capitals.
    return text.translate(_LAYOUT)


#: Oldest age the two-digit-year rule accepts (see :func:`read_birth_year`).
MAX_AGE_YEARS = 105


def read_birth_year(two_digits: int, *, month: int, day: int, today: date) -> int:
    """The full year of a birth date written with a two-digit year (``12.3.41``).

    The rule: of the two readings 19YY and 20YY, keep those that are not in the future and give an
    age of at most :data:`MAX_AGE_YEARS` on ``today``; exactly one must remain. ``41`` (in 2026)
    → 1941 (2041 is in the future); ``15`` → 2015 (1915 would be 111 years); ``24`` → refused:
    2024 (a child of 2) and 1924 (102) are both possible, the operator types the year in full.

    Raises
    ------
    Invalid
        ``code="ambiguous_year"`` when both or neither reading is possible, ``bad_date`` when the
        day and month do not exist.
    """
    if not 0 <= two_digits <= 99:
        raise Invalid("Год рождения указывается двумя или четырьмя цифрами", code="bad_date")
    options = []
    for century in (1900, 2000):
        try:
            d = date(century + two_digits, month, day)
        except ValueError:
            continue
        age = today.year - d.year - ((today.month, today.day) < (d.month, d.day))
        if d <= today and age <= MAX_AGE_YEARS:
            options.append(d.year)
    if len(options) == 1:
        return options[0]
    if not options:
        try:
            date(2000 + two_digits, month, day)
        except ValueError:
            raise Invalid("Неверная дата рождения", code="bad_date") from None
    raise Invalid(
        f"Год рождения «{two_digits:02d}» можно прочитать по-разному: укажите год полностью "
        "(четыре цифры)",
        code="ambiguous_year",
    )
