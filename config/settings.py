"""Settings: read once at start from the environment and an optional TOML file, then passed down.

Every key has one name: ``SCRM_PORT`` in the environment is ``port`` in the TOML file
(``SCRM_CONFIG=path``). The environment wins over the file. A bad value stops the start with a
`ConfigError` that names the key; secrets are wrapped in `Secret` so they never reach a log.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import string
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

PREFIX = "SCRM_"
DEFAULT_API_BASE = "https://qyapi.weixin.qq.com"


# scrm/sandbox/config.py's defaults: the sandbox's mini-program appid and secret.
SANDBOX_MINIPROGRAM = ("wxsandbox00000001", "sandbox-miniprogram-secret")


class ConfigError(ValueError):
    """A setting is missing or malformed; `key` names it as the operator wrote it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


@dataclass(frozen=True)
class Secret:
    """A string that shows as ``'***'`` in repr, str and logs."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret('***')" if self.value else "Secret('')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self.value)


@dataclass(frozen=True)
class WeComSettings:
    corp_id: str
    callback_token: Secret
    callback_aes_key: Secret
    # The system 客户联系 secret; empty (the default) = customer calls use the self-built app's
    # token, which is the only choice for corps created after 2023-12-01 (PROTOCOL §4.1).
    contact_secret: Secret
    agent_id: int
    agent_secret: Secret
    api_base: str
    callback_max_skew: int = 600
    request_timeout: float = 10.0

    @property
    def customer_app(self) -> str:
        """Whose token customer (externalcontact/*) calls carry: ``contact`` or ``agent``."""
        return "contact" if self.contact_secret else "agent"

    @property
    def customer_secret(self) -> Secret:
        """The secret behind `customer_app`'s token."""
        return self.contact_secret if self.contact_secret else self.agent_secret


@dataclass(frozen=True)
class WorkerSettings:
    concurrency: int = 4
    max_attempts: int = 8
    poll_interval: float = 1.0
    lease_seconds: float = 60.0
    backoff_base: float = 1.0
    backoff_cap: float = 600.0


@dataclass(frozen=True)
class ArchiveSettings:
    """The compliance archive: key material, retention, and the WeCom session-archive pull."""

    keys: Secret = Secret("")  # SCRM_ARCHIVE_KEYS key string; empty = use key_file
    key_file: Path = Path("var/keys/archive-keys.json")
    retention_days: int = 0  # 0 = keep forever
    finance_sdk_path: str | None = None  # libWeWorkFinanceSdk_C.so; None = no session pull
    finance_secret: Secret = Secret("")  # the 会话内容存档 secret
    rsa_keys: str | None = None  # SCRM_ARCHIVE_RSA_KEYS: directory of v<N>.pem or "N:path,…"


@dataclass(frozen=True)
class TicketSettings:
    """Tickets: the SLA sweep, the merge window, and email (SMTP); links use `public_url`."""

    sla_sweep_seconds: float = 10.0
    merge_window_seconds: int = 24 * 3600  # a request joins an open ticket this recent
    smtp_host: str | None = None  # unset: email channels cannot send
    smtp_port: int = 25
    smtp_from: str = "scrm@localhost"


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
    wecom: WeComSettings = field(
        default_factory=lambda: WeComSettings(
            "", Secret(""), Secret(""), Secret(""), 0, Secret(""), DEFAULT_API_BASE
        )
    )
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    archive: ArchiveSettings = field(default_factory=ArchiveSettings)
    tickets: TicketSettings = field(default_factory=TicketSettings)

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://", "asyncpg://"))


class _Source:
    """Looks a key up in the environment first, then in the TOML table, and converts it."""

    def __init__(self, environ: Mapping[str, str], table: Mapping[str, Any], origin: str) -> None:
        self._environ = environ
        self._table = table
        self._origin = origin

    def raw(self, name: str) -> tuple[str, Any] | None:
        env_key = PREFIX + name.upper()
        if env_key in self._environ and self._environ[env_key] != "":
            return env_key, self._environ[env_key]
        if name in self._table:
            return f"{name} (in {self._origin})", self._table[name]
        return None

    def get(self, name: str, convert: Callable[[str, Any], T], default: T) -> T:
        found = self.raw(name)
        if found is None:
            return default
        key, value = found
        try:
            return convert(key, value)
        except ConfigError:
            raise
        except (TypeError, ValueError) as exc:
            raise ConfigError(key, str(exc) or "invalid value") from None


def _str(_key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return value


def _int_in(low: int, high: int) -> Callable[[str, Any], int]:
    def convert(key: str, value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError("expected a whole number")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected a whole number, got {value!r}") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}, got {number}")
        return number

    return convert


def _float_in(low: float, high: float) -> Callable[[str, Any], float]:
    def convert(key: str, value: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected a number, got {value!r}") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}, got {number}")
        return number

    return convert


def _bool(_key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected 1/0, true/false, got {value!r}")


def _secret(key: str, value: Any) -> Secret:
    return Secret(_str(key, value))


def _database_url(key: str, value: Any) -> str:
    url = _str(key, value)
    if not url.startswith(("sqlite://", "postgres://", "postgresql://", "asyncpg://")):
        raise ValueError("must start with sqlite:// or postgres://")
    return url


def _redis_url(key: str, value: Any) -> str:
    url = _str(key, value)
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must start with redis://, rediss:// or unix://")
    return url


def _http_url(key: str, value: Any) -> str:
    url = _str(key, value).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return url


def _aes_key(key: str, value: Any) -> Secret:
    """Check an EncodingAESKey: 43 characters that base64-decode (with '=') to 32 bytes.

    WeCom's keys are often non-canonical base64, so never re-encode and compare.
    """
    text = _str(key, value)
    if len(text) != 43 or any(ch not in string.ascii_letters + string.digits for ch in text):
        raise ValueError("must be 43 characters from A-Z, a-z, 0-9 (the EncodingAESKey)")
    try:
        raw = base64.b64decode(text + "=")
    except binascii.Error:
        raise ValueError("is not valid base64") from None
    if len(raw) != 32:
        raise ValueError("must decode to 32 bytes")
    return Secret(text)


def _level(key: str, value: Any) -> str:
    text = _str(key, value).upper()
    if text not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
    return text


def _read_toml(environ: Mapping[str, str]) -> tuple[dict[str, Any], str]:
    path = environ.get(PREFIX + "CONFIG")
    if not path:
        return {}, "environment"
    try:
        with open(path, "rb") as handle:
            table = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError("SCRM_CONFIG", f"file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("SCRM_CONFIG", f"{path} is not valid TOML: {exc}") from None
    known = {name for name in _KNOWN_KEYS}
    for name in table:
        if name not in known:
            raise ConfigError(f"{name} (in {path})", "unknown setting")
    return table, path


_KNOWN_KEYS = (
    "host port database_url redis_url admin_token sandbox sandbox_port max_body_bytes var_dir "
    "log_level corp_id callback_token callback_aes_key contact_secret agent_id agent_secret "
    "wecom_api_base callback_max_skew wecom_timeout worker_concurrency worker_max_attempts "
    "worker_poll_interval worker_lease_seconds archive_keys archive_key_file "
    "archive_retention_days finance_sdk_path archive_finance_secret archive_rsa_keys "
    "inbox_content_ttl_days "
    "sla_sweep_seconds ticket_merge_window public_url smtp_host smtp_port smtp_from "
    "leads_recycle_days leads_claim_cap miniprogram_appid miniprogram_secret miniprogram_api_base"
).split()


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build and validate the settings; raise `ConfigError` naming the first bad key."""
    environ = os.environ if environ is None else environ
    table, origin = _read_toml(environ)
    src = _Source(environ, table, origin)

    var_dir = Path(src.get("var_dir", _str, "var"))
    has_credentials = src.raw("corp_id") is not None
    sandbox = src.get("sandbox", _bool, not has_credentials)
    dev = _dev_credentials(var_dir) if sandbox else {}
    sandbox_port = src.get("sandbox_port", _int_in(0, 65535), 8081)

    def wecom_value(name: str, convert: Callable[[str, Any], T], dev_key: str) -> T:
        found = src.raw(name)
        if found is None:
            if not sandbox:
                raise ConfigError(PREFIX + name.upper(), "is required when SCRM_SANDBOX=0")
            return convert(PREFIX + name.upper(), dev[dev_key])
        key, value = found
        try:
            return convert(key, value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(key, str(exc) or "invalid value") from None

    api_default = f"http://127.0.0.1:{sandbox_port}" if sandbox else DEFAULT_API_BASE
    wecom = WeComSettings(
        corp_id=wecom_value("corp_id", _str, "corp_id"),
        callback_token=wecom_value("callback_token", _secret, "callback_token"),
        callback_aes_key=wecom_value("callback_aes_key", _aes_key, "callback_aes_key"),
        # Optional everywhere: unset, customer calls go through the self-built app.
        contact_secret=src.get("contact_secret", _secret, Secret("")),
        agent_id=wecom_value("agent_id", _int_in(0, 2**31 - 1), "agent_id"),
        agent_secret=wecom_value("agent_secret", _secret, "agent_secret"),
        api_base=src.get("wecom_api_base", _http_url, api_default),
        callback_max_skew=src.get("callback_max_skew", _int_in(1, 86400), 600),
        request_timeout=src.get("wecom_timeout", _float_in(0.1, 120), 10.0),
    )
    admin_token = src.get("admin_token", _secret, Secret(""))
    if not admin_token:
        if not sandbox:
            raise ConfigError("SCRM_ADMIN_TOKEN", "is required when SCRM_SANDBOX=0")
        admin_token = Secret(dev["admin_token"])
    if len(admin_token.value) < 16:
        raise ConfigError("SCRM_ADMIN_TOKEN", "must be at least 16 characters")

    host = src.get("host", _str, "127.0.0.1")
    port = src.get("port", _int_in(0, 65535), 8080)
    return Settings(
        host=host,
        port=port,
        public_url=src.get("public_url", _http_url, f"http://{host}:{port}").rstrip("/"),
        leads_recycle_days=src.get("leads_recycle_days", _int_in(0, 3650), 7),
        leads_claim_cap=src.get("leads_claim_cap", _int_in(1, 100_000), 20),
        # The sandbox plays the mini-program too, with these fixed development credentials.
        miniprogram_appid=src.get(
            "miniprogram_appid", _str, SANDBOX_MINIPROGRAM[0] if sandbox else ""
        ),
        miniprogram_secret=src.get(
            "miniprogram_secret",
            _secret,
            Secret(SANDBOX_MINIPROGRAM[1] if sandbox else ""),
        ),
        miniprogram_api_base=src.get("miniprogram_api_base", _http_url, None),
        database_url=src.get("database_url", _database_url, f"sqlite://{var_dir}/scrm.db"),
        redis_url=src.get("redis_url", _redis_url, None),
        admin_token=admin_token,
        sandbox=sandbox,
        sandbox_port=sandbox_port,
        max_body_bytes=src.get("max_body_bytes", _int_in(1024, 16 * 1024 * 1024), 64 * 1024),
        var_dir=var_dir,
        log_level=src.get("log_level", _level, "INFO"),
        inbox_content_ttl_days=src.get("inbox_content_ttl_days", _int_in(1, 365), 7),
        wecom=wecom,
        worker=WorkerSettings(
            concurrency=src.get("worker_concurrency", _int_in(0, 256), 4),
            max_attempts=src.get("worker_max_attempts", _int_in(1, 100), 8),
            poll_interval=src.get("worker_poll_interval", _float_in(0.01, 60), 1.0),
            lease_seconds=src.get("worker_lease_seconds", _float_in(1, 3600), 60.0),
        ),
        archive=ArchiveSettings(
            keys=src.get("archive_keys", _secret, Secret("")),
            key_file=Path(
                src.get("archive_key_file", _str, str(var_dir / "keys" / "archive-keys.json"))
            ),
            retention_days=src.get("archive_retention_days", _int_in(0, 36500), 0),
            finance_sdk_path=src.get("finance_sdk_path", _str, None),
            finance_secret=src.get("archive_finance_secret", _secret, Secret("")),
            rsa_keys=src.get("archive_rsa_keys", _str, None),
        ),
        tickets=TicketSettings(
            sla_sweep_seconds=src.get("sla_sweep_seconds", _float_in(0.1, 3600), 10.0),
            merge_window_seconds=src.get("ticket_merge_window", _int_in(0, 30 * 86400), 86400),
            smtp_host=src.get("smtp_host", _str, None),
            smtp_port=src.get("smtp_port", _int_in(1, 65535), 25),
            smtp_from=src.get("smtp_from", _str, "scrm@localhost"),
        ),
    )


def generate_dev_credentials() -> dict[str, str]:
    """Make a fresh set of sandbox credentials in WeCom's own formats."""
    alphabet = string.ascii_letters + string.digits
    return {
        "corp_id": "ww" + secrets.token_hex(8),
        "callback_token": "".join(secrets.choice(alphabet) for _ in range(32)),
        "callback_aes_key": "".join(secrets.choice(alphabet) for _ in range(43)),
        "contact_secret": secrets.token_urlsafe(32),
        "agent_id": "1000002",
        "agent_secret": secrets.token_urlsafe(32),
        "admin_token": secrets.token_urlsafe(24),
    }


def _dev_credentials(var_dir: Path) -> dict[str, str]:
    """Load the sandbox credentials from ``var/dev-credentials.json``, creating them once.

    They persist so that a restarted service and `run.py simulate` agree with the sandbox.
    """
    path = var_dir / "dev-credentials.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    var_dir.mkdir(parents=True, exist_ok=True)
    creds = generate_dev_credentials()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(creds, handle, indent=2)
    return creds
