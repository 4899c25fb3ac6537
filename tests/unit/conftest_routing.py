"""Session-scoped routing fixtures, imported by ``test_routing_*.py`` (not a real conftest:
``tests/conftest.py`` belongs to the foundation)."""

from __future__ import annotations

from pathlib import Path

import pytest

from routing import RoadGraph, load_graph
from tests.conftest import SHARED_DATA

OSM = SHARED_DATA / "osm"

__all__ = ["heidelberg", "murino", "osm_dir", "routing_cache"]


@pytest.fixture(scope="session")
def routing_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # one directory for the whole session: fixtures star-imported into several test modules
    # are separate fixture instances, but the second one then only loads the cached graph
    path = tmp_path_factory.getbasetemp() / "routing-cache"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def osm_dir() -> Path:
    if not OSM.is_dir():
        pytest.fail(f"shared OSM data not found at {OSM}")
    return OSM


@pytest.fixture(scope="session")
def murino(routing_cache: Path, osm_dir: Path) -> RoadGraph:
    return load_graph(osm_dir / "murino_lo_osmnx.osm", cache_dir=routing_cache)


@pytest.fixture(scope="session")
def heidelberg(routing_cache: Path, osm_dir: Path) -> RoadGraph:
    return load_graph(osm_dir / "heidelberg.osm.pbf", cache_dir=routing_cache)
