"""`MiniProgramClient`: the WeChat (api.weixin.qq.com) calls a mini program needs.

WeChat's access_token is a different credential from WeCom's: fetched with the mini program's
appid/secret from ``/cgi-bin/token`` and cached in the KV under its own key.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from adapters.kv.base import KVStore
from adapters.wecom.backoff import RetryPolicy
from adapters.wecom.base import TokenClient
from adapters.wecom.errors import WeComError
from adapters.wecom.models import MiniProgramSession
from config import Secret

WECHAT_API_BASE = "https://api.weixin.qq.com"


class MiniProgramClient(TokenClient):
    """Customer login (``jscode2session``) and unlimited mini-program codes."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        kv: KVStore,
        *,
        appid: str,
        secret: Secret,
        api_base: str = WECHAT_API_BASE,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(
            session,
            kv,
            api_base=api_base,
            timeout=timeout,
            token_key=kv.keys("wechat", "token", appid),
            retry=retry,
        )
        self.appid = appid
        self._secret = secret

    def __repr__(self) -> str:
        return f"MiniProgramClient(appid={self.appid!r}, api_base={self._api_base!r})"

    async def _fetch_token(self) -> tuple[str, int]:
        params = {
            "grant_type": "client_credential",
            "appid": self.appid,
            "secret": self._secret.value,
        }
        data = await self._request("GET", "/cgi-bin/token", params=params, auth=False)
        return data["access_token"], int(data.get("expires_in", 7200))

    async def code2session(self, js_code: str) -> MiniProgramSession:
        """Exchange a ``wx.login`` code (single-use, ~5 min) for openid/session_key/unionid."""
        params = {
            "appid": self.appid,
            "secret": self._secret.value,
            "js_code": js_code,
            "grant_type": "authorization_code",
        }
        data = await self._request("GET", "/sns/jscode2session", params=params, auth=False)
        return MiniProgramSession.from_api(data)

    async def get_wxacode_unlimit(
        self,
        scene: str,
        page: str | None = None,
        *,
        width: int = 430,
        check_path: bool = True,
        env_version: str = "release",
    ) -> bytes:
        """Return the image bytes of a permanent code; ``scene`` ≤32 chars, read in the app."""
        body: dict[str, Any] = {
            "scene": scene,
            "width": width,
            "check_path": check_path,
            "env_version": env_version,
        }
        if page is not None:
            body["page"] = page
        image = await self._request("POST", "/wxa/getwxacodeunlimit", json=body, binary=True)
        if not isinstance(image, bytes):
            raise WeComError("getwxacodeunlimit answered JSON without an errcode")
        return image
