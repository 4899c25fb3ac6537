from typer.testing import CliRunner

from socialtaxi.cli import app


def test_every_package_has_its_command():
    out = CliRunner().invoke(app, ["--help"]).output
    for cmd in ("db", "map", "ingest", "audit", "web", "simulate", "demo", "rules"):
        assert cmd in out


def test_rules_command_refuses_bad_file(tmp_path):
    bad = tmp_path / "r.toml"
    bad.write_text('version = "x"\n')
    res = CliRunner().invoke(app, ["rules", str(bad)])
    assert res.exit_code == 1
    assert "r.toml" in res.output and "region" in res.output
