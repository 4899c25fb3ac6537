"""A seeded, made-up demo data set placed on a road graph's nodes. Pure: no I/O.

Every person here is invented (random combinations of common names); СНИЛС numbers are generated
with valid checksums in a range real numbers are not issued from (starting 9xx).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from dispatch.identity import snils_checksum

LAST = [
    "Иванов",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Петров",
    "Соколов",
    "Михайлов",
    "Новиков",
    "Фёдоров",
    "Морозов",
    "Волков",
    "Алексеев",
    "Лебедев",
    "Семёнов",
    "Егоров",
]
FIRST_M = ["Иван", "Пётр", "Николай", "Алексей", "Сергей", "Виктор", "Михаил", "Владимир"]
FIRST_F = ["Анна", "Мария", "Елена", "Ольга", "Татьяна", "Наталья", "Галина", "Валентина"]
MIDDLE_M = ["Иванович", "Петрович", "Николаевич", "Сергеевич", "Михайлович"]
MIDDLE_F = ["Ивановна", "Петровна", "Николаевна", "Сергеевна", "Михайловна"]
STREETS = [
    "Оборонная ул.",
    "Новая ул.",
    "Петровский б-р",
    "Воронцовский б-р",
    "Охтинская аллея",
    "Школьная ул.",
    "Центральная ул.",
    "Екатерининская ул.",
]

OBJECTS = [
    ("medical", "Поликлиника № {n}"),
    ("medical", "Городская больница № {n}"),
    ("hemodialysis", "Центр амбулаторного диализа"),
    ("mfc", "МФЦ «Мурино»"),
    ("social_fund", "Клиентская служба Социального фонда"),
    ("social_services", "Комплексный центр социального обслуживания"),
    ("social_protection", "Отдел социальной защиты населения"),
    ("rehabilitation", "Реабилитационный центр «Надежда»"),
    ("education", "Школа № {n}"),
    ("culture_sport", "Дом культуры"),
    ("legal_aid", "Юридическая консультация"),
    ("medical", "Стоматологическая поликлиника"),
]

CATEGORIES = [
    "disabled_1",
    "disabled_2",
    "age_80_plus",
    "veteran_wwii",
    "hemodialysis",
    "disabled_child",
]

DEMO_USERS = [
    ("operator", "Оператор (демо)", ["operator"]),
    ("dispatcher", "Диспетчер (демо)", ["dispatcher"]),
    ("controller", "Контролёр (демо)", ["controller"]),
    ("supervisor", "Старший смены (демо)", ["supervisor", "operator"]),
    ("admin", "Администратор (демо)", ["admin"]),
]


@dataclass(frozen=True)
class DemoData:
    passengers: list[dict[str, Any]] = field(default_factory=list)
    objects: list[dict[str, Any]] = field(default_factory=list)
    carriers: list[dict[str, Any]] = field(default_factory=list)
    vehicles: list[dict[str, Any]] = field(default_factory=list)  # carrier as index "carrier"
    drivers: list[dict[str, Any]] = field(default_factory=list)


def _snils(rng: np.random.Generator) -> str:
    first9 = "9" + "".join(str(d) for d in rng.integers(0, 10, 8))
    return f"{first9}{snils_checksum(first9):02d}"


def _address(rng: np.random.Generator) -> str:
    return f"{STREETS[rng.integers(len(STREETS))]}, д. {int(rng.integers(1, 60))}"


def demo_dataset(
    node_lat: np.ndarray,
    node_lon: np.ndarray,
    *,
    today: date,
    seed: int = 7,
    passengers: int = 40,
    vehicles: int = 12,
) -> DemoData:
    """Demo registries on random graph nodes (so every address is on the road network)."""
    rng = np.random.default_rng(seed)
    picks = rng.choice(
        len(node_lat),
        size=passengers + len(OBJECTS),
        replace=len(node_lat) < passengers + len(OBJECTS),
    )
    lat, lon = node_lat[picks], node_lon[picks]
    data = DemoData()
    for i, (otype, name) in enumerate(OBJECTS):
        j = passengers + i
        data.objects.append(
            {
                "name": name.format(n=i + 1),
                "object_type": otype,
                "address": _address(rng),
                "lat": float(lat[j]),
                "lon": float(lon[j]),
                "radius_m": 120.0,
            }
        )
    for i in range(passengers):
        female = bool(rng.integers(2))
        last = LAST[rng.integers(len(LAST))] + ("а" if female else "")
        first = (FIRST_F if female else FIRST_M)[rng.integers(8)]
        middle = (MIDDLE_F if female else MIDDLE_M)[rng.integers(5)]
        category = CATEGORIES[i % len(CATEGORIES)]
        age = (
            9
            if category == "disabled_child"
            else (85 if category == "age_80_plus" else int(rng.integers(45, 95)))
        )
        birth = today - timedelta(days=365 * age + int(rng.integers(0, 365)))
        data.passengers.append(
            {
                "last_name": last,
                "first_name": first,
                "middle_name": middle,
                "birth_date": birth,
                "phones": [
                    f"+7 921 {rng.integers(100, 999)}-{rng.integers(10, 99)}-{rng.integers(10, 99)}"
                ],
                "snils": _snils(rng),
                "home_address": _address(rng),
                "home_lat": float(lat[i]),
                "home_lon": float(lon[i]),
                "wheelchair": bool(i % 7 == 3),
                "walker": bool(i % 5 == 1),
                "visually_impaired": bool(i % 11 == 4),
                "needs_companion": False,
                "benefits": [
                    {
                        "category": category,
                        "valid_from": today - timedelta(days=365),
                        "valid_to": None,
                    }
                ],
            }
        )
    data.carriers.extend(
        [
            {"name": "ООО «Соцтранс» (демо)", "inn": "4703000001", "contract_no": "СТ-2026/1"},
            {
                "name": "АО «Доступная среда» (демо)",
                "inn": "4703000002",
                "contract_no": "СТ-2026/2",
            },
        ]
    )
    letters = "АВЕКМНОРСТУХ"
    for i in range(vehicles):
        van = i % 4 == 0
        plate = f"{letters[i % 12]}{100 + i}{letters[(i * 5) % 12]}{letters[(i * 7) % 12]}47"
        data.vehicles.append(
            {
                "carrier": i % 2,
                "plate": plate,
                "vehicle_type": "wheelchair_van" if van else "car",
                "seats": 3 if van else 4,
                "wheelchair_places": 1 if van else 0,
                "model": "ГАЗель Next (демо)" if van else "Lada Largus (демо)",
                "mqtt_id": f"demo-{i + 1:03d}",
            }
        )
        data.drivers.append(
            {
                "carrier": i % 2,
                "full_name": f"{LAST[(i * 3) % len(LAST)]} {FIRST_M[i % 8]} (водитель, демо)",
                "license_no": f"47 00 {100000 + i}",
            }
        )
    return data


# --- social objects from the map's own OSM data -------------------------------------------------
#: (tag key, tag value) → social object type code of the rules file. Pharmacies and dentists
#: count as medical; a post office is where pensions and benefits are paid (social fund);
#: a town hall or government office stands for the social protection office.
OSM_OBJECT_TYPES: tuple[tuple[str, str, str], ...] = (
    ("amenity", "hospital", "medical"),
    ("amenity", "clinic", "medical"),
    ("amenity", "doctors", "medical"),
    ("amenity", "dentist", "medical"),
    ("amenity", "pharmacy", "medical"),
    ("healthcare", "dialysis", "hemodialysis"),
    ("amenity", "social_facility", "social_services"),
    ("healthcare", "rehabilitation", "rehabilitation"),
    ("amenity", "townhall", "social_protection"),
    ("office", "government", "social_protection"),
    ("amenity", "post_office", "social_fund"),
    ("amenity", "library", "culture_sport"),
    ("amenity", "community_centre", "culture_sport"),
    ("amenity", "arts_centre", "culture_sport"),
    ("leisure", "sports_centre", "culture_sport"),
    ("amenity", "school", "education"),
    ("amenity", "college", "education"),
    ("amenity", "courthouse", "legal_aid"),
    ("office", "notary", "legal_aid"),
    ("office", "lawyer", "legal_aid"),
)


def social_object_from_tags(tags: dict[str, str]) -> tuple[str, str, str] | None:
    """(type code, name, address) of an OSM object that is a socially significant object, or
    ``None``. «МФЦ» / «Мои документы» in the name make it an МФЦ, «диализ» a dialysis centre.
    Objects without a name are skipped (nobody can book «a pharmacy»)."""
    name = (tags.get("name") or "").strip()
    if not name:
        return None
    code = next((c for k, v, c in OSM_OBJECT_TYPES if tags.get(k) == v), None)
    low = name.lower()
    if "мфц" in low or "мои документы" in low:
        code = "mfc"
    elif "диализ" in low:
        code = "hemodialysis"
    if code is None:
        return None
    street, house = tags.get("addr:street", ""), tags.get("addr:housenumber", "")
    address = ", ".join(p for p in (street, f"д. {house}" if house else "") if p)
    return code, name[:200], address or "адрес не указан в OSM"
