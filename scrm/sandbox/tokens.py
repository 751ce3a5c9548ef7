"""``gettoken`` (WeCom) and ``cgi-bin/token`` (WeChat): credentials in, expiring tokens out."""

from __future__ import annotations

import hmac

from aiohttp import web

from scrm.sandbox.config import reveal
from scrm.sandbox.state import STATE
from scrm.sandbox.wire import ApiError, reply


def _same(given: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


async def gettoken(request: web.Request) -> web.Response:
    """Issue a token for the app whose secret was given; 40013 bad corpid, 40001 bad secret."""
    state = request.app[STATE]
    config = state.config
    corpid = request.query.get("corpid", "")
    secret = request.query.get("corpsecret", "")
    if not corpid:
        raise ApiError(41002, "corpid missing")
    if corpid != config.corp_id:
        raise ApiError(40013, "invalid corpid")
    if not secret:
        raise ApiError(41004, "corpsecret missing")
    if _same(secret, reveal(config.contact_secret)):
        kind = "contact"
    elif _same(secret, reveal(config.agent_secret)):
        kind = "agent"
    else:
        raise ApiError(40001, "invalid credential, access_token is invalid or not latest")
    token, expires_in = state.issue_token(kind)
    return reply(access_token=token, expires_in=expires_in)


async def wechat_token(request: web.Request) -> web.Response:
    """WeChat's mini-program access_token (a separate credential from WeCom's)."""
    state = request.app[STATE]
    config = state.config
    if request.query.get("grant_type") != "client_credential":
        raise ApiError(40002, "invalid grant_type")
    if request.query.get("appid") != config.miniprogram_appid:
        raise ApiError(40013, "invalid appid")
    if not _same(request.query.get("secret", ""), reveal(config.miniprogram_secret)):
        raise ApiError(40125, "invalid appsecret")
    token, expires_in = state.issue_token("wechat")
    return reply(access_token=token, expires_in=expires_in)


def register(app: web.Application) -> None:
    app.router.add_get("/cgi-bin/gettoken", gettoken)
    app.router.add_get("/cgi-bin/token", wechat_token)
