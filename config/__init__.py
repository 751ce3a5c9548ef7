"""Settings for scrm: environment + optional TOML, validated once at start."""

from config.settings import (
    ArchiveSettings,
    ConfigError,
    Secret,
    Settings,
    WeComSettings,
    WorkerSettings,
    load_settings,
)

__all__ = [
    "ArchiveSettings",
    "ConfigError",
    "Secret",
    "Settings",
    "WeComSettings",
    "WorkerSettings",
    "load_settings",
]
