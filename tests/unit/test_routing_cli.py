"""``socialtaxi map ...`` commands (offline: import, info, route; fetch is never run)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from socialtaxi.cli import app
from tests.unit.conftest_routing import *  # noqa: F403 (session fixtures)

runner = CliRunner()


def test_map_import_info_and_route(osm_dir, tmp_path):
    src = str(osm_dir / "moscow_center.osm.gz")
    cache = str(tmp_path)
    res = runner.invoke(
        app,
        ["map", "import", src, "--cache-dir", cache, "--speed", "residential=25", "--no-addresses"],
    )
    assert res.exit_code == 0, res.output
    assert "Граф: узлов" in res.output and "Кэш:" in res.output
    assert len(list(tmp_path.glob("*.graph.npz"))) == 1

    res = runner.invoke(
        app, ["map", "info", src, "--cache-dir", cache, "--speed", "residential=25"]
    )
    assert res.exit_code == 0, res.output
    assert len(list(tmp_path.glob("*.graph.npz"))) == 1  # loaded from the cache

    res = runner.invoke(
        app,
        ["map", "route", src, "--cache-dir", cache, "--from", "55.81,37.59", "--to", "55.825,37.62",
         "--geojson"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    out = res.output
    feature = json.loads(out[out.index('{"type": "Feature"') :].splitlines()[0])
    assert feature["type"] == "Feature" and feature["properties"]["dist_m"] > 0


def test_map_errors_are_one_russian_line(osm_dir, tmp_path):
    res = runner.invoke(
        app, ["map", "import", str(tmp_path / "none.osm"), "--cache-dir", str(tmp_path)]
    )
    assert res.exit_code == 1
    assert "Не удалось загрузить дорожный граф" in res.output
    res = runner.invoke(
        app, ["map", "import", str(osm_dir / "moscow_center.osm.gz"), "--speed", "fast"]
    )
    assert res.exit_code == 1 and "неверная скорость" in res.output
    res = runner.invoke(
        app,
        ["map", "route", str(osm_dir / "moscow_center.osm.gz"), "--cache-dir", str(tmp_path),
         "--from", "55.81,37.59", "--to", "59.0,30.0"],
    )  # fmt: skip
    assert res.exit_code == 1 and "Адрес вне зоны обслуживания" in res.output
