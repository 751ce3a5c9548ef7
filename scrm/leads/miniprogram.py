"""The company mini-program: login, scans of a channel's code, the same form, unionid linking.

``POST /mp/login {"code"}`` exchanges a ``wx.login`` code (``jscode2session``) for our own
session token; WeChat's ``session_key`` stays on the server, sealed. ``/mp/scan`` and
``/mp/forms`` take that token (``Authorization: Bearer``): a missing or unknown one is 401.
A scan's ``scene`` (≤ 32 visible characters) is the channel's state, or ``id.<channel id>``
when the state has characters a scene cannot carry.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from adapters.wecom import WeComAPIError, WeComError
from scrm.api.errors import ApiError, parse_json
from scrm.api.params import parse_id, path_id
from scrm.appkeys import SERVICES
from scrm.channels.models import Channel
from scrm.channels.service import wecom
from scrm.leads.form import (
    DEFAULT_CONSENT,
    FormField,
    check_submission,
    form_fields,
    has_control,
)
from scrm.leads.models import SESSION_KEY_FIELD, MiniProgramScan, MiniProgramUser
from scrm.leads.service import phone_hash, pii, submit_lead
from scrm.leads.web import PHONE_LIMIT
from scrm.services import Services

log = logging.getLogger(__name__)
SCENE = re.compile(r"[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}")
SESSION_TTL = 7 * 86400
MAX_BODY = 16 * 1024
OPENID_LIMIT = (20, 3600.0)  # form submissions per mini-program user and channel


def scene_for(channel: Channel) -> str:
    return channel.state if SCENE.fullmatch(channel.state) else f"id.{channel.id}"


async def channel_for_scene(scene: object) -> Channel:
    if not isinstance(scene, str) or not SCENE.fullmatch(scene):
        raise ApiError(422, "invalid", "scene must be 1..32 visible characters", "scene")
    channel_id = parse_id(scene[3:]) if scene.startswith("id.") else None
    if channel_id is not None:
        channel = await Channel.get_or_none(id=channel_id)
    else:
        channel = await Channel.get_or_none(state=scene)
    if channel is None or channel.archived or channel.is_default:
        raise ApiError(404, "not_found", "this code is no longer valid")
    return channel


def _client(services: Services) -> Any:
    if services.miniprogram is None:
        raise ApiError(503, "not_configured", "no mini-program is set up (SCRM_MINIPROGRAM_APPID)")
    return services.miniprogram


def _session_key(token: str) -> str:
    return "mp-session:" + hashlib.sha256(token.encode()).hexdigest()


async def _body(request: web.Request) -> Mapping[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiError(400, "too_large", f"the body is larger than {MAX_BODY} bytes")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise ApiError(400, "too_large", f"the body is larger than {MAX_BODY} bytes")
    body = parse_json(raw)  # too deep, not JSON, NUL or a lone surrogate: 400 like /api/v1
    if not isinstance(body, Mapping):
        raise ApiError(400, "bad_request", "the body must be a JSON object")
    return body


async def _user(request: web.Request) -> MiniProgramUser:
    """The mini-program user behind the request's session token; 401 without a valid one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    # Our tokens are ASCII; a non-UTF-8 byte arrives as a surrogate escape (no 500 for it).
    if scheme.lower() != "bearer" or not token or len(token) > 128 or not token.isascii():
        raise ApiError(401, "unauthorized", "a mini-program session token is required")
    openid = await request.app[SERVICES].kv.get(_session_key(token))
    user = await MiniProgramUser.get_or_none(openid=openid.decode()) if openid else None
    if user is None:
        raise ApiError(401, "unauthorized", "the session token is not valid (log in again)")
    return user


async def login(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    client = _client(services)
    body = await _body(request)
    code = body.get("code")
    if not isinstance(code, str) or not 1 <= len(code) <= 128 or has_control(code):
        raise ApiError(422, "invalid", "code must be the wx.login code", "code")
    try:
        session = await client.code2session(code)
    except WeComAPIError as exc:  # 40029 bad or used code, 40163 used, 45011 too frequent
        raise ApiError(
            401, "unauthorized", f"WeChat refused the code: errcode {exc.errcode}"
        ) from None
    except WeComError as exc:
        raise ApiError(502, "wechat_unavailable", f"jscode2session: {exc}") from None
    now = services.clock()
    sealed = pii(services).seal(session.session_key, field=SESSION_KEY_FIELD)
    user = await MiniProgramUser.get_or_none(openid=session.openid)
    if user is None:
        user = await MiniProgramUser.create(
            openid=session.openid,
            unionid=session.unionid,
            session_key_sealed=sealed,
            created_at=now,
            last_login_at=now,
        )
    else:
        await MiniProgramUser.filter(id=user.id).update(
            unionid=session.unionid or user.unionid, session_key_sealed=sealed, last_login_at=now
        )
    token = secrets.token_urlsafe(32)
    await services.kv.set(_session_key(token), session.openid.encode(), ttl=SESSION_TTL)
    return web.json_response({"token": token, "expires_in": SESSION_TTL})


async def scan(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    user = await _user(request)
    body = await _body(request)
    channel = await channel_for_scene(body.get("scene"))
    await MiniProgramScan.create(
        channel_id=channel.id,
        openid=user.openid,
        unionid=user.unionid,
        scene=str(body["scene"]),
        at=services.clock(),
    )
    answer: dict[str, Any] = {"channel": {"id": channel.id, "name": channel.name}}
    if channel.kind == "form":
        options = channel.options or {}
        answer |= {
            "show": "form",
            "fields": [_field_json(f) for f in form_fields(options)],
            "consent": options.get("consent") or DEFAULT_CONSENT,
        }
    else:
        answer |= {"show": "contact_way", "qr_code": channel.qr_code}
    return web.json_response(answer)


def _field_json(field: FormField) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "key": field.key,
        "label": field.label,
        "type": field.type,
        "required": field.required,
    }
    if field.type == "choice":
        shown["choices"] = list(field.choices)
    return shown


async def forms(request: web.Request) -> web.Response:
    """``{"scene", "values": {key: text}, "consent": true}`` → the web form's lead submission."""
    services = request.app[SERVICES]
    user = await _user(request)
    body = await _body(request)
    channel = await channel_for_scene(body.get("scene"))
    if channel.kind != "form":
        raise ApiError(422, "invalid", "this channel has no form", "scene")
    values = body.get("values")
    if not isinstance(values, Mapping):
        raise ApiError(422, "invalid", "values must be an object {field key: text}", "values")
    if body.get("consent") is not True:
        raise ApiError(422, "invalid", "consent must be true (请阅读并勾选同意后提交)", "consent")
    cleaned, errors = check_submission(form_fields(channel.options or {}), values)
    if errors:
        key = sorted(errors)[0]
        raise ApiError(422, "invalid", errors[key], f"values.{key}")
    if await services.kv.hit_rate_limit(f"lead-mp:{channel.state}:{user.openid}", *OPENID_LIMIT):
        raise ApiError(429, "too_many", "too many submissions; try again later")
    hashed = phone_hash(services, cleaned["phone"])
    if await services.kv.hit_rate_limit(f"lead-form:phone:{hashed}", *PHONE_LIMIT):
        raise ApiError(429, "too_many", "too many submissions; try again later")
    submitted = await submit_lead(
        services, channel, cleaned, source="miniprogram", unionid=user.unionid
    )
    return web.json_response(
        {"lead_id": submitted.lead.id, "created": submitted.created},
        status=201 if submitted.created else 200,
    )


async def wxacode_png(request: web.Request) -> web.Response:
    """``wxa/getwxacodeunlimit`` for the channel's scene; JSON instead of an image → 502."""
    services = request.app[SERVICES]
    channel_id = path_id(request, "channel_id", "channel")
    channel = await Channel.get_or_none(id=channel_id)
    if channel is None:
        raise ApiError(404, "not_found", f"channel {channel_id} does not exist")
    if channel.archived:
        raise ApiError(409, "conflict", f"channel {channel.id} is archived")
    page = request.query.get("page") or (channel.options or {}).get("page")
    if page is not None and (not isinstance(page, str) or len(page) > 128):
        raise ApiError(422, "invalid", "page must be a mini-program page path", "page")
    client = _client(services)
    png = await wecom("getwxacodeunlimit", client.get_wxacode_unlimit(scene_for(channel), page))
    return web.Response(body=png, content_type="image/png")


def register(app: web.Application) -> None:
    app.router.add_post("/mp/login", login)
    app.router.add_post("/mp/scan", scan)
    app.router.add_post("/mp/forms", forms)
    app.router.add_get("/api/v1/channels/{channel_id}/wxacode.png", wxacode_png)
