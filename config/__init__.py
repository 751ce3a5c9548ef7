"""Settings for scrm: environment + optional TOML, validated once at start.

`settings` holds the root `Settings` and `load_settings`; each area has its own module
(`wecom`, `worker`, `archive`, `tickets`, `staff`), `source` reads a key, `converters` check
its value, `sandbox` keeps the development credentials.
"""

from config.archive import ArchiveSettings
from config.secret import Secret
from config.settings import Settings, load_settings
from config.source import ConfigError
from config.staff import StaffSettings
from config.tickets import TicketSettings
from config.wecom import WeComSettings
from config.worker import WorkerSettings

__all__ = [
    "ArchiveSettings",
    "ConfigError",
    "Secret",
    "Settings",
    "StaffSettings",
    "TicketSettings",
    "WeComSettings",
    "WorkerSettings",
    "load_settings",
]
