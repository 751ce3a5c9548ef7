"""Staff pages (``/s/…``): WeCom's OAuth authorize page and the key that signs sessions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.converters import http_url, text
from config.secret import Secret
from config.source import Source

STAFF_KEYS = "wecom_oauth_base staff_session_secret".split()


@dataclass(frozen=True)
class StaffSettings:
    # WeCom's authorize page (SCRM_WECOM_OAUTH_BASE); None: the sandbox when sandboxed, else
    # https://open.weixin.qq.com.
    oauth_base: str | None = None
    # SCRM_STAFF_SESSION_SECRET; empty: a key generated once into the var dir
    # (scrm/staff/keys.py). Every process of a deployment must share it.
    session_secret: Secret = Secret("")


def load_staff(src: Source) -> StaffSettings:
    return StaffSettings(
        oauth_base=src.get("wecom_oauth_base", http_url, None),
        session_secret=src.get("staff_session_secret", _session_secret, Secret("")),
    )


def _session_secret(key: str, value: Any) -> Secret:
    secret = text(key, value)
    if len(secret) < 32:
        raise ValueError("must be at least 32 characters (e.g. secrets.token_urlsafe(32))")
    return Secret(secret)
