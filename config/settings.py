"""Settings: read once at start from the environment and an optional TOML file, then passed down.

Every key has one name: ``SCRM_PORT`` in the environment is ``port`` in the TOML file
(``SCRM_CONFIG=path``). The environment wins over the file. A bad value stops the start with a
`ConfigError` that names the key; secrets are wrapped in `Secret` so they never reach a log.

`Settings` holds the service's own settings (where it listens, its database and Redis, the
admin token, leads and the mini-program) and one group per area: ``wecom``, ``worker``,
``archive``, ``tickets``, ``staff``, each read by its module's ``load_*``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.archive import ARCHIVE_KEYS, ArchiveSettings, load_archive
from config.converters import boolean, http_url, int_in, secret, text
from config.sandbox import SANDBOX_MINIPROGRAM, dev_credentials
from config.secret import Secret
from config.source import ConfigError, Source, read_toml
from config.staff import STAFF_KEYS, StaffSettings, load_staff
from config.tickets import TICKET_KEYS, TicketSettings, load_tickets
from config.wecom import WECOM_KEYS, WeComSettings, load_wecom, unset_wecom
from config.worker import WORKER_KEYS, WorkerSettings, load_worker

SERVICE_KEYS = (
    "host port database_url redis_url admin_token sandbox sandbox_port max_body_bytes var_dir "
    "log_level inbox_content_ttl_days public_url "
    "leads_recycle_days leads_claim_cap miniprogram_appid miniprogram_secret miniprogram_api_base"
).split()
KNOWN_KEYS = (*SERVICE_KEYS, *WECOM_KEYS, *WORKER_KEYS, *ARCHIVE_KEYS, *TICKET_KEYS, *STAFF_KEYS)


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str = "sqlite://var/scrm.db"
    redis_url: str | None = None
    admin_token: Secret = Secret("")
    sandbox: bool = False
    sandbox_port: int = 8081
    max_body_bytes: int = 64 * 1024
    # Where customers reach this service (form QR codes, links in app messages).
    public_url: str = "http://127.0.0.1:8080"
    # The public pool (公海): days without a follow-up by the owner before a lead goes back
    # (0 = never; a form channel's options.pool.recycle_days overrides), claims per day each.
    leads_recycle_days: int = 7
    leads_claim_cap: int = 20
    # The company mini-program (WeChat appid/secret); empty appid: /mp/* answer 503.
    miniprogram_appid: str = ""
    miniprogram_secret: Secret = Secret("")
    miniprogram_api_base: str | None = None  # None: the sandbox when sandboxed, else WeChat
    var_dir: Path = Path("var")
    log_level: str = "INFO"
    # Message content a handler run never finished with is shredded after this many days,
    # and those runs are closed as `expired` (SCRM_INBOX_CONTENT_TTL_DAYS).
    inbox_content_ttl_days: int = 7
    wecom: WeComSettings = field(default_factory=unset_wecom)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    archive: ArchiveSettings = field(default_factory=ArchiveSettings)
    tickets: TicketSettings = field(default_factory=TicketSettings)
    staff: StaffSettings = field(default_factory=StaffSettings)

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://", "asyncpg://"))


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build and validate the settings; raise `ConfigError` naming the first bad key."""
    environ = os.environ if environ is None else environ
    table, origin = read_toml(environ, KNOWN_KEYS)
    src = Source(environ, table, origin)

    var_dir = Path(src.get("var_dir", text, "var"))
    has_credentials = src.raw("corp_id") is not None
    sandbox = src.get("sandbox", boolean, not has_credentials)
    dev = dev_credentials(var_dir) if sandbox else {}
    sandbox_port = src.get("sandbox_port", int_in(0, 65535), 8081)
    wecom = load_wecom(src, sandbox=sandbox, sandbox_port=sandbox_port, dev=dev)
    admin_token = src.get("admin_token", secret, Secret(""))
    if not admin_token:
        if not sandbox:
            raise ConfigError("SCRM_ADMIN_TOKEN", "is required when SCRM_SANDBOX=0")
        admin_token = Secret(dev["admin_token"])
    if len(admin_token.value) < 16:
        raise ConfigError("SCRM_ADMIN_TOKEN", "must be at least 16 characters")

    host = src.get("host", text, "127.0.0.1")
    port = src.get("port", int_in(0, 65535), 8080)
    return Settings(
        host=host,
        port=port,
        public_url=src.get("public_url", http_url, f"http://{host}:{port}").rstrip("/"),
        leads_recycle_days=src.get("leads_recycle_days", int_in(0, 3650), 7),
        leads_claim_cap=src.get("leads_claim_cap", int_in(1, 100_000), 20),
        # The sandbox plays the mini-program too, with these fixed development credentials.
        miniprogram_appid=src.get(
            "miniprogram_appid", text, SANDBOX_MINIPROGRAM[0] if sandbox else ""
        ),
        miniprogram_secret=src.get(
            "miniprogram_secret",
            secret,
            Secret(SANDBOX_MINIPROGRAM[1] if sandbox else ""),
        ),
        miniprogram_api_base=src.get("miniprogram_api_base", http_url, None),
        database_url=src.get("database_url", _database_url, f"sqlite://{var_dir}/scrm.db"),
        redis_url=src.get("redis_url", _redis_url, None),
        admin_token=admin_token,
        sandbox=sandbox,
        sandbox_port=sandbox_port,
        max_body_bytes=src.get("max_body_bytes", int_in(1024, 16 * 1024 * 1024), 64 * 1024),
        var_dir=var_dir,
        log_level=src.get("log_level", _level, "INFO"),
        inbox_content_ttl_days=src.get("inbox_content_ttl_days", int_in(1, 365), 7),
        wecom=wecom,
        worker=load_worker(src),
        archive=load_archive(src, var_dir),
        tickets=load_tickets(src),
        staff=load_staff(src),
    )


def _database_url(key: str, value: Any) -> str:
    url = text(key, value)
    if not url.startswith(("sqlite://", "postgres://", "postgresql://", "asyncpg://")):
        raise ValueError("must start with sqlite:// or postgres://")
    return url


def _redis_url(key: str, value: Any) -> str:
    url = text(key, value)
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must start with redis://, rediss:// or unix://")
    return url


def _level(key: str, value: Any) -> str:
    level = text(key, value).upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
    return level
