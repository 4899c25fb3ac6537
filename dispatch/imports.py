"""CSV import of the registries: parse and validate every row, report bad rows by line number.

Pure: bytes in, validated models and row errors out. The shell (``dispatch.services.registry``)
writes the good rows, each in its own savepoint, and adds the rows the database refuses
(duplicates, unknown references) to the errors with their line numbers.

Files: UTF-8 (with or without BOM) or Windows-1251; ``;`` or ``,`` separated (sniffed from the
header); the first line is a header with English field names or the Russian column titles below.
Dates ``ГГГГ-ММ-ДД`` or ``ДД.ММ.ГГГГ``; decimals with a point or a comma; yes/no as
``1/0``, ``да/нет``, ``true/false``, ``+/-``. Several phones in one cell are separated by ``;``
or ``,`` (whichever is not the column separator).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ValidationError

from dispatch.errors import Invalid
from dispatch.models import CarrierIn, DriverIn, PassengerIn, SocialObjectIn, VehicleIn

__all__ = ["RowError", "ParsedCsv", "parse_csv", "KINDS", "MAX_ROWS"]

MAX_ROWS = 100_000


@dataclass(frozen=True)
class RowError:
    """A refused row: its line number in the file (the header is line 1) and why.

    ``message`` is a Russian reason decided here (or by the database, in the shell);
    ``validation`` holds the row's pydantic errors instead (``loc``, ``type``, ``msg``, ``ctx``;
    never the input value, which may be personal data) — ``web.validation_ru`` words them.
    """

    line: int
    message: str = ""
    validation: tuple[dict[str, Any], ...] = ()


def _validation_errors(exc: ValidationError) -> tuple[dict[str, Any], ...]:
    return tuple(
        {k: v for k, v in e.items() if k in ("loc", "type", "msg", "ctx")} for e in exc.errors()
    )


@dataclass(frozen=True)
class ParsedCsv:
    rows: tuple[tuple[int, Any], ...]
    errors: tuple[RowError, ...]


_ALIASES = {
    "фамилия": "last_name",
    "имя": "first_name",
    "отчество": "middle_name",
    "дата рождения": "birth_date",
    "дата_рождения": "birth_date",
    "телефон": "phones",
    "телефоны": "phones",
    "снилс": "snils",
    "адрес": "address",
    "широта": "lat",
    "долгота": "lon",
    "коляска": "wheelchair",
    "ходунки": "walker",
    "нарушение зрения": "visually_impaired",
    "сопровождающий": "needs_companion",
    "нужен сопровождающий": "needs_companion",
    "категория": "category",
    "льгота с": "valid_from",
    "льгота по": "valid_to",
    "документ": "document_ref",
    "примечание": "notes",
    "название": "name",
    "наименование": "name",
    "тип": "type",
    "геозона": "geofence",
    "радиус": "radius_m",
    "радиус, м": "radius_m",
    "инн": "inn",
    "договор": "contract_no",
    "перевозчик": "carrier_id",
    "госномер": "plate",
    "тип тс": "vehicle_type",
    "мест": "seats",
    "мест для колясок": "wheelchair_places",
    "модель": "model",
    "mqtt": "mqtt_id",
    "фио": "full_name",
    "удостоверение": "license_no",
}

_TRUE = {"1", "да", "д", "true", "t", "yes", "y", "+", "истина"}
_FALSE = {"0", "нет", "н", "false", "f", "no", "n", "-", "ложь", ""}


def _bool(v: str) -> bool:
    s = v.strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise Invalid(f"ожидается да/нет, а не «{v}»")


def _date(v: str) -> date | None:
    s = v.strip()
    if not s:
        return None
    m = re.fullmatch(r"(\d{1,2})\.(\d{1,2})\.(\d{4})", s)
    try:
        if m:
            return date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
        return date.fromisoformat(s)
    except ValueError:
        raise Invalid(f"неверная дата «{s}»") from None


def _num(v: str) -> float | None:
    s = v.strip().replace(",", ".").replace("\u00a0", "").replace(" ", "")
    if not s:
        return None
    try:
        return float(s)
    except ValueError:
        raise Invalid(f"ожидается число, а не «{v}»") from None


def _opt(v: str | None) -> str | None:
    return v.strip() or None if v is not None else None


def _passenger(r: dict[str, str], sep: str) -> dict[str, Any]:
    other = ";" if sep == "," else ","
    phones = [p for p in re.split(f"[{re.escape(other)}]", r.get("phones", "")) if p.strip()]
    out: dict[str, Any] = {
        "last_name": r.get("last_name", ""),
        "first_name": r.get("first_name", ""),
        "middle_name": _opt(r.get("middle_name")),
        "birth_date": _date(r.get("birth_date", "")),
        "phones": phones,
        "snils": _opt(r.get("snils")),
        "home_address": _opt(r.get("home_address") or r.get("address")),
        "home_lat": _num(r.get("home_lat") or r.get("lat") or ""),
        "home_lon": _num(r.get("home_lon") or r.get("lon") or ""),
        "notes": _opt(r.get("notes")),
    }
    for flag in ("wheelchair", "walker", "visually_impaired", "needs_companion"):
        out[flag] = _bool(r.get(flag, ""))
    category = _opt(r.get("category"))
    if category:
        out["benefits"] = [
            {
                "category": category,
                "valid_from": _date(r.get("valid_from", "")) or date.today(),
                "valid_to": _date(r.get("valid_to", "")),
                "document_ref": _opt(r.get("document_ref")),
            }
        ]
    return out


def _social_object(r: dict[str, str], sep: str) -> dict[str, Any]:
    fence = _opt(r.get("geofence"))
    try:
        geofence = json.loads(fence) if fence else None
    except json.JSONDecodeError:
        raise Invalid("Геозона: неверный GeoJSON") from None
    out: dict[str, Any] = {
        "name": r.get("name", ""),
        "object_type": r.get("object_type") or r.get("type", ""),
        "address": r.get("address", ""),
        "lat": _num(r.get("lat", "")),
        "lon": _num(r.get("lon", "")),
        "geofence": geofence,
    }
    radius = _num(r.get("radius_m", ""))
    if radius is not None:
        out["radius_m"] = radius
    return out


def _carrier(r: dict[str, str], sep: str) -> dict[str, Any]:
    return {
        "name": r.get("name", ""),
        "inn": _opt(r.get("inn")),
        "contract_no": _opt(r.get("contract_no")),
        "phone": _opt(r.get("phone") or r.get("phones")),
        "depot_address": _opt(r.get("depot_address")),
        "depot_lat": _num(r.get("depot_lat", "")),
        "depot_lon": _num(r.get("depot_lon", "")),
    }


def _int(v: str) -> int | str | None:
    s = v.strip()
    if not s:
        return None
    return int(s) if s.isdigit() else s


def _vehicle(r: dict[str, str], sep: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "carrier_id": _int(r.get("carrier_id", "")),
        "plate": r.get("plate", ""),
        "vehicle_type": r.get("vehicle_type") or r.get("type", ""),
        "seats": _int(r.get("seats", "")),
        "model": _opt(r.get("model")),
        "mqtt_id": r.get("mqtt_id", ""),
    }
    wp = _int(r.get("wheelchair_places", ""))
    if wp is not None:
        out["wheelchair_places"] = wp
    return out


def _driver(r: dict[str, str], sep: str) -> dict[str, Any]:
    return {
        "carrier_id": _int(r.get("carrier_id", "")),
        "full_name": r.get("full_name", ""),
        "license_no": r.get("license_no", ""),
        "phone": _opt(r.get("phone") or r.get("phones")),
    }


Converter = Callable[[dict[str, str], str], dict[str, Any]]
KINDS: dict[str, tuple[type[BaseModel], Converter]] = {
    "passengers": (PassengerIn, _passenger),
    "social_objects": (SocialObjectIn, _social_object),
    "carriers": (CarrierIn, _carrier),
    "vehicles": (VehicleIn, _vehicle),
    "drivers": (DriverIn, _driver),
}


def _decode(content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content.decode("cp1251")


def parse_csv(content: bytes, *, kind: str) -> ParsedCsv:
    """Validate every data row of a CSV file for the registry ``kind``.

    Raises
    ------
    Invalid
        The file as a whole is unusable: empty, no header, unknown kind, too many rows.
    """
    if kind not in KINDS:
        raise Invalid(f"Неизвестный реестр «{kind}»", code="bad_kind")
    model, convert = KINDS[kind]
    text = _decode(content)
    if not text.strip():
        raise Invalid("Файл пустой", code="empty_file")
    first = text.splitlines()[0]
    sep = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise Invalid("Нет строки заголовка", code="no_header") from None
    fields = [_ALIASES.get(h.strip().lower(), h.strip().lower()) for h in header]
    rows: list[tuple[int, Any]] = []
    errors: list[RowError] = []
    line = reader.line_num
    while True:
        start = line + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(start, f"Строка не разбирается как CSV: {exc}"))
            line = reader.line_num
            continue
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(rows) + len(errors) >= MAX_ROWS:
            raise Invalid(f"Слишком много строк: не более {MAX_ROWS}", code="too_many_rows")
        if len(cells) > len(fields):
            errors.append(RowError(start, f"Лишние столбцы: {len(cells)} вместо {len(fields)}"))
            continue
        record = dict(zip(fields, [c.strip() for c in cells], strict=False))
        try:
            rows.append((start, model.model_validate(convert(record, sep))))
        except Invalid as exc:
            errors.append(RowError(start, exc.message))
        except ValidationError as exc:
            errors.append(RowError(start, validation=_validation_errors(exc)))
    return ParsedCsv(tuple(rows), tuple(errors))
