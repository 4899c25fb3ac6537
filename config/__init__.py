"""Configuration: process settings (environment) and the service rules (versioned data files)."""

from config.rules import Rules, RulesError, load_rules
from config.settings import Settings, get_settings

__all__ = ["Rules", "RulesError", "Settings", "get_settings", "load_rules"]
