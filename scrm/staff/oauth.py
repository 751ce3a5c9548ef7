"""Signing staff in through WeCom's silent OAuth (snsapi_base).

``GET /s/login?next=/s/…`` starts a login by hand (a menu link of the app); every page
starts one itself when there is no session. WeCom sends the browser back to
``/s/oauth/callback?code=…&state=…``: the state must be the one this browser's login cookie
was signed with, the code is exchanged once with ``auth/getuserinfo``, and only a member of
the corp (a ``userid``) gets a session — a customer or anyone else WeCom knows only by
``openid`` gets 403. A code WeCom refuses (reused, expired: errcode 40029) is 401 naming
the errcode. The browser then goes to ``next``, which is only ever a relative ``/s/`` path.
"""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from adapters.wecom import WeComAPIError, WeComError
from scrm.appkeys import SERVICES
from scrm.logsafe import loggable
from scrm.staff.render import notice
from scrm.staff.session import CALLBACK_PATH, STAFF_AUTH
from scrm.staff.signing import safe_next

log = logging.getLogger(__name__)
MAX_CODE = 512  # WeCom: "code长度最大为512字节"
MAX_USERID = 64
CALLBACK_LIMIT = (120, 600.0)  # code exchanges per client address and 10 minutes


async def login(request: web.Request) -> web.StreamResponse:
    next_path = safe_next(request.query.get("next", "/s/"))
    if next_path is None:
        return notice("链接无效", "这个链接不能用于登录，请从企业微信中重新打开。", status=400)
    raise request.app[STAFF_AUTH].login_redirect(next_path)


async def callback(request: web.Request) -> web.StreamResponse:
    auth = request.app[STAFF_AUTH]
    pending = auth.login_state(request)
    state = request.query.get("state", "")
    if pending is None or not _same(state, pending["state"]):
        # Not the login this browser started (or it is too old): a forged or stale callback.
        return notice("登录已失效", "请返回企业微信，重新打开刚才的链接。", status=400)
    code = request.query.get("code", "")
    if not code or len(code) > MAX_CODE or not code.isascii():
        return notice("登录失败", "企业微信没有返回登录凭证，请重新打开链接。", status=400)
    services = request.app[SERVICES]
    # Each code costs a WeCom call: bounded per address (an office shares one, hence high).
    limit, window = CALLBACK_LIMIT
    name = f"staff-login:{services.wecom.corp_id}:{request.remote or '-'}"
    if await services.kv.hit_rate_limit(name, limit, window):
        response = notice("请稍后再试", "登录太频繁，请稍后再试。", status=429)
        response.headers["Retry-After"] = "60"
        return response
    client = services.agent or services.wecom  # auth/getuserinfo takes the app's token
    try:
        info = await client.get_user_info(code)
    except WeComAPIError as exc:
        log.info("staff login refused by WeCom: errcode %d", exc.errcode)
        return notice(
            "登录失败",
            f"企业微信拒绝了这次登录（errcode {exc.errcode}），请重新打开链接。",
            status=401,
        )
    except WeComError:
        return notice("暂时无法登录", "暂时连不上企业微信，请稍后再试。", status=502)
    userid = info.userid
    if not userid:
        log.info("staff login refused: not a member of the corp (no userid)")
        return notice("仅限企业成员", "这个页面只对本企业的员工开放。", status=403)
    if len(userid) > MAX_USERID or not userid.isprintable():
        return notice("登录失败", "企业微信返回的成员账号无效。", status=400)
    log.info("staff login: userid=%s", loggable(userid))
    response = web.HTTPFound(pending["next"])
    auth.start_session(response, userid)
    response.headers["Cache-Control"] = "no-store"
    raise response


def _same(given: str, expected: str) -> bool:
    return given.isascii() and hmac.compare_digest(given.encode(), expected.encode())


def register(app: web.Application) -> None:
    app.router.add_get("/s/login", login)
    app.router.add_get(CALLBACK_PATH, callback)
