"""One HTTP exchange with WeCom/WeChat: timeout, network errors, status and body decoding.

Shared by the token-based clients and the robot webhook so that every outbound call maps
failures the same way. Error texts are scrubbed: aiohttp puts full URLs (with access_token,
secret or robot key) into some exception messages.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from adapters.wecom.errors import WeComConnectionError, WeComError, error_for, scrub


@dataclass(frozen=True)
class RawResponse:
    status: int
    content_type: str
    body: bytes

    @property
    def is_json(self) -> bool:
        # WeCom answers JSON as application/json or text/plain depending on the endpoint.
        return self.content_type in {"application/json", "text/plain", "text/json"} or (
            self.body[:1] == b"{"
        )


async def exchange(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    params: Mapping[str, str] | None,
    json: Any,
    timeout: float,
    what: str,
) -> RawResponse:
    """Send one request; raise `WeComConnectionError` on timeouts, network errors and 5xx."""
    try:
        async with asyncio.timeout(timeout):
            async with session.request(method, url, params=params, json=json) as response:
                body = await response.read()
                status, content_type = response.status, response.content_type
    except TimeoutError:
        raise WeComConnectionError(f"{what}: no answer within {timeout:g}s") from None
    except aiohttp.ClientError as exc:
        detail = scrub(str(exc)) or type(exc).__name__
        raise WeComConnectionError(f"{what}: {type(exc).__name__}: {detail}") from None
    if status >= 500:
        raise WeComConnectionError(f"{what}: HTTP {status}")
    if status != 200:
        # An errcode in the body says more than the status: classify it like any answer.
        raise _errcode_in(body) or WeComError(f"{what}: HTTP {status}")
    return RawResponse(status, content_type, body)


def _errcode_in(body: bytes) -> WeComError | None:
    try:
        data = jsonlib.loads(body)
    except ValueError:
        return None
    errcode = data.get("errcode") if isinstance(data, dict) else None
    if not isinstance(errcode, int) or not errcode:
        return None
    return error_for(errcode, str(data.get("errmsg", "")))


def decode_json(response: RawResponse, what: str) -> dict[str, Any]:
    """Parse a JSON answer and raise the typed error for a non-zero ``errcode``."""
    try:
        data = jsonlib.loads(response.body)
    except ValueError:
        raise WeComError(f"{what}: answer is not JSON") from None
    if not isinstance(data, dict):
        raise WeComError(f"{what}: answer is not a JSON object")
    errcode = int(data.get("errcode") or 0)
    if errcode != 0:
        raise error_for(errcode, str(data.get("errmsg", "")))
    return data
