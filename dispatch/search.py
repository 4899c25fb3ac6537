"""What a passenger search asks for: a phone (full or partial) or a name, maybe with a birth date.

Pure: the operator types one line ("+7 (921) 123-45-67", "8921123", "Иванова Мария 12.03.1941",
"иваноф") or fills explicit fields; :func:`parse_query` turns it into a :class:`PhoneQuery` or a
:class:`NameQuery` that the store answers with the trigram / btree indexes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from dispatch.errors import Invalid
from dispatch.identity import normalize_name, phone_search_digits, read_birth_year, switch_layout

__all__ = ["PhoneQuery", "NameQuery", "parse_query", "MIN_NAME_CHARS"]

MIN_NAME_CHARS = 3
_PHONEISH = re.compile(r"^[\s()+\-.\d\u00a0\u2010-\u2015]+$")
_DATE = re.compile(r"\b(\d{1,2})[./-](\d{1,2})[./-](\d{4}|\d{2})\b|\b(\d{4})-(\d{2})-(\d{2})\b")
# Anything left in a name after the date is taken out that still has a digit is a date the
# operator typed in a form we do not read (``12.3``, ``1941``): refused rather than dropped.
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class PhoneQuery:
    """Digits to find in normalised phones; ``full`` when they are a whole 11-digit number.

    ``alt_digits``: the digits as typed when a leading 8 was read as the trunk prefix
    ("8 921 12" → ``792112``); a fragment from the middle of a number ("812-34") may also
    start with 8, so both readings are searched.
    """

    digits: str
    alt_digits: str | None = None

    @property
    def full(self) -> bool:
        return len(self.digits) == 11


@dataclass(frozen=True)
class NameQuery:
    """A normalised name (``normalize_name``) and an optional birth date.

    ``alt_name_norm``: the name as it reads on the Russian keyboard layout when it was typed in
    Latin letters with the English layout on («Bdfyjdf» → ``иванова``); both are searched.
    """

    name_norm: str
    birth_date: date | None
    alt_name_norm: str | None = None


def parse_query(
    text: str | None = None,
    *,
    phone: str | None = None,
    name: str | None = None,
    birth_date: date | None = None,
    today: date | None = None,
) -> PhoneQuery | NameQuery:
    """Read a search: explicit ``phone`` or ``name``/``birth_date``, else the free ``text``.

    In free text, a line of digits and phone punctuation is a phone; anything else is a name,
    with a date (``ДД.ММ.ГГГГ``, ``ДД.ММ.ГГ`` or ``ГГГГ-ММ-ДД``) taken out as the birth date. A
    two-digit year is read by :func:`dispatch.identity.read_birth_year` on ``today`` (the region's
    date; the caller passes it, default: the machine's date) or refused when it is ambiguous;
    other digits left in the name are refused, never silently dropped.

    Raises
    ------
    Invalid
        Nothing to search for, a phone fragment under 4 digits, a name under 3 letters, or an
        impossible date.
    """
    if phone and phone.strip():
        return _phone_query(phone)
    if name and name.strip():
        return _name_query(name, birth_date)
    text = (text or "").strip()
    if not text:
        raise Invalid("Укажите телефон или ФИО для поиска", code="empty_search")
    if _PHONEISH.fullmatch(text):
        return _phone_query(text)
    m = _DATE.search(text)
    if m:
        if m.group(1):
            d, mo, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
            if len(m.group(3)) == 2:
                if not (1 <= mo <= 12 and 1 <= d <= 31):
                    raise Invalid("Неверная дата рождения", code="bad_date")
                y = read_birth_year(y, month=mo, day=d, today=today or date.today())
        else:
            y, mo, d = int(m.group(4)), int(m.group(5)), int(m.group(6))
        try:
            birth_date = date(y, mo, d)
        except ValueError:
            raise Invalid("Неверная дата рождения", code="bad_date") from None
        text = (text[: m.start()] + " " + text[m.end() :]).strip()
    if _DIGIT.search(text):
        raise Invalid(
            "Не удалось прочитать дату рождения: укажите её как ДД.ММ.ГГГГ", code="bad_date"
        )
    return _name_query(text, birth_date)


def _phone_query(text: str) -> PhoneQuery:
    digits = phone_search_digits(text)
    typed = re.sub(r"\D", "", text)
    if not text.strip().startswith("+") and typed != digits and len(typed) < 11:
        return PhoneQuery(digits, typed)
    return PhoneQuery(digits)


def _name_query(name: str, birth_date: date | None) -> NameQuery:
    norm = normalize_name(name)
    if len(norm.replace(" ", "")) < MIN_NAME_CHARS:
        raise Invalid(
            f"Для поиска по ФИО введите не менее {MIN_NAME_CHARS} букв", code="short_name_search"
        )
    switched = switch_layout(name)
    alt = normalize_name(switched) if switched else None
    return NameQuery(norm, birth_date, alt if alt and alt != norm else None)
