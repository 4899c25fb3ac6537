"""The graph to route on at a given time: the model's, or a calibrated profile's hour of the week.

A speed profile (:mod:`routing.calibration`) has speeds per hour of the week; routing on them
needs a hierarchy contracted on that hour's edge times. :class:`HourlyGraphs` holds the model's
graph and (optionally) one profile, and hands out the graph of the hour a route is for —
:meth:`HourlyGraphs.at` with the pickup (or departure) time.

Caching, measured (docs/routing.md, "Applying a profile"): contracting a hierarchy costs ~1 s on
Murino (677 nodes) and ~10 s on Porto (55k nodes) on these machines, a graph takes 0.4 MB and
45 MB. So the graphs of the hours are built **lazily** and kept in an **LRU** of
``max_graphs`` (24 by default: a day of distinct hours, ~1 GB for a Porto-sized map), and
hours whose edge times are *identical* share one graph: the edge times of an hour are computed
first (cheap, numpy: 10 ms on Murino, 0.3 s on Porto) and keyed by their digest — every hour
without its own buckets (night, weekend without data) falls back to the same all-hours times
and reuses one graph instead of contracting it again.

Pure: no database. Which profile is active is the shell's business
(:class:`routing.profile_store.ActiveGraphs`).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from routing.calibration import SpeedProfile, edge_times
from routing.graph import RoadGraph

__all__ = ["HourlyGraphs", "graph_at", "week_hour"]

Loader = Callable[[SpeedProfile, "int | None"], RoadGraph]
"""``load(profile, hour)``: the graph under ``profile`` at hour of the week ``hour`` (``None``:
all hours) — :func:`routing.store.load_graph` with ``profile=``/``profile_hour=``."""


def week_hour(when: datetime, zone: ZoneInfo) -> int:
    """Hour of the week of an aware ``when`` in ``zone`` (0 = Monday 00:00 local, as
    :func:`routing.calibration.hour_of_week`)."""
    local = when.astimezone(zone)
    return local.weekday() * 24 + local.hour


class HourlyGraphs:
    """The model's graph and, optionally, a profile whose hourly graphs are built on demand.

    Parameters
    ----------
    base
        The graph on the model's speeds (what every caller loaded before profiles).
    profile
        The active profile, or ``None``: then :meth:`at` always returns ``base``.
    timezone
        The service's time zone (``Rules.timezone``): hours of the week are local.
    load
        Builds the graph of one hour (see :data:`Loader`); by default
        :func:`routing.calibration.apply_profile` on ``base``.
    max_graphs
        Distinct hourly graphs kept (least recently used dropped first).
    """

    def __init__(
        self,
        base: RoadGraph,
        profile: SpeedProfile | None = None,
        *,
        timezone: str,
        load: Loader | None = None,
        max_graphs: int = 24,
    ) -> None:
        if max_graphs < 1:
            raise ValueError("max_graphs must be at least 1")
        self.base = base
        self.profile = profile
        self.zone = ZoneInfo(timezone)
        self.max_graphs = max_graphs
        self._load = load or self._apply
        self._key_of_hour: dict[int | None, str] = {}
        self._graphs: OrderedDict[str, RoadGraph] = OrderedDict()
        self._lock = threading.Lock()  # web handlers run in a thread pool
        self._building: dict[str, threading.Lock] = {}
        self.builds = 0  # hierarchies contracted so far (a measure, shown by tests and logs)

    @property
    def version(self) -> int | None:
        """The profile's version, or ``None`` on the model's speeds."""
        return None if self.profile is None else self.profile.version

    def _apply(self, profile: SpeedProfile, hour: int | None) -> RoadGraph:
        from routing.calibration import apply_profile

        return apply_profile(self.base, profile, hour=hour)

    def hour(self, hour: int | None) -> RoadGraph:
        """The graph of hour of the week ``hour`` (``None``: the profile's all-hours speeds)."""
        profile = self.profile
        if profile is None:
            return self.base
        with self._lock:
            key = self._key_of_hour.get(hour)
        if key is None:
            times = edge_times(self.base, profile, hour=hour)
            key = hashlib.blake2b(times.tobytes(), digest_size=16).hexdigest()
        with self._lock:
            self._key_of_hour[hour] = key
            graph = self._cached(key)
            if graph is not None:
                return graph
            building = self._building.setdefault(key, threading.Lock())
        # one build per key; requests for other (cached) hours do not wait for it
        with building:
            with self._lock:
                graph = self._cached(key)
            if graph is not None:
                return graph
            graph = self._load(profile, hour).warm_up()
            with self._lock:
                self.builds += 1
                self._graphs[key] = graph
                while len(self._graphs) > self.max_graphs:
                    self._graphs.popitem(last=False)
                self._building.pop(key, None)
        return graph

    def _cached(self, key: str) -> RoadGraph | None:
        graph = self._graphs.get(key)
        if graph is not None:
            self._graphs.move_to_end(key)
        return graph

    def snap(self, lat: Any, lon: Any, **kw: Any) -> Any:
        """:meth:`RoadGraph.snap` on the base graph (snapping does not depend on speeds)."""
        return self.base.snap(lat, lon, **kw)

    def at(self, when: datetime | None) -> RoadGraph:
        """The graph for a route that starts at ``when`` (aware); ``None``: the profile's
        all-hours speeds (a day plan that spans many hours)."""
        return self.hour(None if when is None else week_hour(when, self.zone))


def graph_at(graph: Any, when: datetime | None) -> Any:
    """The graph to route on at ``when``: :meth:`HourlyGraphs.at` for an :class:`HourlyGraphs`;
    any other graph (a plain :class:`RoadGraph`, a test's fake, ``None``) as it is."""
    if isinstance(graph, HourlyGraphs):
        return graph.at(when)
    return graph
