"""Sending: app messages (``message/send``), app group chats (``appchat/send``) and group
robots (``webhook/send?key=``, no token, 20 messages/min per robot)."""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from scrm.sandbox.state import STATE, authorize
from scrm.sandbox.wire import ApiError, body, byte_len, reply, require, truncate_bytes

# Byte limits by channel and msgtype (PROTOCOL §4.6, §4.7). App and app-chat text longer
# than 2048 bytes is cut ("超过将截断"), not refused; the other limits refuse with 40058.
APP_LIMITS = {"markdown": 2048}
APP_TRUNCATE = {"text": 2048}
ROBOT_LIMITS = {"text": 2048, "markdown": 4096, "markdown_v2": 4096}


def _content(
    data: dict[str, Any], limits: dict[str, int], truncate: dict[str, int] | None = None
) -> tuple[str, dict[str, Any]]:
    msgtype = str(require(data, "msgtype"))
    content = data.get(msgtype)
    if not isinstance(content, dict) or not content:
        raise ApiError(40058, f"{msgtype} missing")
    text = str(content.get("content", ""))
    limit = limits.get(msgtype)
    if limit is not None and byte_len(text) > limit:
        raise ApiError(40058, f"{msgtype}.content exceed max length {limit}")
    cut = (truncate or {}).get(msgtype)
    if cut is not None and byte_len(text) > cut:
        content = {**content, "content": truncate_bytes(text, cut)}
    return msgtype, content


async def message_send(request: web.Request) -> web.Response:
    """Send to members; unknown userids come back in ``invaliduser``, all unknown → 81013."""
    state = authorize(request)
    data = body(request)
    if data.get("agentid") != state.config.agent_id:
        raise ApiError(40056, "invalid agentid")
    msgtype, content = _content(data, APP_LIMITS, APP_TRUNCATE)
    touser = [u for u in str(data.get("touser") or "").split("|") if u]
    if not touser and not data.get("toparty") and not data.get("totag"):
        raise ApiError(82001, "touser, toparty and totag are all empty")
    if touser == ["@all"]:
        valid, invalid = list(state.staff), []
    else:
        valid = [u for u in touser if u in state.staff]
        invalid = [u for u in touser if u not in state.staff]
    if not valid and not data.get("toparty") and not data.get("totag"):
        raise ApiError(81013, "user & party & tag all invalid")
    msgid = secrets.token_urlsafe(24)
    state.sent["app_message"].append(
        {"msgid": msgid, "touser": valid, "msgtype": msgtype, msgtype: content}
    )
    return reply(invaliduser="|".join(invalid), invalidparty="", invalidtag="", msgid=msgid)


async def appchat_send(request: web.Request) -> web.Response:
    """Post into an app group chat; the chatid must exist (86003 otherwise)."""
    state = authorize(request)
    data = body(request)
    chatid = str(require(data, "chatid"))
    if chatid not in state.appchats:
        raise ApiError(86003, "chat not found")
    msgtype, content = _content(data, APP_LIMITS, APP_TRUNCATE)
    state.sent["appchat"].append({"chatid": chatid, "msgtype": msgtype, msgtype: content})
    return reply()


async def webhook_send(request: web.Request) -> web.Response:
    """Robot message: 93000 unknown key, 45009 beyond ``robot_rate_limit`` per minute."""
    state = request.app[STATE]
    key = request.query.get("key", "")
    hits = state.robots.get(key)
    if hits is None:
        raise ApiError(93000, "invalid webhook url")
    now = state.clock()
    while hits and hits[0] <= now - 60:
        hits.popleft()
    if len(hits) >= state.config.robot_rate_limit:
        raise ApiError(45009, "api freq out of limit")
    msgtype, content = _content(body(request), ROBOT_LIMITS)
    hits.append(now)
    state.sent["robot"].append({"key": key, "msgtype": msgtype, msgtype: content})
    return reply()


def register(app: web.Application) -> None:
    app.router.add_post("/cgi-bin/message/send", message_send)
    app.router.add_post("/cgi-bin/appchat/send", appchat_send)
    app.router.add_post("/cgi-bin/webhook/send", webhook_send)
