"""`SandboxConfig`: who the sandbox plays: corp, apps, callback receiver, mini program."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config import Secret, WeComSettings


def reveal(value: Secret | str) -> str:
    """The plain string of a `Secret` (the sandbox is the other side: it must compare them)."""
    return value.value if isinstance(value, Secret) else value


@dataclass(frozen=True)
class SandboxConfig:
    corp_id: str
    contact_secret: Secret
    agent_id: int = 1000002
    agent_secret: Secret = field(default_factory=lambda: Secret("sandbox-agent-secret"))
    callback_token: Secret = field(default_factory=lambda: Secret(""))
    callback_aes_key: Secret = field(default_factory=lambda: Secret(""))
    callback_url: str | None = None
    token_expires_in: int = 7200
    miniprogram_appid: str = "wxsandbox00000001"
    miniprogram_secret: Secret = field(default_factory=lambda: Secret("sandbox-miniprogram-secret"))
    # Pages a published mini program has; None accepts any page (like check_path=false).
    miniprogram_pages: tuple[str, ...] | None = None
    robot_rate_limit: int = 20
    welcome_code_ttl: float = 20.0
    oauth_code_ttl: float = 300.0
    follow_user_page_size: int = 500
    # Whether the self-built app is listed under 客户联系 → 可调用接口的应用. Without it, its
    # token gets 48002 on every externalcontact/* API, as on a real corp.
    agent_customer_permission: bool = True
    # Where the corp's state lives between runs (var/sandbox-state.json under `make run`);
    # None keeps it in memory only, as tests want.
    state_file: Path | None = None
    state_save_delay: float = 0.5
    hang_seconds: float = 30.0
    callback_timeout: float = 5.0
    callback_retries: int = 3
    callback_retry_delay: float = 1.0
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Accept plain strings too, so tests can write SandboxConfig("ww1", "secret").
        for name in (
            "contact_secret",
            "agent_secret",
            "callback_token",
            "callback_aes_key",
            "miniprogram_secret",
        ):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, Secret(value))

    @classmethod
    def from_settings(cls, wecom: WeComSettings, **overrides: Any) -> SandboxConfig:
        """Play the corp described by the service's own `WeComSettings`."""
        values: dict[str, Any] = {
            "corp_id": wecom.corp_id,
            "contact_secret": wecom.contact_secret,
            "agent_id": wecom.agent_id,
            "agent_secret": wecom.agent_secret,
            "callback_token": wecom.callback_token,
            "callback_aes_key": wecom.callback_aes_key,
        }
        return cls(**(values | overrides))
