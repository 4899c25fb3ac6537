"""The registry forms of the admin pages: a flat HTML form → the service's ``*In`` / ``*Patch``
model, or Russian messages by field (no I/O).

Each registry is described once by :data:`FORMS` (its fields and how each is read); the same
description turns a stored record back into the form's values for editing. The models
(``dispatch.models``) do the validation the API does; this module only reads the text of the
form (dates, numbers, lists) and places each refusal next to the field it concerns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from dispatch.geofence import geofence_problem
from dispatch.models import (
    CarrierIn,
    CarrierPatch,
    DriverIn,
    DriverPatch,
    PassengerIn,
    PassengerPatch,
    SocialObjectIn,
    SocialObjectPatch,
    VehicleIn,
    VehiclePatch,
)
from web.pages.forms import Errors
from web.pages.render import phone
from web.validation_ru import FIELD_RU, error_ru

Kind = Literal["text", "opt", "int", "float", "opt_float", "bool", "date", "id"]
MAX_BENEFITS = 20  # the model's limit: every stored benefit gets a row, so an edit never drops one
BLANK_BENEFIT_ROWS = 2  # empty rows offered after the stored ones (at least 5 rows in all)


def benefit_rows(values: Mapping[str, Any]) -> range:
    """Rows of the passenger form: every filled row, then blanks, within the model's limit."""
    filled = [i for i in range(MAX_BENEFITS) if values.get(f"benefit_category_{i}")]
    shown = max(5, (max(filled) + 1 if filled else 0) + BLANK_BENEFIT_ROWS)
    return range(min(MAX_BENEFITS, shown))


MAX_VERTICES = 500


@dataclass(frozen=True)
class FormSpec:
    """One registry's form: its table, the models, the fields ``(name, kind)``."""

    table: str
    title: str  # Russian, singular: «пассажир»
    model_in: type[BaseModel]
    model_patch: type[BaseModel]
    fields: tuple[tuple[str, Kind], ...]


FORMS: dict[str, FormSpec] = {
    "passengers": FormSpec(
        "passengers", "пассажир", PassengerIn, PassengerPatch,
        (("last_name", "text"), ("first_name", "text"), ("middle_name", "opt"),
         ("birth_date", "date"), ("snils", "opt"), ("home_address", "opt"),
         ("home_lat", "opt_float"), ("home_lon", "opt_float"), ("wheelchair", "bool"),
         ("walker", "bool"), ("visually_impaired", "bool"), ("needs_companion", "bool"),
         ("notes", "opt")),
    ),
    "objects": FormSpec(
        "social_objects", "социальный объект", SocialObjectIn, SocialObjectPatch,
        (("name", "text"), ("object_type", "text"), ("address", "text"), ("lat", "float"),
         ("lon", "float"), ("radius_m", "float")),
    ),
    "carriers": FormSpec(
        "carriers", "перевозчик", CarrierIn, CarrierPatch,
        (("name", "text"), ("inn", "opt"), ("contract_no", "opt"), ("phone", "opt"),
         ("depot_address", "opt"), ("depot_lat", "opt_float"), ("depot_lon", "opt_float")),
    ),
    "vehicles": FormSpec(
        "vehicles", "автомобиль", VehicleIn, VehiclePatch,
        (("carrier_id", "id"), ("plate", "text"), ("vehicle_type", "text"), ("seats", "int"),
         ("wheelchair_places", "int"), ("model", "opt"), ("mqtt_id", "text")),
    ),
    "drivers": FormSpec(
        "drivers", "водитель", DriverIn, DriverPatch,
        (("carrier_id", "id"), ("full_name", "text"), ("license_no", "text"), ("phone", "opt")),
    ),
}  # fmt: skip

# A refusal of the service (or a model-wide check) names no field: where to show it.
_MESSAGE_FIELD = (
    ("СНИЛС", "snils"),
    ("ИНН", "inn"),
    ("госномер", "plate"),
    ("MQTT", "mqtt_id"),
    ("удостоверени", "license_no"),
    ("Перевозчик не найден", "carrier_id"),
    ("категори", "benefits"),
    ("льгот", "benefits"),
    ("тип социального", "object_type"),
    ("тип транспортного", "vehicle_type"),
    ("Геозона", "geofence"),
    ("Координаты адреса", "home_lat"),
    ("Координаты базы", "depot_lat"),
    ("Пассажир уже есть", "last_name"),
)


def field_of_message(message: str) -> str | None:
    """The form field a refusal without a field belongs to (by its words), or ``None``."""
    return next((f for words, f in _MESSAGE_FIELD if words in message), None)


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _number(text: str) -> float | None:
    try:
        value = float(text.replace(",", ".").replace("\u00a0", "").replace(" ", ""))
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def parse_date(text: str) -> date | None:
    """``ГГГГ-ММ-ДД`` (a date input) or ``ДД.ММ.ГГГГ``; ``None`` when it is neither."""
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _label(name: str) -> str:
    return FIELD_RU.get(name, name)


def _read(form: Mapping[str, Any], spec: FormSpec, errors: Errors) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name, kind in spec.fields:
        text = _text(form, name)
        if kind == "bool":
            body[name] = bool(text)
        elif kind == "text":
            body[name] = text  # the model says when it is empty
        elif kind == "opt":
            body[name] = text or None
        elif kind == "date":
            if not text:
                errors.add(name, f"{_label(name)}: обязательное поле")
            elif (d := parse_date(text)) is None:
                errors.add(name, f"{_label(name)}: неверная дата (ДД.ММ.ГГГГ)")
            else:
                body[name] = d
        elif kind in ("int", "id"):
            if not text and kind == "int":
                body[name] = 0 if name == "wheelchair_places" else None
                if body[name] is None:
                    errors.add(name, f"{_label(name)}: обязательное поле")
            elif not (text.isdigit() and len(text) < 10):
                word = "выберите из списка" if kind == "id" else "ожидается целое число"
                errors.add(name, f"{_label(name)}: {word}")
            else:
                body[name] = int(text)
        else:  # float, opt_float
            if not text:
                if kind == "float":
                    errors.add(name, f"{_label(name)}: обязательное поле")
                else:
                    body[name] = None
            elif (x := _number(text)) is None:
                errors.add(name, f"{_label(name)}: ожидается число")
            else:
                body[name] = x
    return body


def _phones(form: Mapping[str, Any]) -> list[str]:
    return [p.strip() for p in re.split(r"[,;\n]", _text(form, "phones")) if p.strip()]


def _benefits(form: Mapping[str, Any], errors: Errors) -> list[dict[str, Any]]:
    out = []
    for i in range(MAX_BENEFITS):
        category = _text(form, f"benefit_category_{i}")
        start, end = _text(form, f"benefit_from_{i}"), _text(form, f"benefit_to_{i}")
        if not (category or start or end):
            continue
        row: dict[str, Any] = {"category": category}
        field = f"benefit_{i}"
        if not category:
            errors.add(field, "Льгота: выберите категорию")
        if (d := parse_date(start)) is None:
            errors.add(field, "Льгота: укажите дату начала (ДД.ММ.ГГГГ)")
        else:
            row["valid_from"] = d
        if end and (d := parse_date(end)) is None:
            errors.add(field, "Льгота: неверная дата окончания (ДД.ММ.ГГГГ)")
        elif end:
            row["valid_to"] = d
        row["document_ref"] = _text(form, f"benefit_doc_{i}") or None
        out.append(row)
    return out


def parse_ring(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """The polygon of the form's «широта, долгота» lines as GeoJSON (lon, lat), or an error.

    Empty text is no polygon (the circle is used). The ring is closed here; at least three
    distinct vertices are needed.
    """
    lines = [ln.strip() for ln in text.replace(";", "\n").splitlines() if ln.strip()]
    if not lines:
        return None, None
    if len(lines) > MAX_VERTICES:
        return None, f"Геозона: не больше {MAX_VERTICES} вершин"
    ring: list[list[float]] = []
    for n, line in enumerate(lines, start=1):
        parts = re.split(r"[\s,]+", line.replace(", ", ",").strip())
        if len(parts) == 4:  # decimal commas: «60,06, 30,47» → 60.06 30.47
            parts = [f"{parts[0]}.{parts[1]}", f"{parts[2]}.{parts[3]}"]
        lat, lon = (_number(parts[0]), _number(parts[1])) if len(parts) == 2 else (None, None)
        if lat is None or lon is None:
            return None, f"Геозона: строка {n} — нужны широта и долгота через запятую"
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return None, f"Геозона: строка {n} — координаты вне диапазона"
        ring.append([lon, lat])
    if ring[0] != ring[-1]:
        ring.append(ring[0])
    if len({tuple(p) for p in ring}) < 3:
        return None, "Геозона: нужно не меньше трёх вершин"
    return {"type": "Polygon", "coordinates": [ring]}, None


def ring_text(geofence: dict[str, Any] | None) -> str:
    """A stored polygon as the form's «широта, долгота» lines (the closing vertex left out)."""
    if not geofence:
        return ""
    ring = geofence["coordinates"][0]
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring = ring[:-1]
    return "\n".join(f"{lat:.6f}, {lon:.6f}" for lon, lat in ring)


def parse(kind: str, form: Mapping[str, Any], *, editing: bool) -> tuple[BaseModel | None, Errors]:
    """The service's model for registry ``kind`` (``*Patch`` of every field when editing, so a
    cleared optional field is cleared), or the errors by form field."""
    spec = FORMS[kind]
    errors = Errors()
    control = sorted(k for k, v in form.items() if isinstance(v, str) and "\x00" in v)
    for name in control:  # PostgreSQL refuses NUL in text
        field = re.sub(r"^benefit_(category|from|to|doc)_", "benefit_", name)
        errors.add(field, f"{_label(field)}: недопустимые символы")
    if control:
        return None, errors
    body = _read(form, spec, errors)
    if kind == "passengers":
        body["phones"] = _phones(form)
        body["benefits"] = _benefits(form, errors)
        if not editing:
            body["allow_namesake"] = bool(_text(form, "allow_namesake"))
    elif kind == "objects":
        polygon, problem = (None, None)
        if _text(form, "zone_kind") == "polygon":
            polygon, problem = parse_ring(_text(form, "geofence"))
            if problem:
                errors.add("geofence", problem)
            elif polygon is None:
                errors.add("geofence", "Геозона: нарисуйте контур на карте или выберите круг")
        body["geofence"] = polygon
        if polygon is not None and "lat" in body and "lon" in body:
            # the shape check first (its message is the clearer one), then the fit to the point
            try:
                SocialObjectPatch(geofence=polygon)
                problem = geofence_problem(polygon, lat=body["lat"], lon=body["lon"])
            except ValidationError as exc:
                problem = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
            if problem:
                errors.add("geofence", problem)
                body["geofence"] = None
    model = spec.model_patch if editing else spec.model_in
    try:
        parsed = model.model_validate(body)
    except ValidationError as exc:
        for err in exc.errors():
            _, message = error_ru(dict(err))
            raw = str(err.get("msg", "")).removeprefix("Value error, ")
            if err.get("type") == "value_error" and raw[:1].isupper():
                message = raw  # our validators' own sentence, already naming the field
            target = _form_field(tuple(err.get("loc", ())), message)
            if target and target in errors.fields:
                continue  # already said in our own words
            errors.add(target, message)
        return None, errors
    return (None if errors else parsed), errors


def _form_field(loc: tuple[Any, ...], message: str) -> str | None:
    if not loc:
        return field_of_message(message)
    if loc[0] == "benefits" and len(loc) > 1 and isinstance(loc[1], int):
        return f"benefit_{loc[1]}"
    return str(loc[0])


def values_of(kind: str, record: Any) -> dict[str, str]:
    """A stored record as the form's text values (for the edit page)."""
    data = record.model_dump()
    out: dict[str, str] = {}
    for name, k in FORMS[kind].fields:
        v = data.get(name)
        if k == "bool":
            out[name] = "1" if v else ""
        elif v is None:
            out[name] = ""
        elif k == "date":
            out[name] = v.isoformat()
        elif k in ("float", "opt_float"):
            out[name] = f"{v:g}" if name == "radius_m" else f"{v:.6f}"
        else:
            out[name] = str(v)
    if kind == "passengers":
        out["phones"] = ", ".join(phone(p) for p in data["phones"])
        snils = data["snils"] or ""
        if len(snils) == 11:
            out["snils"] = f"{snils[:3]}-{snils[3:6]}-{snils[6:9]} {snils[9:]}"
        for i, b in enumerate(data["benefits"]):
            out[f"benefit_category_{i}"] = b["category"]
            out[f"benefit_from_{i}"] = b["valid_from"].isoformat()
            out[f"benefit_to_{i}"] = b["valid_to"].isoformat() if b["valid_to"] else ""
            out[f"benefit_doc_{i}"] = b["document_ref"] or ""
    if kind == "objects":
        out["zone_kind"] = "polygon" if data["geofence"] else "circle"
        out["geofence"] = ring_text(data["geofence"])
    return out


def form_values(form: Mapping[str, Any]) -> dict[str, str]:
    """What was typed, to show again with the errors (text fields only; no files here)."""
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
