"""WeCom: the corp, the callback's token and EncodingAESKey, the apps' secrets, the API base.

Required in production; in the sandbox each falls back to the generated development
credentials, and the API base to the sandbox's own port.
"""

from __future__ import annotations

import base64
import binascii
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from config.converters import float_in, http_url, int_in, secret, text
from config.secret import Secret
from config.source import PREFIX, ConfigError, Source, converted

T = TypeVar("T")

DEFAULT_API_BASE = "https://qyapi.weixin.qq.com"
WECOM_KEYS = (
    "corp_id callback_token callback_aes_key contact_secret agent_id agent_secret "
    "wecom_api_base callback_max_skew wecom_timeout"
).split()


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


def unset_wecom() -> WeComSettings:
    """No corp at all: the default of a `Settings` built in code (tests, tools)."""
    return WeComSettings("", Secret(""), Secret(""), Secret(""), 0, Secret(""), DEFAULT_API_BASE)


def load_wecom(
    src: Source, *, sandbox: bool, sandbox_port: int, dev: Mapping[str, str]
) -> WeComSettings:
    def wecom_value(name: str, convert: Callable[[str, Any], T], dev_key: str) -> T:
        found = src.raw(name)
        if found is None:
            if not sandbox:
                raise ConfigError(PREFIX + name.upper(), "is required when SCRM_SANDBOX=0")
            return convert(PREFIX + name.upper(), dev[dev_key])
        return converted(*found, convert)

    api_default = f"http://127.0.0.1:{sandbox_port}" if sandbox else DEFAULT_API_BASE
    return WeComSettings(
        corp_id=wecom_value("corp_id", text, "corp_id"),
        callback_token=wecom_value("callback_token", secret, "callback_token"),
        callback_aes_key=wecom_value("callback_aes_key", aes_key, "callback_aes_key"),
        # Optional everywhere: unset, customer calls go through the self-built app.
        contact_secret=src.get("contact_secret", secret, Secret("")),
        agent_id=wecom_value("agent_id", int_in(0, 2**31 - 1), "agent_id"),
        agent_secret=wecom_value("agent_secret", secret, "agent_secret"),
        api_base=src.get("wecom_api_base", http_url, api_default),
        callback_max_skew=src.get("callback_max_skew", int_in(1, 86400), 600),
        request_timeout=src.get("wecom_timeout", float_in(0.1, 120), 10.0),
    )


def aes_key(key: str, value: Any) -> Secret:
    """Check an EncodingAESKey: 43 characters that base64-decode (with '=') to 32 bytes.

    WeCom's keys are often non-canonical base64, so never re-encode and compare.
    """
    encoded = text(key, value)
    if len(encoded) != 43 or any(ch not in string.ascii_letters + string.digits for ch in encoded):
        raise ValueError("must be 43 characters from A-Z, a-z, 0-9 (the EncodingAESKey)")
    try:
        raw = base64.b64decode(encoded + "=")
    except binascii.Error:
        raise ValueError("is not valid base64") from None
    if len(raw) != 32:
        raise ValueError("must decode to 32 bytes")
    return Secret(encoded)
