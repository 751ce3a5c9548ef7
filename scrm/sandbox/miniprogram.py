"""WeChat mini-program APIs: ``sns/jscode2session`` and ``wxa/getwxacodeunlimit`` (§4.11)."""

from __future__ import annotations

import hmac
import re
import secrets

from aiohttp import web

from scrm.sandbox.config import reveal
from scrm.sandbox.png import qr_png
from scrm.sandbox.state import STATE, authorize
from scrm.sandbox.wire import ERRCODE, ApiError, body, reply

# ≤32 visible characters from this set; no '%' (PROTOCOL §4.11).
SCENE = re.compile(r"[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}")


async def jscode2session(request: web.Request) -> web.Response:
    """Exchange a ``wx.login`` code: 40013 bad appid, 40125 bad secret, 40029 bad/used code."""
    state = request.app[STATE]
    config = state.config
    query = request.query
    if query.get("appid") != config.miniprogram_appid:
        raise ApiError(40013, "invalid appid")
    expected = reveal(config.miniprogram_secret).encode()
    if not hmac.compare_digest(query.get("secret", "").encode(), expected):
        raise ApiError(40125, "invalid appsecret")
    if query.get("grant_type") != "authorization_code":
        raise ApiError(40002, "invalid grant_type")
    code = state.js_codes.get(query.get("js_code", ""))
    if code is None or code.used or code.expires_at <= state.clock():
        raise ApiError(40029, "invalid code")
    code.used = True
    fields = {k: v for k, v in code.payload.items() if v}
    return reply(session_key=secrets.token_urlsafe(16), **fields)


async def getwxacodeunlimit(request: web.Request) -> web.Response:
    """Answer a real PNG of the scene, or JSON errors: 40169 bad scene, 41030 bad page."""
    state = authorize(request, ("wechat",))
    data = body(request)
    scene = str(data.get("scene", ""))
    if not SCENE.fullmatch(scene):
        raise ApiError(40169, "invalid length for scene, or the data is not json string")
    page = data.get("page")
    pages = state.config.miniprogram_pages
    if page is not None:
        page = str(page)
        if page.startswith("/") or "?" in page:
            raise ApiError(41030, "invalid page")
        if data.get("check_path", True) and pages is not None and page not in pages:
            raise ApiError(41030, "invalid page")
    width = min(1280, max(280, int(data.get("width") or 430)))
    state.sent["wxacode"].append({"scene": scene, "page": page, "width": width})
    response = web.Response(body=qr_png(scene, width), content_type="image/png")
    response[ERRCODE] = 0
    return response


def register(app: web.Application) -> None:
    app.router.add_get("/sns/jscode2session", jscode2session)
    app.router.add_post("/wxa/getwxacodeunlimit", getwxacodeunlimit)
