"""`RobotWebhookClient`: group robots (群机器人) via ``webhook/send?key=KEY``.

No access_token: the key itself is the credential, so it is never logged and never appears
in an error (errors name the robot by a short fingerprint instead).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp

from adapters.wecom.backoff import RetryPolicy
from adapters.wecom.transport import decode_json, exchange
from config import Secret


def key_fingerprint(key: str) -> str:
    """A stable, non-reversible name for a robot key, safe for logs."""
    return "robot-" + hashlib.sha256(key.encode()).hexdigest()[:8]


class RobotWebhookClient:
    """Sends robot messages. Robots allow 20 messages/min; beyond that WeCom answers 45009."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._retry = retry or RetryPolicy()

    async def send(self, key: Secret | str, msgtype: str, content: Mapping[str, Any]) -> None:
        """Send one message of ``msgtype`` (text, markdown, image, news, file, template_card)."""
        raw_key = key.value if isinstance(key, Secret) else key
        what = f"POST /cgi-bin/webhook/send ({key_fingerprint(raw_key)})"

        async def attempt() -> None:
            response = await exchange(
                self._session,
                "POST",
                f"{self._base_url}/cgi-bin/webhook/send",
                params={"key": raw_key},
                json={"msgtype": msgtype, msgtype: dict(content)},
                timeout=self._timeout,
                what=what,
            )
            decode_json(response, what)

        await self._retry.run(attempt, what, resend_safe=False)  # a message: at most once

    async def send_text(
        self, key: Secret | str, content: str, mentioned_list: Sequence[str] = ()
    ) -> None:
        """Send text (≤2048 bytes); ``mentioned_list`` takes userids or ``"@all"``."""
        body: dict[str, Any] = {"content": content}
        if mentioned_list:
            body["mentioned_list"] = list(mentioned_list)
        await self.send(key, "text", body)

    async def send_markdown(self, key: Secret | str, content: str) -> None:
        """Send markdown (≤4096 bytes; WeCom answers 40058 beyond that)."""
        await self.send(key, "markdown", {"content": content})
