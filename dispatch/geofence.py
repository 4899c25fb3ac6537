"""A social object's polygon geofence checked against its point (pure: shapely 2 and pyproj).

``SocialObjectIn`` checks the polygon's shape alone (valid GeoJSON, not self-intersecting);
this adds what needs the object's point too: the polygon contains the point and its area is
sane. Both the JSON API and the admin pages get it through the registry service.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import shape

#: smaller than a 5 m × 5 m square is a slip of the mouse, not a building's grounds
MIN_AREA_M2 = 25.0
#: larger than 25 km² (a circle of the largest radius the registry allows, 5 km, covers 78 km²,
#: but a drawn outline that large is a misplaced vertex): refused
MAX_AREA_M2 = 25_000_000.0


def _utm_epsg(lat: float, lon: float) -> int:
    """EPSG code of the UTM zone of a point (32636 for Leningrad Oblast)."""
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


@lru_cache(maxsize=8)
def _to_utm(epsg: int) -> Transformer:
    return Transformer.from_crs(4326, epsg, always_xy=True)


def area_m2(geofence: dict[str, Any]) -> float:
    """Area of a GeoJSON Polygon (lon, lat, WGS 84) in square metres, measured in its UTM zone."""
    poly = shape(geofence)
    c = poly.centroid
    to_utm = _to_utm(_utm_epsg(c.y, c.x))
    return float(shapely.transform(poly, lambda xy: _xy(to_utm, xy)).area)


def _xy(t: Transformer, xy: np.ndarray) -> np.ndarray:
    x, y = t.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])


def geofence_problem(
    geofence: dict[str, Any],
    *,
    lat: float,
    lon: float,
    min_area_m2: float = MIN_AREA_M2,
    max_area_m2: float = MAX_AREA_M2,
) -> str | None:
    """The Russian reason a (shape-valid) polygon does not fit the object at (lat, lon), or None.

    Parameters
    ----------
    geofence
        A GeoJSON Polygon, already checked for shape (``dispatch.models._check_polygon``).
    lat, lon
        The object's point, WGS 84 degrees.
    """
    poly = shape(geofence)
    if not poly.covers(shapely.Point(lon, lat)):
        return "Геозона: точка объекта должна быть внутри контура"
    area = area_m2(geofence)
    if area < min_area_m2:
        return f"Геозона: площадь контура меньше {min_area_m2:.0f} м²"
    if area > max_area_m2:
        return f"Геозона: площадь контура больше {max_area_m2 / 1e6:.0f} км²"
    return None
