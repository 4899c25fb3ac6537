"""Process settings, read from ``SOCIALTAXI_*`` environment variables and an optional ``.env``.

One validating class, behind a cached :func:`get_settings`. Pure domain code never imports this
module: shells read the settings and pass plain values down.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "change-me-in-production"
DEFAULT_RULES_FILE = Path(__file__).parent / "rules" / "leningrad_oblast.toml"
INSECURE_KEY_MESSAGE = (
    "SOCIALTAXI_SECRET_KEY must be set to a strong value of at least 32 characters in production"
    " (SOCIALTAXI_MODE=production is the default; development is for the demo and the tests)"
)
_INSECURE_SECRETS = frozenset({DEFAULT_SECRET, "", "secret", "changeme", "change-me"})


class Settings(BaseSettings):
    """All knobs of a socialtaxi process.

    Every field can be set as ``SOCIALTAXI_<FIELD>`` (case-insensitive), e.g.
    ``SOCIALTAXI_DATABASE_URL``.
    """

    model_config = SettingsConfigDict(
        env_prefix="SOCIALTAXI_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Secure by default: a process started without SOCIALTAXI_MODE is a production one and refuses
    # the published development key. Only ``socialtaxi demo`` and the tests set development.
    mode: Literal["development", "production"] = "production"
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET)

    # Sessions (server-side, table user_sessions): an absolute and an idle lifetime.
    session_absolute_hours: float = Field(12, gt=0, le=24 * 30)
    session_idle_minutes: float = Field(30, gt=0, le=366 * 24 * 60)
    # Brute force: after this many consecutive failures a login (or a client address, which many
    # users behind one NAT share, hence the higher number) is locked for lockout_base_s, doubled
    # with every further failure up to lockout_max_s.
    login_max_failures: int = Field(5, ge=1)
    login_max_failures_per_address: int = Field(20, ge=1)
    login_lockout_base_s: float = Field(60, gt=0)
    login_lockout_max_s: float = Field(3600, gt=0)
    # Request bodies are refused (413) past these sizes, before they are parsed.
    max_json_bytes: int = Field(1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1024)

    database_url: str = "postgresql://postgres@127.0.0.1:5432/socialtaxi"
    db_pool_min: int = Field(1, ge=1)
    db_pool_max: int = Field(10, ge=1)

    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(1883, ge=1, le=65535)
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_topic_prefix: str = "socialtaxi/v1"
    mqtt_client_id: str = "socialtaxi-ingest"
    # Empty: one ingest process on a plain subscription, lossless across broker restarts.
    # Set a group name (e.g. "ingest") to run several processes on one $share subscription
    # (see docs/telemetry.md for Mosquitto's restart caveat with shared subscriptions).
    mqtt_share_group: str = ""

    map_source: str = Field(
        "",
        description="An OSM file (.osm, .osm.bz2, .osm.gz, .osm.pbf) or a place name to download.",
    )
    map_cache_dir: Path = Path.home() / ".cache" / "socialtaxi" / "maps"
    map_speeds: dict[str, float] = Field(
        default_factory=dict,
        description="Speed defaults overriding routing.SpeedDefaults, km/h, e.g. "
        '{"urban_kmh": 50, "residential": 25} (JSON in SOCIALTAXI_MAP_SPEEDS).',
    )
    map_profile_graphs: int = Field(
        24,
        ge=1,
        description="Hour-of-week graphs of the active speed profile kept per process (LRU; "
        "each is one contracted graph: ~45 MB and ~10 s to build for a 55k-node map).",
    )

    # The service's time zone is the rules file's ``timezone`` (service hours, local days, quota
    # months are rules), not a process setting.
    rules_file: Path = DEFAULT_RULES_FILE

    web_host: str = "127.0.0.1"
    web_port: int = Field(8000, ge=1, le=65535)
    # Peers whose X-Forwarded-For is believed (the TLS proxy); "*" only when web is reachable
    # through the proxy alone (docker-compose.yml publishes no web port).
    forwarded_allow_ips: str = "127.0.0.1"

    positions_retention_days: int = Field(
        1095, ge=1, description="Raw GPS fixes older than this are dropped (3 years by default)."
    )
    positions_compress_after_days: int = Field(7, ge=1)

    log_level: str = "INFO"

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        key = self.secret_key.get_secret_value()
        if self.mode != "development" and (key in _INSECURE_SECRETS or len(key) < 32):
            raise ValueError(INSECURE_KEY_MESSAGE)
        return self


class SettingsError(RuntimeError):
    """The settings are invalid; the message is one line naming the variable(s)."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once.

    Raises
    ------
    SettingsError
        One line per bad variable (no pydantic traceback), e.g. a production start with the
        development key.
    """
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()))
            msg = str(err.get("msg", "")).removeprefix("Value error, ")
            lines.append(f"SOCIALTAXI_{where.upper()}: {msg}" if where else msg)
        raise SettingsError("; ".join(lines)) from None
