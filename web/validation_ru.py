"""Russian messages for pydantic validation errors: the API's 422 bodies and the CSV import's
row errors.

Our own validators already raise Russian ``ValueError`` messages; they pass through. pydantic's
error types are translated here, with the field's Russian label in front. The input value is never
part of a message (it may be personal data).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dispatch.imports import RowError

FIELD_RU = {
    "last_name": "Фамилия",
    "first_name": "Имя",
    "middle_name": "Отчество",
    "birth_date": "Дата рождения",
    "phones": "Телефоны",
    "phone": "Телефон",
    "snils": "СНИЛС",
    "home_address": "Адрес",
    "home_lat": "Широта",
    "home_lon": "Долгота",
    "lat": "Широта",
    "lon": "Долгота",
    "wheelchair": "Коляска",
    "walker": "Ходунки",
    "visually_impaired": "Нарушение зрения",
    "needs_companion": "Нужен сопровождающий",
    "benefits": "Льготы",
    "category": "Категория",
    "valid_from": "Начало льготы",
    "valid_to": "Окончание льготы",
    "name": "Название",
    "object_type": "Тип объекта",
    "address": "Адрес",
    "geofence": "Геозона",
    "radius_m": "Радиус",
    "inn": "ИНН",
    "contract_no": "Номер договора",
    "carrier_id": "Перевозчик",
    "plate": "Госномер",
    "vehicle_type": "Тип ТС",
    "seats": "Мест",
    "wheelchair_places": "Мест для колясок",
    "mqtt_id": "Идентификатор MQTT",
    "full_name": "ФИО",
    "license_no": "Номер удостоверения",
    "pickup_at": "Время подачи",
    "companions": "Сопровождающие",
    "destination_id": "Пункт назначения",
    "reason": "Причина",
    "login": "Логин",
    "password": "Пароль",
    "purpose": "Цель",
}

_TYPE_RU = {
    "missing": "обязательное поле",
    "extra_forbidden": "лишнее поле",
    "string_too_short": "слишком короткое значение",
    "string_too_long": "слишком длинное значение",
    "string_pattern_mismatch": "неверный формат",
    "string_type": "ожидается строка",
    "int_parsing": "ожидается целое число",
    "int_type": "ожидается целое число",
    "int_from_float": "ожидается целое число",
    "float_parsing": "ожидается число",
    "float_type": "ожидается число",
    "bool_parsing": "ожидается да/нет",
    "bool_type": "ожидается да/нет",
    "date_parsing": "неверная дата (ожидается ГГГГ-ММ-ДД)",
    "date_from_datetime_parsing": "неверная дата (ожидается ГГГГ-ММ-ДД)",
    "date_from_datetime_inexact": "неверная дата (ожидается ГГГГ-ММ-ДД)",
    "date_type": "неверная дата",
    "datetime_parsing": "неверное время (ожидается ISO 8601 с часовым поясом)",
    "datetime_from_date_parsing": "неверное время (ожидается ISO 8601 с часовым поясом)",
    "datetime_type": "неверное время",
    "timezone_aware": "укажите часовой пояс",
    "time_parsing": "неверное время (ожидается ЧЧ:ММ)",
    "greater_than": "значение слишком мало",
    "greater_than_equal": "значение слишком мало",
    "less_than": "значение слишком велико",
    "less_than_equal": "значение слишком велико",
    "too_long": "слишком много элементов",
    "too_short": "слишком мало элементов",
    "list_type": "ожидается список",
    "dict_type": "ожидается объект",
    "model_type": "ожидается объект",
    "model_attributes_type": "ожидается объект",
    "json_invalid": "неверный JSON",
    "enum": "недопустимое значение",
    "literal_error": "недопустимое значение",
    "uuid_parsing": "неверный идентификатор",
    "finite_number": "ожидается конечное число",
    "url_parsing": "неверный адрес",
    "missing_argument": "обязательное поле",
}


def error_ru(err: Mapping[str, Any], *, skip_loc: int = 0) -> tuple[str, str]:
    """``(field path, Russian message)`` for one pydantic error dict.

    Messages our validators raise (``ValueError("…")``, already Russian) are passed through;
    pydantic's own error types are translated; an unknown type gets a generic message.
    """
    loc = [str(p) for p in tuple(err.get("loc", ()))[skip_loc:]]
    field = ".".join(loc)
    label = next((FIELD_RU[p] for p in reversed(loc) if p in FIELD_RU), field)
    etype = str(err.get("type", ""))
    if etype in ("value_error", "assertion_error"):
        msg = (
            str(err.get("msg", "")).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        )
    elif etype == "string_too_short" and (err.get("ctx") or {}).get("min_length") == 1:
        msg = "не может быть пустым"
    else:
        msg = _TYPE_RU.get(etype, "недопустимое значение")
    return field, f"{label}: {msg}" if label else msg


def row_error_ru(err: RowError) -> str:
    """The Russian message of one refused CSV row: the import's own reason, or its validation
    errors translated and joined with ``; ``."""
    if not err.validation:
        return err.message
    return "; ".join(error_ru(e)[1] for e in err.validation)
