"""Which OSM ways a car may use: the osmnx ``drive`` network filter as a pure predicate.

osmnx applies its ``drive`` filter in the Overpass query it sends, so it never filters when it
reads a local file (``graph_from_xml`` keeps every way). We apply the same rule while
extracting ways from a file, so a file import and a download give the same kind of network.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

NetworkType = Literal["drive", "drive_service"]
NETWORK_TYPES: tuple[str, ...] = ("drive", "drive_service")

# osmnx._overpass._get_network_filter(...) plus settings.default_access
_EXCLUDED_HIGHWAY_BASE = (
    "abandoned bridleway bus_guideway construction corridor cycleway elevator escalator footway "
    "no path pedestrian planned platform proposed raceway razed rest_area services steps track"
)
EXCLUDED_HIGHWAY: dict[str, frozenset[str]] = {
    "drive": frozenset((_EXCLUDED_HIGHWAY_BASE + " service").split()),
    "drive_service": frozenset(_EXCLUDED_HIGHWAY_BASE.split()),
}
EXCLUDED_SERVICE: dict[str, frozenset[str]] = {
    "drive": frozenset("alley driveway emergency_access parking parking_aisle private".split()),
    "drive_service": frozenset("emergency_access parking parking_aisle private".split()),
}


def _has(value: str | None, words: frozenset[str]) -> bool:
    """Overpass ``!~"a|b"`` is a regex *search*: any listed word inside the value matches."""
    if value is None:
        return False
    v = value.lower()
    return any(w in v for w in words)


def is_drivable(tags: Mapping[str, str], network_type: NetworkType = "drive_service") -> bool:
    """True when a way with these tags belongs to the public drivable network.

    Parameters
    ----------
    tags
        The way's OSM tags.
    network_type
        ``"drive_service"`` (default) also keeps service roads — yard access roads
        (дворовые проезды), which a social taxi needs to reach an entrance; ``"drive"``
        is osmnx's public-streets network without them.
    """
    if network_type not in EXCLUDED_HIGHWAY:
        raise ValueError(f"unknown network type {network_type!r}")
    highway = tags.get("highway")
    if not highway or highway == "nan":
        return False
    if _has(tags.get("area"), frozenset({"yes"})):
        return False
    if _has(tags.get("access"), frozenset({"private"})):
        return False
    if _has(highway, EXCLUDED_HIGHWAY[network_type]):
        return False
    if _has(tags.get("motor_vehicle"), frozenset({"no"})):
        return False
    if _has(tags.get("motorcar"), frozenset({"no"})):
        return False
    return not _has(tags.get("service"), EXCLUDED_SERVICE[network_type])
