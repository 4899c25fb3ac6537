"""Free-flow speeds of road edges: ``maxspeed`` parsing and defaults by road class.

Pure module (no I/O). Defaults follow the Russian traffic rules (ПДД п. 10.2–10.3): 60 km/h in
settlements, 90 km/h outside them, 110 km/h on motorways, 20 km/h in living streets
(жилые зоны) and yards; residential and service streets are slower in practice than the legal
limit. All figures are in a frozen :class:`SpeedDefaults`, overridable from settings or the CLI.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

MPH_TO_KMH = 1.609344
KNOTS_TO_KMH = 1.852

_NUMBER_UNIT = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(km/h|kmh|kph|mph|knots)?\s*$", re.IGNORECASE)


def _frozen(mapping: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class SpeedDefaults:
    """Speeds (km/h) used where an edge has no usable ``maxspeed`` tag.

    Attributes
    ----------
    urban_kmh
        Settlement limit (``RU:urban``), and the default for classes in ``urban_classes``.
    rural_kmh
        Limit outside settlements (``RU:rural``), the default for main roads (trunk, primary,
        secondary) unless their name marks them as a street in a settlement.
    motorway_kmh
        Motorways (``RU:motorway``).
    living_street_kmh
        Living streets and ``RU:living_street`` zones.
    class_kmh
        Per ``highway`` class overrides (residential, service, living_street, links, ...).
    urban_classes
        Classes that in practice lie in settlements, so they default to ``urban_kmh``.
    urban_name_words
        Lower-case words that mark a named main road as a street in a settlement (Russian
        naming: «улица», «проспект», ...). A ``primary`` road named «Ленинградская улица» gets
        ``urban_kmh``, «Киевское шоссе» gets ``rural_kmh``.
    min_kmh, max_kmh
        Parsed ``maxspeed`` values outside this range are ignored as tagging errors.
    speed_factor, traffic_signal_s, junction_s
        The travel-time model (:mod:`routing.traveltime`): share of the free-flow speed actually
        driven, seconds per traffic signal passed, seconds per junction an edge ends at.
    service_factor
        Speed multipliers by the ``service=*`` sub-tag of ``highway=service`` ways: OSRM
        ``car.lua`` (osrm-backend 26) ``service_penalties`` — 0.5 for ``alley``, ``parking``,
        ``parking_aisle``, ``driveway``, ``drive-through``, ``drive-thru``. OSRM applies them to
        its routing weight; with one cost per edge we apply them to the speed, so courtyard
        driveways are both avoided and timed slower.
    barrier_s
        Seconds per barrier node passed, by ``barrier=*`` value: OSRM ``car.lua``
        (osrm-backend 26) ``barrier_penalties`` — 60 s for ``gate`` and ``lift_gate`` (the
        gates of courtyards and car parks). Barriers OSRM treats as impassable (bollards,
        ...) are not modelled.
    turn_aware
        Route on the edge-expanded (turn-aware) hierarchy with the turn costs and restrictions
        below (:mod:`routing.turns`); ``False``: node-based, turns free.
    turn_penalty_s, turn_bias, u_turn_penalty_s, oncoming_turn_penalty_s
        OSRM ``car.lua`` (osrm-backend 26) ``turn_penalty`` 7.5, ``turn_bias`` 1.075,
        ``u_turn_penalty`` 20 and ``oncoming_turn_penalty`` 2.0 (:func:`routing.traveltime.
        turn_costs_s`).
    """

    urban_kmh: float = 60.0
    rural_kmh: float = 90.0
    motorway_kmh: float = 110.0
    living_street_kmh: float = 20.0
    class_kmh: Mapping[str, float] = field(
        default_factory=lambda: _frozen(
            {
                "motorway": 110.0,
                "motorway_link": 60.0,
                "trunk_link": 60.0,
                "primary_link": 60.0,
                "secondary_link": 50.0,
                "tertiary_link": 40.0,
                "unclassified": 50.0,
                "residential": 30.0,
                "service": 20.0,
                "living_street": 20.0,
                "road": 40.0,
                "track": 20.0,
                "busway": 40.0,
            }
        )
    )
    urban_classes: frozenset[str] = frozenset(
        {"tertiary", "unclassified", "residential", "service", "living_street", "road"}
    )
    urban_name_words: tuple[str, ...] = (
        "улица",
        "ул.",
        "проспект",
        "пр.",
        "переулок",
        "бульвар",
        "набережная",
        "площадь",
        "проезд",
        "аллея",
        "линия",
    )
    min_kmh: float = 5.0
    max_kmh: float = 150.0
    # the travel-time model (routing/traveltime.py gives each figure's source)
    speed_factor: float = 0.8
    traffic_signal_s: float = 2.0
    junction_s: float = 0.0
    service_factor: Mapping[str, float] = field(
        default_factory=lambda: _frozen(
            {
                "alley": 0.5,
                "parking": 0.5,
                "parking_aisle": 0.5,
                "driveway": 0.5,
                "drive-through": 0.5,
                "drive-thru": 0.5,
            }
        )
    )
    barrier_s: Mapping[str, float] = field(
        default_factory=lambda: _frozen({"gate": 60.0, "lift_gate": 60.0})
    )
    turn_aware: bool = True
    turn_penalty_s: float = 7.5
    turn_bias: float = 1.075
    u_turn_penalty_s: float = 20.0
    oncoming_turn_penalty_s: float = 2.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_kmh", _frozen(self.class_kmh))
        object.__setattr__(self, "service_factor", _frozen(self.service_factor))
        object.__setattr__(self, "barrier_s", _frozen(self.barrier_s))
        if any(v < 0 for v in self.barrier_s.values()):
            raise ValueError("barrier_s delays must not be negative")
        if any(not 0 < v <= 1.5 for v in self.service_factor.values()):
            raise ValueError("service_factor values must be in (0, 1.5]")
        if self.turn_penalty_s < 0 or self.u_turn_penalty_s < 0 or self.oncoming_turn_penalty_s < 0:
            raise ValueError("turn penalties must not be negative")
        if not self.turn_bias > 0:
            raise ValueError("turn_bias must be positive")
        object.__setattr__(self, "urban_classes", frozenset(self.urban_classes))
        object.__setattr__(self, "urban_name_words", tuple(self.urban_name_words))
        for name in ("urban_kmh", "rural_kmh", "motorway_kmh", "living_street_kmh"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if any(not v > 0 for v in self.class_kmh.values()):
            raise ValueError("class_kmh speeds must be positive")
        if not 0 < self.speed_factor <= 1.5:
            raise ValueError("speed_factor must be in (0, 1.5]")
        if self.traffic_signal_s < 0 or self.junction_s < 0:
            raise ValueError("traffic_signal_s and junction_s must not be negative")

    def replace(self, **changes: Any) -> SpeedDefaults:
        """A copy with some fields changed (``class_kmh`` entries are merged, not replaced)."""
        if "class_kmh" in changes:
            changes["class_kmh"] = {**self.class_kmh, **changes["class_kmh"]}
        if "service_factor" in changes:
            changes["service_factor"] = {**self.service_factor, **changes["service_factor"]}
        if "barrier_s" in changes:
            changes["barrier_s"] = {**self.barrier_s, **changes["barrier_s"]}
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> SpeedDefaults:
        """Defaults with overrides such as ``{"urban_kmh": 50, "residential": 25}``.

        Keys naming a numeric field set it; ``turn_aware`` takes true/false or 1/0;
        ``service_factor`` and ``barrier_s`` take a mapping or flat keys such as
        ``"service_factor.alley"``; any other key is a ``highway`` class speed (km/h).
        """
        base = cls()
        numeric = {f.name for f in dataclasses.fields(cls) if f.type in ("float", float)}
        flags = {f.name for f in dataclasses.fields(cls) if f.type in ("bool", bool)}
        fields_: dict[str, Any] = {}
        classes: dict[str, float] = {}
        for key, value in values.items():
            if key in numeric:
                fields_[key] = float(value)
            elif key in flags:
                # settings and the CLI carry numbers (``map_speeds: dict[str, float]``): 0 / 1
                if value not in (True, False, 0, 1) or isinstance(value, str):
                    raise ValueError(f"{key} must be true or false (1 or 0)")
                fields_[key] = bool(value)
            elif key in ("service_factor", "barrier_s") and isinstance(value, Mapping):
                fields_.setdefault(key, {}).update({str(k): float(v) for k, v in value.items()})
            elif key.partition(".")[0] in ("service_factor", "barrier_s") and "." in key:
                # flat form for the numeric settings: "service_factor.alley": 0.7
                table, _, sub = key.partition(".")
                fields_.setdefault(table, {})[sub] = float(value)
            elif key == "class_kmh" and isinstance(value, Mapping):
                classes.update({str(k): float(v) for k, v in value.items()})
            else:
                classes[str(key)] = float(value)
        if classes:
            fields_["class_kmh"] = classes
        return base.replace(**fields_)

    def fingerprint(self) -> str:
        """A stable text form of every field, for cache keys."""
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Mapping):
                value = sorted(value.items())
            elif isinstance(value, frozenset):
                value = sorted(value)
            parts.append(f"{f.name}={value!r}")
        return ";".join(parts)

    def zone_kmh(self, zone: str) -> float | None:
        """Speed of an implicit ``maxspeed`` zone such as ``RU:urban`` (any country prefix)."""
        kind = zone.split(":", 1)[-1].strip().lower()
        return {
            "urban": self.urban_kmh,
            "rural": self.rural_kmh,
            "motorway": self.motorway_kmh,
            "trunk": self.rural_kmh,
            "living_street": self.living_street_kmh,
            "zone20": 20.0,
            "zone30": 30.0,
        }.get(kind)


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in {"", "nan", "none", "null"}


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [p for p in re.split(r"[;|]", value)]
    if isinstance(value, Iterable):
        return list(value)
    return [value]


def parse_maxspeed(value: Any, defaults: SpeedDefaults | None = None) -> float | None:
    """Parse an OSM ``maxspeed`` value to km/h, or ``None`` when it carries no usable number.

    Accepts numbers (``60``, ``"60"``, ``"60 km/h"``), miles (``"60 mph"``), knots, implicit
    zones (``"RU:urban"``, ``"RU:rural"``, ``"RU:living_street"``, ``"DE:urban"``), ``"walk"``,
    and lists — osmnx gives a list when a simplified edge merged ways with different limits,
    OSM uses ``"60;40"`` — whose parsable values are averaged (as osmnx does). ``"nan"``,
    ``"none"`` (no limit: use the class default), ``"signals"``, ``"variable"`` give ``None``.

    Parameters
    ----------
    value
        The raw tag value (str, number, list or None).
    defaults
        Supplies zone speeds and the plausible range; :class:`SpeedDefaults` by default.

    Returns
    -------
    float or None
        Speed in km/h.
    """
    d = defaults or SpeedDefaults()
    if _is_missing(value):
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        kmh: float | None = float(value)
    else:
        items = _as_list(value)
        if len(items) > 1:
            parsed = [parse_maxspeed(v, d) for v in items]
            good = [p for p in parsed if p is not None]
            return sum(good) / len(good) if good else None
        text = str(items[0]).strip().lower() if items else ""
        if _is_missing(text):
            return None
        kmh = _parse_one(text, d)
    if kmh is None or not (d.min_kmh <= kmh <= d.max_kmh):
        return None
    return kmh


def _parse_one(text: str, d: SpeedDefaults) -> float | None:
    if text == "walk":
        return d.min_kmh
    match = _NUMBER_UNIT.match(text)
    if match:
        number = float(match.group(1).replace(",", "."))
        unit = (match.group(2) or "").lower()
        if unit == "mph":
            return number * MPH_TO_KMH
        if unit == "knots":
            return number * KNOTS_TO_KMH
        return number
    if ":" in text:
        return d.zone_kmh(text)
    return None


def _first_class(highway: Any) -> str:
    """osmnx merges ways of several classes into a list; the first one names the edge."""
    if _is_missing(highway):
        return ""
    if isinstance(highway, str):
        return highway.strip().lower()
    items = [h for h in _as_list(highway) if not _is_missing(h)]
    return str(items[0]).strip().lower() if items else ""


def _name_text(name: Any) -> str:
    if _is_missing(name):
        return ""
    if isinstance(name, str):
        return name.lower()
    return " ".join(str(n) for n in _as_list(name) if not _is_missing(n)).lower()


def default_speed_kmh(
    highway: Any, name: Any = None, defaults: SpeedDefaults | None = None
) -> float:
    """Speed of a road without a usable ``maxspeed``, from its class (and name).

    Parameters
    ----------
    highway
        The ``highway`` tag (a string, or the list osmnx makes for merged ways).
    name
        The ``name`` tag, used to tell a settlement street from an open road.
    defaults
        Speed table; :class:`SpeedDefaults` by default.

    Returns
    -------
    float
        km/h.
    """
    d = defaults or SpeedDefaults()
    cls = _first_class(highway)
    if cls in d.class_kmh:
        return float(d.class_kmh[cls])
    if cls == "motorway":
        return d.motorway_kmh
    if cls in d.urban_classes:
        return d.urban_kmh
    text = _name_text(name)
    if text and any(w in text.split() or w in text for w in d.urban_name_words):
        return d.urban_kmh
    return d.rural_kmh


def service_factor(service: Any, defaults: SpeedDefaults | None = None) -> float:
    """Speed multiplier of a ``service=*`` sub-tag (1 for none or an unlisted value); a list
    (osmnx merging ways) takes the slowest."""
    d = defaults or SpeedDefaults()
    if _is_missing(service):
        return 1.0
    items = [str(x).strip().lower() for x in _as_list(service) if not _is_missing(x)]
    return min((float(d.service_factor.get(x, 1.0)) for x in items), default=1.0)


def edge_speed_kmh(
    highway: Any,
    maxspeed: Any = None,
    name: Any = None,
    defaults: SpeedDefaults | None = None,
    service: Any = None,
) -> float:
    """Free-flow speed of an edge: its parsed ``maxspeed``, else the class default (km/h),
    times the ``service=*`` sub-tag's factor (:attr:`SpeedDefaults.service_factor`)."""
    d = defaults or SpeedDefaults()
    parsed = parse_maxspeed(maxspeed, d)
    kmh = parsed if parsed is not None else default_speed_kmh(highway, name, d)
    return kmh * service_factor(service, d)
