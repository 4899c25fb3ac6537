"""Parsing the booking wizard's form fields into a :class:`TripRequest` (no I/O).

The wizard carries the fields of earlier steps forward as hidden inputs, so every step's POST
holds the whole booking so far; this module turns that flat form into the service's request and
into ``{field: Russian message}`` for the template, so each refusal is shown next to its field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from dispatch.models import SocialObject, TripRequest
from web.validation_ru import error_ru

# The wizard's own field names (what the templates show errors next to)
PICKUP_FIELDS = (
    "pickup_kind",
    "pickup_object_id",
    "pickup_address",
    "pickup_lat",
    "pickup_lon",
    "pickup_date",
    "pickup_time",
    "comment",
    "companions",
)
# The return trip offered on the confirmation screen (step 5)
RETURN_FIELDS = ("return_trip", "return_date", "return_time")
# Where the service's refusal / validation field names are shown in the wizard
FIELD_MAP = {
    "pickup_at": "pickup_time",
    "pickup": "pickup_address",
    "pickup_address": "pickup_address",
    "pickup_lat": "pickup_address",
    "pickup_lon": "pickup_address",
    "destination": "destination_id",
    "destination_id": "destination_id",
    "companions": "companions",
    "comment": "comment",
    "vehicle_type": "vehicle_type",
    "category": "passenger",
    "passenger": "passenger",
    "passenger_id": "passenger",
    "override_reason": "override_reason",
    "return_pickup_at": "return_time",
}


@dataclass
class Errors:
    """Russian messages by wizard field; ``general`` for those without a field."""

    fields: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def add(self, name: str | None, message: str) -> None:
        target = FIELD_MAP.get(name or "", name or "")
        if target and target not in ("__root__",):
            if target in self.fields:
                self.fields[target] += "; " + message
            else:
                self.fields[target] = message
        else:
            self.general.append(message)

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _float(value: str) -> float | None:
    try:
        return float(value.replace(",", "."))
    except ValueError:
        return None


def local_pickup(day: str, at: str, tz: str, *, what: str = "подачи") -> datetime:
    """``ДД.ММ.ГГГГ`` or ISO date plus ``ЧЧ:ММ`` local time → UTC-aware datetime.

    Raises :class:`ValueError` with a Russian message naming ``what`` («подачи»).
    """
    try:
        d = date.fromisoformat(day) if "-" in day else datetime.strptime(day, "%d.%m.%Y").date()
    except ValueError:
        raise ValueError(f"Укажите дату {what} (ДД.ММ.ГГГГ)") from None
    try:
        t = time.fromisoformat(at)
    except ValueError:
        raise ValueError(f"Укажите время {what} (ЧЧ:ММ)") from None
    return datetime.combine(d, t, tzinfo=ZoneInfo(tz)).astimezone(ZoneInfo("UTC"))


def default_return(day: str, at: str, tz: str, *, after: timedelta) -> tuple[str, str]:
    """The return's local date (ISO) and time (``ЧЧ:ММ``) offered by default: ``after`` the
    outward pickup; empty strings when the outward date or time cannot be read."""
    try:
        start = local_pickup(day, at, tz)
    except ValueError:
        return "", ""
    back = (start + after).astimezone(ZoneInfo(tz))
    return back.date().isoformat(), back.strftime("%H:%M")


def trip_request(
    form: Mapping[str, Any],
    *,
    passenger_id: int,
    objects: Sequence[SocialObject],
    tz: str,
    need_destination: bool,
) -> tuple[TripRequest | None, Errors]:
    """The booking request of the form so far, or the errors by field.

    Step 3 (pickup) is checked with ``need_destination=False``; then only the pickup fields are
    judged and the request is not built. Another address without a point is sent as typed: the
    booking service finds it in the address index or refuses it naming the closest candidates.
    With ``return_trip`` ticked (step 5) the return's local date and time become
    ``return_pickup_at``.
    """
    errors = Errors()
    by_id = {o.id: o for o in objects}
    kind = _text(form, "pickup_kind") or "home"
    address: str | None = None
    lat = lon = None
    if kind == "object":
        obj = (
            by_id.get(int(_text(form, "pickup_object_id") or 0))
            if _is_int(form, "pickup_object_id")
            else None
        )
        if obj is None:
            errors.add("pickup_object_id", "Выберите социальный объект подачи")
        else:
            address, lat, lon = obj.address, obj.lat, obj.lon
    elif kind == "address":
        address = _text(form, "pickup_address") or None
        lat = _float(_text(form, "pickup_lat"))
        lon = _float(_text(form, "pickup_lon"))
        if not address:
            errors.add("pickup_address", "Введите адрес подачи")
        if lat is None or lon is None:
            lat = lon = None  # not chosen from the search nor on the map: the index decides
    elif kind != "home":
        errors.add("pickup_kind", "Выберите, откуда забрать пассажира")
    pickup_at = None
    try:
        pickup_at = local_pickup(_text(form, "pickup_date"), _text(form, "pickup_time"), tz)
    except ValueError as exc:
        errors.add("pickup_time", str(exc))
    companions_text = _text(form, "companions") or "0"
    if not companions_text.isdigit():
        errors.add("companions", "Число сопровождающих — целое число от 0")
    dest_id = None
    return_at = None
    if need_destination and _text(form, "return_trip"):
        try:
            return_at = local_pickup(
                _text(form, "return_date"), _text(form, "return_time"), tz, what="обратной подачи"
            )
        except ValueError as exc:
            errors.add("return_time", str(exc))
    if need_destination:
        if not _is_int(form, "destination_id"):
            errors.add("destination_id", "Выберите место назначения из реестра")
        else:
            dest_id = int(_text(form, "destination_id"))
    if errors or not need_destination:
        return None, errors
    body: dict[str, Any] = {
        "passenger_id": passenger_id,
        "destination_id": dest_id,
        "pickup_at": pickup_at,
        "companions": int(companions_text),
        "comment": _text(form, "comment") or None,
        "override_reason": _text(form, "override_reason") or None,
        "return_pickup_at": return_at,
    }
    if lat is not None and lon is not None:
        body.update(pickup_address=address, pickup_lat=lat, pickup_lon=lon)
    elif kind == "address":
        body.update(pickup_address=address)
    try:
        return TripRequest.model_validate(body), errors
    except ValidationError as exc:
        for err in exc.errors():
            name, message = error_ru(dict(err))
            errors.add(name, message)
        return None, errors


def _is_int(form: Mapping[str, Any], name: str) -> bool:
    text = _text(form, name)
    return text.isdigit() and 0 < len(text) < 19


def carried(form: Mapping[str, Any], names: Iterable[str] = PICKUP_FIELDS) -> dict[str, str]:
    """The fields of earlier steps, to carry forward as hidden inputs."""
    return {n: _text(form, n) for n in names}


def find_objects(
    objects: Sequence[SocialObject], *, query: str = "", object_type: str = ""
) -> list[SocialObject]:
    """Active social objects whose name or address holds every word of ``query`` (case- and
    ё-insensitive), of ``object_type`` when given."""
    words = [w for w in _fold(query).split() if w]
    out = []
    for o in objects:
        if not o.active or (object_type and o.object_type != object_type):
            continue
        hay = _fold(f"{o.name} {o.address}")
        if all(w in hay for w in words):
            out.append(o)
    return out


def _fold(text: str) -> str:
    return text.lower().replace("ё", "е")
