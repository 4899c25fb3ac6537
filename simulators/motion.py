"""How a simulated vehicle moves: along the road graph's real edge geometry, at the edges'
travel speeds with per-vehicle and per-edge variation, slowing at junctions, stopping at some,
dwelling at pickup and drop-off.

Pure: arrays in, arrays out (numpy, no Python loop over points). Positions are metres in the
graph's UTM zone (``RoadGraph.utm_epsg``, e.g. EPSG:32636 for Leningrad Oblast); converting to and
from WGS 84 is :class:`Projector`'s job. A trip's motion is one :class:`Trajectory`: a polyline
(the concatenated geometry of every leg driven) and a piecewise-linear distance-along-it of time,
given by knots ``(t_s, s_m)``; a dwell is two knots with the same distance.

Speed model (the recipe in ``docs/simulators.md``): each edge is driven at
``edge_speed_kmh × vehicle_factor × lognormal(0, edge_sigma)`` (clipped to 5…130 km/h); the last
``junction_zone_m`` of an edge that ends at a junction are driven at most at ``junction_kmh``;
at a junction the vehicle stops with probability ``stop_prob`` for a uniform ``stop_s`` seconds
(traffic lights, give way).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pyproj import Transformer

__all__ = ["DriveStyle", "Projector", "Trajectory", "TrajectoryBuilder", "edge_polyline"]


class Projector:
    """WGS 84 ↔ a metric CRS (the graph's UTM zone)."""

    def __init__(self, epsg: int) -> None:
        self.epsg = epsg
        self._fwd = Transformer.from_crs(4326, epsg, always_xy=True)
        self._inv = Transformer.from_crs(epsg, 4326, always_xy=True)

    def to_xy(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = self._fwd.transform(np.asarray(lon, np.float64), np.asarray(lat, np.float64))
        return np.asarray(x), np.asarray(y)

    def to_latlon(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lon, lat = self._inv.transform(np.asarray(x, np.float64), np.asarray(y, np.float64))
        return np.asarray(lat), np.asarray(lon)


@dataclass(frozen=True)
class DriveStyle:
    """Parameters of the speed model (see the module docstring)."""

    vehicle_factor: float = 1.0
    edge_sigma: float = 0.15
    junction_kmh: float = 18.0
    junction_zone_m: float = 25.0
    stop_prob: float = 0.2
    stop_s: tuple[float, float] = (5.0, 35.0)
    min_kmh: float = 5.0
    max_kmh: float = 130.0


def edge_polyline(
    edges: Sequence[int] | np.ndarray,
    geom_ptr: np.ndarray,
    geom_lon: np.ndarray,
    geom_lat: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The vertices (lat, lon) of consecutive edges joined into one line (joints kept once) and,
    per edge, the index of its last vertex in that line."""
    e = np.asarray(edges, np.int64)
    starts = geom_ptr[e].copy()
    starts[1:] += 1
    ends = geom_ptr[e + 1]
    counts = ends - starts
    offsets = np.cumsum(counts) - counts
    idx = np.repeat(starts - offsets, counts) + np.arange(int(counts.sum()))
    return geom_lat[idx], geom_lon[idx], np.cumsum(counts) - 1


@dataclass
class Trajectory:
    """Where a vehicle is at any time of a trip.

    ``t_s`` (seconds from the trip's start) and ``s_m`` (metres along the polyline ``x_m``,
    ``y_m``, whose cumulative length is ``cum_m``) are the knots of distance over time; between
    knots the speed is constant. ``marks`` names moments (``"at_pickup"``, ...), seconds.
    """

    t_s: np.ndarray
    s_m: np.ndarray
    x_m: np.ndarray
    y_m: np.ndarray
    cum_m: np.ndarray
    marks: dict[str, float] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return float(self.t_s[-1])

    @property
    def length_m(self) -> float:
        return float(self.s_m[-1])

    def distance_at(self, t_s: np.ndarray) -> np.ndarray:
        return np.interp(t_s, self.t_s, self.s_m)

    def point_at_distance(self, s_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.interp(s_m, self.cum_m, self.x_m), np.interp(s_m, self.cum_m, self.y_m)

    def sample(self, t_s: np.ndarray) -> dict[str, np.ndarray]:
        """True position (x, y m), speed (km/h) and heading (degrees from north) at ``t_s``."""
        t = np.asarray(t_s, np.float64)
        s = self.distance_at(t)
        x, y = self.point_at_distance(s)
        k = np.clip(np.searchsorted(self.t_s, t, side="right") - 1, 0, len(self.t_s) - 2)
        dt = self.t_s[k + 1] - self.t_s[k]
        ds = self.s_m[k + 1] - self.s_m[k]
        speed = np.where(dt > 0, ds / np.where(dt > 0, dt, 1.0), 0.0) * 3.6
        speed = np.where(t >= self.t_s[-1], 0.0, speed)
        seg = np.clip(np.searchsorted(self.cum_m, s, side="right") - 1, 0, len(self.cum_m) - 2)
        dx = self.x_m[seg + 1] - self.x_m[seg]
        dy = self.y_m[seg + 1] - self.y_m[seg]
        heading = np.degrees(np.arctan2(dx, dy)) % 360.0
        return {"x": x, "y": y, "s": s, "speed_kmh": speed, "heading_deg": heading}

    def min_distance_to(self, x: float, y: float) -> float:
        """Closest approach (m) of the driven line to a point."""
        return float(np.min(np.hypot(self.x_m - x, self.y_m - y)))


class TrajectoryBuilder:
    """Chains drives and dwells into one :class:`Trajectory` (pure; the RNG is passed in)."""

    def __init__(self, start_xy: tuple[float, float], rng: np.random.Generator) -> None:
        self.rng = rng
        self._x = [np.array([start_xy[0]])]
        self._y = [np.array([start_xy[1]])]
        self._t = [0.0]
        self._s = [0.0]
        self._len = 0.0
        self.marks: dict[str, float] = {}

    @property
    def now_s(self) -> float:
        return self._t[-1]

    @property
    def position(self) -> tuple[float, float]:
        return float(self._x[-1][-1]), float(self._y[-1][-1])

    def mark(self, name: str) -> float:
        self.marks[name] = self.now_s
        return self.now_s

    def dwell(self, seconds: float) -> TrajectoryBuilder:
        if seconds > 0:
            self._t.append(self.now_s + float(seconds))
            self._s.append(self._len)
        return self

    def drive(
        self,
        x_m: np.ndarray,
        y_m: np.ndarray,
        edge_end_vertex: np.ndarray,
        edge_speed_kmh: np.ndarray,
        style: DriveStyle,
    ) -> TrajectoryBuilder:
        """Drive a polyline (its first vertex is where the vehicle is) made of edges whose last
        vertices are ``edge_end_vertex``, each at its ``edge_speed_kmh`` varied by ``style``."""
        x_m, y_m = np.asarray(x_m, np.float64), np.asarray(y_m, np.float64)
        if x_m.size < 2:
            return self
        seg = np.hypot(np.diff(x_m), np.diff(y_m))
        cum = np.concatenate(([0.0], np.cumsum(seg)))
        ends = cum[np.asarray(edge_end_vertex, np.int64)]
        lengths = np.diff(np.concatenate(([0.0], ends)))
        n = lengths.size
        rng = self.rng
        v = np.asarray(edge_speed_kmh, np.float64) * style.vehicle_factor
        v = v * rng.lognormal(0.0, style.edge_sigma, n)
        v = np.clip(v, style.min_kmh, style.max_kmh) / 3.6
        vj = np.minimum(v, style.junction_kmh / 3.6)
        junction = np.ones(n, bool)
        junction[-1] = False  # the end of the drive is no junction (dwell follows)
        zone = np.where(junction, np.minimum(style.junction_zone_m, lengths / 3.0), 0.0)
        cruise_t = (lengths - zone) / v
        slow_t = np.where(zone > 0, zone / vj, 0.0)
        stops = junction & (rng.random(n) < style.stop_prob)
        stop_t = np.where(stops, rng.uniform(*style.stop_s, n), 0.0)
        # knots per edge: end of cruise, end of slow zone, end of stop
        dt = np.column_stack((cruise_t, slow_t, stop_t)).ravel()
        ds = np.column_stack((lengths - zone, zone, np.zeros(n))).ravel()
        keep = dt > 0
        t = self.now_s + np.cumsum(dt[keep])
        s = self._len + np.cumsum(ds[keep])
        self._t.extend(t.tolist())
        self._s.extend(s.tolist())
        self._x.append(x_m[1:])
        self._y.append(y_m[1:])
        self._len += float(cum[-1])
        return self

    def build(self) -> Trajectory:
        x = np.concatenate(self._x)
        y = np.concatenate(self._y)
        if x.size == 1:  # never moved: a degenerate line of one point
            x, y = np.repeat(x, 2), np.repeat(y, 2)
        cum = np.concatenate(([0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))))
        t = np.asarray(self._t, np.float64)
        s = np.asarray(self._s, np.float64)
        if t.size == 1:
            t, s = np.array([0.0, 0.0]), np.array([0.0, 0.0])
        return Trajectory(t, np.minimum(s, cum[-1]), x, y, cum, dict(self.marks))
