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
_INSECURE_SECRETS = frozenset({DEFAULT_SECRET, "", "secret", "changeme", "change-me"})


class Settings(BaseSettings):
    """All knobs of a socialtaxi process.

    Every field can be set as ``SOCIALTAXI_<FIELD>`` (case-insensitive), e.g.
    ``SOCIALTAXI_DATABASE_URL``.
    """

    model_config = SettingsConfigDict(
        env_prefix="SOCIALTAXI_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    mode: Literal["development", "production"] = "development"
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET)

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

    # The service's time zone is the rules file's ``timezone`` (service hours, local days, quota
    # months are rules), not a process setting.
    rules_file: Path = DEFAULT_RULES_FILE

    web_host: str = "127.0.0.1"
    web_port: int = Field(8000, ge=1, le=65535)

    positions_retention_days: int = Field(
        1095, ge=1, description="Raw GPS fixes older than this are dropped (3 years by default)."
    )
    positions_compress_after_days: int = Field(7, ge=1)

    log_level: str = "INFO"

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.mode != "development" and self.secret_key.get_secret_value() in _INSECURE_SECRETS:
            raise ValueError(
                "SOCIALTAXI_SECRET_KEY must be set to a strong value outside development mode"
            )
        if self.mode != "development" and len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("SOCIALTAXI_SECRET_KEY must be at least 32 characters in production")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
