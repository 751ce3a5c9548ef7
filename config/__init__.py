"""Settings for scrm: environment + optional TOML, validated once at start."""

from config.settings import (
    ConfigError,
    Secret,
    Settings,
    WeComSettings,
    WorkerSettings,
    load_settings,
)

__all__ = ["ConfigError", "Secret", "Settings", "WeComSettings", "WorkerSettings", "load_settings"]
