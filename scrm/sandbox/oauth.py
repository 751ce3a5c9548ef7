"""OAuth and JS-SDK: the authorize redirect, ``auth/getuserinfo`` and the two tickets."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from aiohttp import web

from scrm.sandbox.state import STATE, authorize
from scrm.sandbox.wire import ApiError, reply


async def getuserinfo(request: web.Request) -> web.Response:
    """Exchange a code: single-use and valid 5 minutes, 40029 otherwise."""
    state = authorize(request)
    code = state.oauth_codes.get(request.query.get("code", ""))
    if code is None or code.used or code.expires_at <= state.clock():
        raise ApiError(40029, "invalid code")
    code.used = True
    fields = {k: v for k, v in code.payload.items() if v}
    return reply(**fields)


async def oauth_authorize(request: web.Request) -> web.StreamResponse:
    """Play open.weixin.qq.com's authorize page for browser tests: redirect back with a code.

    The member is ``sandbox_userid`` from the query, else the first staff member.
    """
    state = request.app[STATE]
    redirect_uri = request.query.get("redirect_uri")
    if request.query.get("appid") != state.config.corp_id or not redirect_uri:
        raise ApiError(40013, "invalid appid or missing redirect_uri")
    userid = request.query.get("sandbox_userid") or next(iter(state.staff), None)
    if userid is None:
        raise ApiError(40003, "the sandbox has no staff member to log in as")
    code = state.issue_oauth_code(userid=userid)
    separator = "&" if "?" in redirect_uri else "?"
    query = urlencode({"code": code, "state": request.query.get("state", "")})
    raise web.HTTPFound(f"{redirect_uri}{separator}{query}")


async def get_jsapi_ticket(request: web.Request) -> web.Response:
    authorize(request)
    return reply(ticket=secrets.token_urlsafe(64), expires_in=7200)


async def get_ticket(request: web.Request) -> web.Response:
    """``ticket/get?type=agent_config``: the app ticket for ``wx.agentConfig``."""
    authorize(request)
    if request.query.get("type") != "agent_config":
        raise ApiError(40058, "type must be agent_config")
    return reply(ticket=secrets.token_urlsafe(64), expires_in=7200)


def register(app: web.Application) -> None:
    app.router.add_get("/cgi-bin/auth/getuserinfo", getuserinfo)
    app.router.add_get("/connect/oauth2/authorize", oauth_authorize)
    app.router.add_get("/cgi-bin/get_jsapi_ticket", get_jsapi_ticket)
    app.router.add_get("/cgi-bin/ticket/get", get_ticket)
