"""The request core shared by the token-based clients (WeCom's cgi-bin and WeChat's API).

`_request` owns URL building, the per-attempt timeout, errcode mapping, the one
refresh-and-retry on 40014/42001 and the bounded backoff on system failures. Subclasses only
say how to fetch their access_token.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import aiohttp

from adapters.kv.base import KVStore
from adapters.wecom.backoff import RetryPolicy
from adapters.wecom.credentials import CachedCredential
from adapters.wecom.errors import (
    TOKEN_EXPIRED_ERRCODES,
    WeComAPIError,
    WeComAuthError,
    WeComError,
)
from adapters.wecom.transport import decode_json, exchange

log = logging.getLogger("adapters.wecom")


class TokenClient:
    """Base for clients whose calls carry ``access_token`` in the query string."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        kv: KVStore,
        *,
        api_base: str,
        timeout: float,
        token_key: str,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._session = session
        self._kv = kv
        self._api_base = api_base.rstrip("/")
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._token = CachedCredential(kv, token_key, self._fetch_token, name="access_token")

    async def _fetch_token(self) -> tuple[str, int]:
        raise NotImplementedError

    async def access_token(self) -> str:
        """The shared cached access_token (fetched when missing)."""
        return await self._token.get()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        auth: bool = True,
        binary: bool = False,
        resend_safe: bool = True,
    ) -> Any:
        """Call ``path`` and return its JSON dict (or raw bytes when ``binary`` and not JSON)."""
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}

        async def attempt() -> Any:
            if not auth:
                return await self._send(method, path, query, json, binary)
            token = await self._token.get()
            try:
                return await self._send(
                    method, path, {**query, "access_token": token}, json, binary
                )
            except WeComAPIError as exc:
                if exc.errcode not in TOKEN_EXPIRED_ERRCODES:
                    raise
                log.info("%s answered %s; refreshing the access_token once", path, exc.errcode)
            await self._token.invalidate(token)
            token = await self._token.get()
            try:
                return await self._send(
                    method, path, {**query, "access_token": token}, json, binary
                )
            except WeComAPIError as exc:
                if exc.errcode in TOKEN_EXPIRED_ERRCODES:
                    raise WeComAuthError(
                        exc.errcode, "access_token rejected after refresh"
                    ) from None
                raise

        return await self._retry.run(attempt, f"{method} {path}", resend_safe=resend_safe)

    async def _download(self, url: str) -> bytes:
        """GET an absolute URL WeCom handed out (no token); an errcode answer raises it."""
        what = "GET image"

        async def attempt() -> bytes:
            response = await exchange(
                self._session, "GET", url, params=None, json=None, timeout=self._timeout, what=what
            )
            if not response.is_json:
                return response.body
            decode_json(response, what)  # raises the errcode's typed error
            raise WeComError(f"{what}: the answer is JSON, not an image")

        return await self._retry.run(attempt, what)

    async def _send(
        self, method: str, path: str, query: dict[str, str], json: Any, binary: bool
    ) -> Any:
        what = f"{method} {path}"
        response = await exchange(
            self._session,
            method,
            self._api_base + path,
            params=query,
            json=json,
            timeout=self._timeout,
            what=what,
        )
        if binary and not response.is_json:
            return response.body
        data = decode_json(response, what)
        log.debug("%s ok", what)
        return data
