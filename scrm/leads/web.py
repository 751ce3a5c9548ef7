"""``/c/{state}``: the public form a scan opens, the thank-you page and the contact QR.

POST → checks (size, rate per IP, CSRF, fields, rate per phone) → the lead → 303 to the
thank-you page. A refused submission stores nothing and shows the form again with the
messages next to their fields and the values kept. CSRF: a random token in a cookie and in
the form (double submit); a cross-site post has no way to read or set our cookie.
"""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web

from adapters.kv import LockNotAcquired
from scrm.api.errors import ApiError
from scrm.appkeys import SERVICES
from scrm.channels.models import Channel
from scrm.channels.service import fetch_code
from scrm.leads.form import DEFAULT_CONSENT, check_submission, form_fields
from scrm.leads.pages import form_page, notice
from scrm.leads.service import phone_hash, submit_lead
from scrm.services import Services

CSRF_COOKIE = "scrm_csrf"
MAX_FORM_BYTES = 16 * 1024
# (uses, window in seconds): posts per client address, submissions per phone number.
IP_LIMIT = (30, 600.0)
PHONE_LIMIT = (5, 3600.0)
GONE = ("二维码已失效", "这个二维码已失效", "请联系工作人员获取新的二维码。")


async def form_channel(state: str) -> Channel | None:
    """The live form channel behind ``state``, or None (unknown, archived or not a form)."""
    if not state or len(state) > 30:
        return None
    return await Channel.get_or_none(state=state, kind="form", archived=False)


def _gone() -> web.Response:
    title, heading, message = GONE
    return notice(title, heading, message, status=404)


def _csrf(request: web.Request) -> tuple[str, bool]:
    """The visitor's token and whether it is new (then the cookie must be set)."""
    token = request.cookies.get(CSRF_COOKIE, "")
    if len(token) == 43 and token.replace("-", "").replace("_", "").isalnum():
        return token, False
    return secrets.token_urlsafe(32), True


def _with_cookie(response: web.Response, token: str, new: bool, state: str) -> web.Response:
    if new:
        response.set_cookie(
            CSRF_COOKIE, token, path=f"/c/{state}", httponly=True, samesite="Lax", max_age=86400
        )
    return response


async def show_form(request: web.Request) -> web.Response:
    state = request.match_info["state"]
    channel = await form_channel(state)
    if channel is None:
        return _gone()
    token, new = _csrf(request)
    options = channel.options or {}
    response = form_page(
        name=channel.name,
        action=f"/c/{state}",
        csrf=token,
        fields=form_fields(options),
        consent=options.get("consent", DEFAULT_CONSENT),
        values={},
        errors={},
        consented=False,
    )
    return _with_cookie(response, token, new, state)


async def post_form(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    state = request.match_info["state"]
    channel = await form_channel(state)
    if channel is None:
        return _gone()
    if request.content_length is None or request.content_length > MAX_FORM_BYTES:
        return notice("提交失败", "提交失败", "提交的内容过大或格式不正确。", status=400)
    # Per address and code: a fair's shared Wi-Fi spreads over its codes' limits.
    if await _limited(services, f"lead-form:ip:{state}:{request.remote or '-'}", IP_LIMIT):
        return _too_many()
    try:
        data = await request.post()
    except (ValueError, UnicodeDecodeError):
        return notice("提交失败", "提交失败", "提交的内容格式不正确。", status=400)
    given = {k: v for k, v in data.items() if isinstance(v, str)}
    token, new = _csrf(request)
    sent = given.get("csrf_token", "")
    if new or not hmac.compare_digest(sent.encode(), token.encode()):
        response = notice("页面已过期", "页面已过期", "请返回刷新页面后重新提交。", status=403)
        return _with_cookie(response, token, new, state)
    options = channel.options or {}
    fields = form_fields(options)
    values, errors = check_submission(fields, given)
    consented = given.get("consent") == "1"
    if not consented:
        errors["consent"] = "请阅读并勾选同意后提交"
    if errors:
        return form_page(
            name=channel.name,
            action=f"/c/{state}",
            csrf=token,
            fields=fields,
            consent=options.get("consent", DEFAULT_CONSENT),
            values={f.key: given.get(f.key, "") for f in fields},
            errors=errors,
            consented=consented,
            status=422,
        )
    # The KV sees the phone's keyed hash, never the number.
    if await _limited(
        services, f"lead-form:phone:{phone_hash(services, values['phone'])}", PHONE_LIMIT
    ):
        return _too_many()
    try:
        await submit_lead(services, channel, values, source="form")
    except LockNotAcquired:
        return _too_many()
    raise web.HTTPSeeOther(f"/c/{state}/thanks")


async def _limited(services: Services, name: str, limit: tuple[int, float]) -> bool:
    return await services.kv.hit_rate_limit(name, limit[0], limit[1])


def _too_many() -> web.Response:
    response = notice("请稍后再试", "提交太频繁", "请稍后再试。", status=429)
    response.headers["Retry-After"] = "60"
    return response


async def thanks(request: web.Request) -> web.Response:
    state = request.match_info["state"]
    channel = await form_channel(state)
    if channel is None:
        return _gone()
    extra = ""
    if (channel.options or {}).get("show_contact_qr") and channel.qr_code:
        extra = (
            "<p>长按识别二维码，添加您的专属顾问：</p>"
            f'<img src="/c/{state}/contact.png" alt="添加顾问的二维码">'
        )
    return notice("提交成功", "提交成功", "感谢您的信任，我们会尽快与您联系。", extra=extra)


async def contact_png(request: web.Request) -> web.Response:
    channel = await form_channel(request.match_info["state"])
    if channel is None or not (channel.options or {}).get("show_contact_qr"):
        return _gone()
    try:
        png = await fetch_code(request.app[SERVICES], channel)
    except ApiError:
        return notice("暂不可用", "暂不可用", "二维码暂时无法显示，请稍后再试。", status=503)
    return web.Response(
        body=png, content_type="image/png", headers={"Cache-Control": "max-age=3600"}
    )


def register(app: web.Application) -> None:
    app.router.add_get("/c/{state}", show_form)
    app.router.add_post("/c/{state}", post_form)
    app.router.add_get("/c/{state}/thanks", thanks)
    app.router.add_get("/c/{state}/contact.png", contact_png)
