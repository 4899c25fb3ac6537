"""Road graph from OpenStreetMap, fast travel-time routes, ETAs and matrices.

>>> g = load_graph("/work/shared/data/osm/murino_lo_osmnx.osm")      # doctest: +SKIP
>>> r = g.route((60.05, 30.44), (60.06, 30.47))                       # doctest: +SKIP
>>> r.duration_s, r.dist_m, r.to_geojson()["type"]                     # doctest: +SKIP
"""

from routing.errors import GraphImportError, NoRoute, OutOfServiceArea, RoutingError
from routing.graph import DEFAULT_MAX_SNAP_M, RoadGraph, Snapped
from routing.paths import Matrix, Route
from routing.speeds import SpeedDefaults, edge_speed_kmh, parse_maxspeed
from routing.store import import_graph, load_graph, read_graph, save_graph

__all__ = [
    "DEFAULT_MAX_SNAP_M",
    "GraphImportError",
    "Matrix",
    "NoRoute",
    "OutOfServiceArea",
    "RoadGraph",
    "Route",
    "RoutingError",
    "Snapped",
    "SpeedDefaults",
    "edge_speed_kmh",
    "import_graph",
    "load_graph",
    "parse_maxspeed",
    "read_graph",
    "save_graph",
]
