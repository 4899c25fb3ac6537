import pytest
from pydantic import ValidationError

from config.settings import DEFAULT_SECRET, Settings


def test_defaults(monkeypatch):
    for var in ("SOCIALTAXI_DATABASE_URL", "SOCIALTAXI_MODE", "SOCIALTAXI_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ValidationError, match="SECRET_KEY"):  # production needs a real key
        Settings(_env_file=None)
    monkeypatch.setenv("SOCIALTAXI_SECRET_KEY", "k" * 40)
    s = Settings(_env_file=None)
    assert s.database_url == "postgresql://postgres@127.0.0.1:5432/socialtaxi"
    assert s.mqtt_topic_prefix == "socialtaxi/v1"
    assert s.mode == "production"  # secure by default (issue 9)


def test_environment_overrides(monkeypatch):
    monkeypatch.setenv("SOCIALTAXI_MQTT_PORT", "18830")
    monkeypatch.setenv("SOCIALTAXI_DATABASE_URL", "postgresql://u@db:5432/x")
    s = Settings(_env_file=None)
    assert s.mqtt_port == 18830
    assert s.database_url == "postgresql://u@db:5432/x"


def test_env_file_is_read(tmp_path, monkeypatch):
    monkeypatch.delenv("SOCIALTAXI_MQTT_HOST", raising=False)
    env = tmp_path / ".env"
    env.write_text("SOCIALTAXI_MQTT_HOST=broker.example\n")
    assert Settings(_env_file=env).mqtt_host == "broker.example"


@pytest.mark.parametrize("secret", [DEFAULT_SECRET, "changeme", "short-but-not-default"])
def test_production_refuses_default_or_weak_secret(secret, monkeypatch):
    monkeypatch.setenv("SOCIALTAXI_MODE", "production")
    monkeypatch.setenv("SOCIALTAXI_SECRET_KEY", secret)
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(_env_file=None)


def test_production_accepts_strong_secret(monkeypatch):
    monkeypatch.setenv("SOCIALTAXI_MODE", "production")
    monkeypatch.setenv("SOCIALTAXI_SECRET_KEY", "x" * 40)
    assert Settings(_env_file=None).mode == "production"


def test_secret_is_not_shown_in_repr(monkeypatch):
    monkeypatch.setenv("SOCIALTAXI_SECRET_KEY", "very-secret-value-123")
    assert "very-secret-value-123" not in repr(Settings(_env_file=None))


def test_the_time_zone_is_a_rule_not_a_setting(monkeypatch):
    """One time zone in force: the rules file's. A leftover SOCIALTAXI_TIMEZONE is ignored."""
    from config.rules import load_rules

    monkeypatch.setenv("SOCIALTAXI_TIMEZONE", "Asia/Tokyo")
    s = Settings(_env_file=None)
    assert "timezone" not in Settings.model_fields and not hasattr(s, "timezone")
    assert load_rules(s.rules_file).timezone == "Europe/Moscow"
