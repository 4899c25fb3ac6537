"""Docker cannot run here: check the production wiring by reading the files."""

import re
import shlex
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from config.settings import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
# Every service runs a command that exists (test_every_socialtaxi_command_exists keeps it so).
APP_SERVICES = ("migrate", "web", "ingest", "audit")


def test_timescaledb_and_mosquitto_images():
    assert SERVICES["db"]["image"].startswith("timescale/timescaledb")
    assert "pg15" in SERVICES["db"]["image"]
    assert SERVICES["mqtt"]["image"].startswith("eclipse-mosquitto:2")


def test_app_environment_names_match_settings():
    fields = set(Settings.model_fields)
    for name in APP_SERVICES:
        env = SERVICES[name]["environment"]
        assert env, name
        for key in env:
            assert key.startswith("SOCIALTAXI_"), key
            assert key.removeprefix("SOCIALTAXI_").lower() in fields, f"{name}: {key}"


def test_database_url_points_at_the_db_service():
    url = SERVICES["web"]["environment"]["SOCIALTAXI_DATABASE_URL"]
    assert re.match(
        r"postgresql://socialtaxi:\$\{POSTGRES_PASSWORD[^}]*\}@db:5432/socialtaxi$", url
    )
    assert SERVICES["web"]["environment"]["SOCIALTAXI_MQTT_HOST"] == "mqtt"
    assert SERVICES["web"]["environment"]["SOCIALTAXI_MODE"] == "production"


def test_ports_volumes_and_health_checks():
    # web and plain MQTT are not published: TLS in front of both (issue 9)
    assert "ports" not in SERVICES["web"] and SERVICES["web"]["expose"] == ["8000"]
    assert SERVICES["mqtt"]["ports"] == ["8883:8883"]
    declared = set(COMPOSE["volumes"])
    for svc in SERVICES.values():
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if not src.startswith("."):
                assert src in declared, vol
            else:
                assert (REPO / src).exists() or src.endswith("passwd") or src == "./maps", vol
                assert src != "./deploy/certs" or vol.endswith(":ro"), vol
    assert "db-data:/var/lib/postgresql/data" in SERVICES["db"]["volumes"]
    for name in ("db", "mqtt", "web", "proxy", "ingest", "audit"):
        assert SERVICES[name].get("healthcheck", {}).get("test"), name


def test_startup_order():
    for name in ("web", "ingest", "audit"):
        deps = SERVICES[name]["depends_on"]
        assert deps["db"]["condition"] == "service_healthy"
        assert deps["mqtt"]["condition"] == "service_healthy"
        assert deps["migrate"]["condition"] == "service_completed_successfully"
    assert "profiles" not in SERVICES["web"]
    assert SERVICES["ingest"]["command"] == ["socialtaxi", "ingest"]
    assert SERVICES["audit"]["command"] == ["socialtaxi", "audit", "worker"]


def _socialtaxi_commands() -> list[tuple[str, list[str]]]:
    """Every ``socialtaxi ...`` command line of the compose file (service commands, shell
    commands, health checks), as (service, arguments)."""
    out = []
    for name, svc in SERVICES.items():
        lines = [svc.get("command"), svc.get("healthcheck", {}).get("test")]
        for line in lines:
            if not line:
                continue
            if line[0] == "CMD-SHELL" or line[:2] == ["sh", "-c"]:
                words = shlex.split(line[-1])
            else:
                words = line[1:] if line[0] == "CMD" else list(line)
            command: list[str] = []
            for word in [*words, "&&"]:
                if word not in ("&&", "||", ";"):
                    command.append(word)
                    continue
                if command and command[0] == "socialtaxi":
                    out.append((name, command[1:]))
                command = []
    return out


def test_the_compose_file_runs_socialtaxi_commands():
    names = {(svc, args[0]) for svc, args in _socialtaxi_commands()}
    assert {("web", "web"), ("ingest", "ingest"), ("migrate", "db"), ("audit", "audit")} <= names


@pytest.mark.parametrize(("service", "args"), _socialtaxi_commands())
def test_every_socialtaxi_command_exists(service, args):
    """Each command line parses (command and options exist): ``--help`` after the arguments
    fails with a usage error on an unknown command or option."""
    from socialtaxi.cli import app

    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, f"{service}: socialtaxi {' '.join(args)}: {result.output}"


def test_the_command_check_refuses_a_command_that_does_not_exist():
    from socialtaxi.cli import app

    for args in (["audit", "--schedule"], ["simulate", "--no-such-option"], ["nosuch"]):
        assert CliRunner().invoke(app, [*args, "--help"]).exit_code != 0, args


def test_mosquitto_requires_passwords_and_vehicle_acl():
    conf = (REPO / "deploy/mosquitto/mosquitto.conf").read_text()
    assert re.search(r"^allow_anonymous false$", conf, re.M)
    assert re.search(r"^password_file ", conf, re.M)
    assert re.search(r"^acl_file ", conf, re.M)
    acl = (REPO / "deploy/mosquitto/acl").read_text()
    # Each vehicle may publish only under its own id (%u = its user name).
    assert re.search(r"^pattern write socialtaxi/v1/vehicles/%u/position$", acl, re.M)
    # OwnTracks: the vehicle is the {user} level (= %u), one free level after it (issue 9)
    assert re.search(r"^pattern write owntracks/%u/\+$", acl, re.M)
    assert "owntracks/%u/#" not in acl
    # no login writes for several vehicles, the simulator's neither (each simulated vehicle logs
    # in as itself: simulators/publish.py)
    assert not re.search(r"^topic write socialtaxi/v1/vehicles/", acl, re.M)
    assert "user simulator" not in acl


def test_tls_in_front_of_web_and_mqtt():
    """The session cookie is Secure: the pages are served over HTTPS by the proxy (Caddy), which
    alone reaches web; vehicles reach Mosquitto over TLS on 8883 (docs/security.md)."""
    proxy = SERVICES["proxy"]
    assert proxy["image"].startswith("caddy:2") and "443:443" in proxy["ports"]
    assert "./deploy/caddy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    assert proxy["depends_on"]["web"]["condition"] == "service_healthy"
    caddy = (REPO / "deploy/caddy/Caddyfile").read_text()
    assert re.search(r"^\s*reverse_proxy web:8000", caddy, re.M)
    assert re.search(r"^\s*tls /certs/web\.crt /certs/web\.key$", caddy, re.M)
    assert re.search(r"^http://\{\$SITE_ADDRESS\} \{\n\s*redir https://", caddy, re.M)
    # web trusts X-Forwarded-For (client address for the lockout) only because it is unpublished
    assert SERVICES["web"]["environment"]["SOCIALTAXI_FORWARDED_ALLOW_IPS"] == "*"
    conf = (REPO / "deploy/mosquitto/mosquitto.conf").read_text()
    assert re.search(r"^listener 8883$", conf, re.M)
    assert re.search(r"^certfile /mosquitto/certs/mqtt\.crt$", conf, re.M)
    assert re.search(r"^keyfile /mosquitto/certs/mqtt\.key$", conf, re.M)
    assert "./deploy/certs:/mosquitto/certs:ro" in SERVICES["mqtt"]["volumes"]
    assert (REPO / "deploy/certs/README.md").exists()
