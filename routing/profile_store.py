"""Speed profiles and the fixes they are calibrated from, in PostgreSQL (psycopg).

Reads the fixes of completed trips (``vehicle_positions`` between a trip's pickup and its
completion, implausible fixes left out), writes a calibrated :class:`SpeedProfile` as a new
version (``speed_profiles`` + its class and edge rows, migration 0110) and reads one back;
records which profile is active (``speed_profile_activations``, migration 0130: every change a
new row, with who and when) and keeps the routing graphs of the processes on it
(:class:`ActiveGraphs`).
"""

from __future__ import annotations

import getpass
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from routing.calibration import ALL_HOURS, SpeedProfile
from routing.graph import RoadGraph
from routing.profiled import HourlyGraphs, Loader

__all__ = [
    "TripTrack",
    "completed_trip_tracks",
    "save_profile",
    "load_profile",
    "ProfileInfo",
    "list_profiles",
    "active_version",
    "activate_profile",
    "deactivate_profile",
    "ActiveGraphs",
    "graphs_now",
]

log = logging.getLogger("routing.profiles")


@dataclass(frozen=True, eq=False)
class TripTrack:
    """The fixes of one completed trip: Unix seconds and WGS 84 degrees, in time order."""

    trip_id: int
    vehicle_id: int
    t_s: np.ndarray
    lat: np.ndarray
    lon: np.ndarray


_TRACKS = """
SELECT t.id, t.vehicle_id, extract(epoch FROM p.ts)::float8, p.lat, p.lon
FROM trips t
JOIN vehicle_positions p
  ON p.vehicle_id = t.vehicle_id
 AND p.ts >= COALESCE(t.picked_up_at, t.started_at) AND p.ts <= t.completed_at
 AND NOT p.implausible
WHERE t.status = 'completed' AND t.vehicle_id IS NOT NULL
  AND t.completed_at >= %(s)s AND t.completed_at < %(e)s
  AND COALESCE(t.picked_up_at, t.started_at) IS NOT NULL
ORDER BY t.id, p.ts
"""


def completed_trip_tracks(
    conn: psycopg.Connection, *, start: datetime, end: datetime, min_fixes: int = 2
) -> Iterator[TripTrack]:
    """Tracks of the trips completed in [start, end), from boarding (or start) to completion."""
    with conn.cursor(name="calibration_tracks") as cur:  # server-side: a month is millions
        cur.itersize = 50_000
        cur.execute(_TRACKS, {"s": start, "e": end})
        trip: int | None = None
        vehicle = 0
        rows: list[tuple[float, float, float]] = []
        for tid, vid, ts, lat, lon in cur:
            if tid != trip:
                if trip is not None and len(rows) >= min_fixes:
                    yield _track(trip, vehicle, rows)
                trip, vehicle, rows = tid, vid, []
            rows.append((ts, lat, lon))
        if trip is not None and len(rows) >= min_fixes:
            yield _track(trip, vehicle, rows)


def _track(trip: int, vehicle: int, rows: list[tuple[float, float, float]]) -> TripTrack:
    a = np.asarray(rows, dtype=float)
    return TripTrack(trip, vehicle, a[:, 0], a[:, 1], a[:, 2])


def save_profile(
    conn: psycopg.Connection,
    profile: SpeedProfile,
    *,
    map_source: str,
    map_digest: str,
    period_from: datetime,
    period_to: datetime,
    trips: int,
    fixes: int,
) -> int:
    """Store ``profile`` as a new version; returns its number. One transaction."""
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO speed_profiles (map_source, map_digest, period_from, period_to,"
            " min_count, trips, fixes, traversals, created_by)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                map_source,
                map_digest,
                period_from,
                period_to,
                profile.min_count,
                trips,
                fixes,
                int(profile.meta.get("traversals", 0)),
                getpass.getuser(),
            ),
        ).fetchone()
        assert row is not None
        version = int(row[0])
        with conn.cursor() as cur:
            with cur.copy(
                "COPY speed_profile_classes (profile_id, road_class, hour_of_week, n,"
                " speed_kmh, base_speed_kmh) FROM STDIN"
            ) as cp:
                for name, h, n, sp, bs in profile.class_table():
                    cp.write_row((version, name, None if h == ALL_HOURS else h, n, sp, bs))
            with cur.copy(
                "COPY speed_profile_edges (profile_id, u_osm, v_osm, hour_of_week, n,"
                " speed_kmh, base_speed_kmh) FROM STDIN"
            ) as cp:
                for u, v, h, n, sp, bs in zip(
                    profile.edge_u.tolist(),
                    profile.edge_v.tolist(),
                    profile.edge_hour.tolist(),
                    profile.edge_n.tolist(),
                    profile.edge_speed_kmh.tolist(),
                    profile.edge_base_kmh.tolist(),
                    strict=True,
                ):
                    cp.write_row((version, u, v, None if h == ALL_HOURS else h, n, sp, bs))
    return version


def load_profile(
    conn: psycopg.Connection, *, version: int | None = None, map_digest: str | None = None
) -> SpeedProfile | None:
    """Profile ``version``, or the newest one for ``map_digest`` (or overall); ``None`` if none."""
    head = conn.execute(
        "SELECT id, min_count, map_source, map_digest, period_from, period_to, trips, fixes,"
        " traversals FROM speed_profiles"
        " WHERE (%(v)s::bigint IS NULL OR id = %(v)s)"
        " AND (%(d)s::text IS NULL OR map_digest = %(d)s) ORDER BY id DESC LIMIT 1",
        {"v": version, "d": map_digest},
    ).fetchone()
    if head is None:
        return None
    pid = head[0]
    classes = conn.execute(
        "SELECT road_class, COALESCE(hour_of_week, -1), n, speed_kmh, base_speed_kmh"
        " FROM speed_profile_classes WHERE profile_id = %s",
        (pid,),
    ).fetchall()
    edges = conn.execute(
        "SELECT u_osm, v_osm, COALESCE(hour_of_week, -1), n, speed_kmh, base_speed_kmh"
        " FROM speed_profile_edges WHERE profile_id = %s",
        (pid,),
    ).fetchall()
    c = list(zip(*classes, strict=True)) if classes else [()] * 5
    e = list(zip(*edges, strict=True)) if edges else [()] * 6
    return SpeedProfile(
        class_name=np.asarray(c[0], dtype=str),
        class_hour=np.asarray(c[1], dtype=np.int16),
        class_n=np.asarray(c[2], dtype=np.int64),
        class_speed_kmh=np.asarray(c[3], dtype=float),
        class_base_kmh=np.asarray(c[4], dtype=float),
        edge_u=np.asarray(e[0], dtype=np.int64),
        edge_v=np.asarray(e[1], dtype=np.int64),
        edge_hour=np.asarray(e[2], dtype=np.int16),
        edge_n=np.asarray(e[3], dtype=np.int64),
        edge_speed_kmh=np.asarray(e[4], dtype=float),
        edge_base_kmh=np.asarray(e[5], dtype=float),
        min_count=int(head[1]),
        version=int(pid),
        meta={
            "map_source": head[2],
            "map_digest": head[3],
            "period_from": head[4],
            "period_to": head[5],
            "trips": head[6],
            "fixes": head[7],
            "traversals": head[8],
        },
    )


# ---- activation --------------------------------------------------------------------------


class UnknownProfile(LookupError):
    """No stored profile has the version asked for."""


@dataclass(frozen=True)
class ProfileInfo:
    """One stored profile as ``map profile list`` shows it (with its activation, if active)."""

    version: int
    map_source: str
    map_digest: str
    period_from: datetime
    period_to: datetime
    min_count: int
    trips: int
    traversals: int
    created_at: datetime
    created_by: str | None
    active: bool
    activated_at: datetime | None = None
    activated_by: str | None = None


_ACTIVE = "SELECT profile_id, changed_at, changed_by FROM speed_profile_activations"
_ACTIVE += " ORDER BY id DESC LIMIT 1"


def active_version(conn: psycopg.Connection) -> int | None:
    """The active profile's version, or ``None`` (none ever activated, or deactivated)."""
    row = conn.execute(_ACTIVE).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def list_profiles(conn: psycopg.Connection) -> list[ProfileInfo]:
    """Every stored profile, newest first; the active one says who activated it and when."""
    act = conn.execute(_ACTIVE).fetchone()
    active = None if act is None else act[0]
    rows = conn.execute(
        "SELECT id, map_source, map_digest, period_from, period_to, min_count, trips,"
        " traversals, created_at, created_by FROM speed_profiles ORDER BY id DESC"
    ).fetchall()
    out = []
    for r in rows:
        on = act is not None and r[0] == active
        out.append(
            ProfileInfo(
                version=int(r[0]),
                map_source=r[1],
                map_digest=r[2],
                period_from=r[3],
                period_to=r[4],
                min_count=int(r[5]),
                trips=int(r[6]),
                traversals=int(r[7]),
                created_at=r[8],
                created_by=r[9],
                active=on,
                activated_at=act[1] if on and act else None,
                activated_by=act[2] if on and act else None,
            )
        )
    return out


def activate_profile(conn: psycopg.Connection, version: int, *, actor: str | None = None) -> None:
    """Make ``version`` the active profile (a new activation row; the caller commits).

    Raises
    ------
    UnknownProfile
        No profile has that version.
    """
    if conn.execute("SELECT 1 FROM speed_profiles WHERE id = %s", (version,)).fetchone() is None:
        raise UnknownProfile(version)
    conn.execute(
        "INSERT INTO speed_profile_activations (profile_id, changed_by) VALUES (%s, %s)",
        (version, actor or getpass.getuser()),
    )


def deactivate_profile(conn: psycopg.Connection, *, actor: str | None = None) -> bool:
    """Route on the model's speeds again; ``False`` when no profile was active (nothing
    written). The caller commits."""
    if active_version(conn) is None:
        return False
    conn.execute(
        "INSERT INTO speed_profile_activations (profile_id, changed_by) VALUES (NULL, %s)",
        (actor or getpass.getuser(),),
    )
    return True


def _cache_loader(base: RoadGraph) -> Loader | None:
    """Hour graphs through :func:`routing.store.load_graph` from the base graph's own cache
    file (the loader's ``profile=``/``profile_hour=``); ``None`` for a graph built in memory."""
    cache = base.meta.get("cache_path")
    if not cache:
        return None
    from routing.store import load_graph

    path = Path(str(cache))

    def load(profile: SpeedProfile, hour: int | None) -> RoadGraph:
        return load_graph(path, profile=profile, profile_hour=hour)

    return load


class ActiveGraphs:
    """A process's routing graphs, following the database's active profile.

    :meth:`current` looks up the active version (one one-row query) and returns the
    :class:`HourlyGraphs` of that profile — the same object, with its cached hourly graphs,
    until another profile is activated (or the active one deactivated), so a running web app,
    planner or audit worker picks up an activation at its next request without a restart.
    """

    def __init__(self, base: RoadGraph, *, timezone: str, max_graphs: int = 24) -> None:
        self.base = base
        self.timezone = timezone
        self.max_graphs = max_graphs
        self._lock = threading.Lock()
        self._graphs = HourlyGraphs(base, timezone=timezone, max_graphs=max_graphs)

    def current(self, conn: psycopg.Connection) -> HourlyGraphs:
        version = active_version(conn)
        with self._lock:
            if version == self._graphs.version:
                return self._graphs
        profile = None if version is None else load_profile(conn, version=version)
        digest = self.base.meta.get("source_digest")
        if profile is not None and digest and profile.meta.get("map_digest") != digest:
            # edges are keyed by OSM ids and classes by name, so it still applies where the
            # maps agree; say so, the operator may want to calibrate on this map
            log.warning("speed profile %s was calibrated on another map version", version)
        graphs = HourlyGraphs(
            self.base,
            profile,
            timezone=self.timezone,
            load=_cache_loader(self.base),
            max_graphs=self.max_graphs,
        )
        with self._lock:
            if graphs.version != self._graphs.version:
                self._graphs = graphs
                log.info("routing on speed profile %s", version or "none (model speeds)")
            return self._graphs


def graphs_now(graph: Any, conn: psycopg.Connection) -> Any:
    """``graph.current(conn)`` for :class:`ActiveGraphs`; any other graph as it is."""
    if isinstance(graph, ActiveGraphs):
        return graph.current(conn)
    return graph
