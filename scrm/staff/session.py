"""Who is looking at a staff page: the signed session cookie, and the way to get one.

A page asked for without a valid session answers 302 to WeCom's authorize page
(`login_redirect`); the login state goes with it in a short-lived signed cookie bound to
this browser (`scrm_staff_login`, path ``/s/oauth``), so only the browser that started a
login can finish it (no login CSRF). The session cookie (`scrm_staff`, path ``/s/``) is
HttpOnly, SameSite=Lax, Secure when `SCRM_PUBLIC_URL` is https, and expires after
`SESSION_TTL`; it names the userid and a random session id that the form tokens hang on.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from aiohttp import web

from config import Settings
from scrm.staff import keys
from scrm.staff.signing import check_csrf, csrf_token, safe_next, sign, verify

SESSION_COOKIE = "scrm_staff"
LOGIN_COOKIE = "scrm_staff_login"
SESSION_TTL = 8 * 3600  # a working day; then WeCom is asked again (silently)
LOGIN_TTL = 600  # from the redirect to WeCom until its callback
CALLBACK_PATH = "/s/oauth/callback"
OPEN_WEIXIN = "https://open.weixin.qq.com"


@dataclass(frozen=True)
class Staff:
    """A signed-in staff member: the WeCom userid and this session's id."""

    userid: str
    session_id: str


@dataclass
class StaffAuth:
    """What the staff pages need from the settings; the key is read on first use."""

    settings: Settings
    clock: Callable[[], float] = time.time
    _key: bytes | None = field(default=None, repr=False)

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = keys.session_key(self.settings)
        return self._key

    @property
    def secure(self) -> bool:
        return self.settings.public_url.startswith("https://")

    @property
    def authorize_base(self) -> str:
        """WeCom's authorize page; the sandbox plays it when the service is sandboxed."""
        settings = self.settings
        if settings.staff.oauth_base:
            return settings.staff.oauth_base
        return settings.wecom.api_base if settings.sandbox else OPEN_WEIXIN

    def authorize_url(self, state: str) -> str:
        """WeCom's silent login link (developer.work.weixin.qq.com/document/path/91022)."""
        wecom = self.settings.wecom
        query = {
            "appid": wecom.corp_id,
            "redirect_uri": self.settings.public_url + CALLBACK_PATH,
            "response_type": "code",
            "scope": "snsapi_base",
            "state": state,
        }
        if wecom.agent_id:
            query["agentid"] = str(wecom.agent_id)
        # WeCom's own examples keep the order; #wechat_redirect makes the client add identity.
        encoded = urlencode(query, quote_via=quote, safe="")
        return f"{self.authorize_base}/connect/oauth2/authorize?{encoded}#wechat_redirect"

    def staff(self, request: web.Request) -> Staff | None:
        claims = verify(self.key, "session", request.cookies.get(SESSION_COOKIE), self.clock())
        if claims is None:
            return None
        userid, sid = claims.get("u"), claims.get("sid")
        if not isinstance(userid, str) or not isinstance(sid, str) or not userid:
            return None
        return Staff(userid, sid)

    def login_redirect(self, next_path: str) -> web.HTTPFound:
        """302 to WeCom's authorize page; ``next_path`` must already be `safe_next`."""
        state = secrets.token_hex(16)  # WeCom allows a-zA-Z0-9, ≤ 128 bytes
        claims = {"n": state, "next": next_path, "exp": int(self.clock()) + LOGIN_TTL}
        response = web.HTTPFound(self.authorize_url(state))
        response.set_cookie(
            LOGIN_COOKIE,
            sign(self.key, "login", claims),
            path="/s/oauth",
            max_age=LOGIN_TTL,
            httponly=True,
            samesite="Lax",
            secure=self.secure,
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    def login_state(self, request: web.Request) -> dict[str, str] | None:
        """The pending login of this browser: its state and where to go after it."""
        claims = verify(self.key, "login", request.cookies.get(LOGIN_COOKIE), self.clock())
        if claims is None:
            return None
        state, next_path = claims.get("n"), safe_next(claims.get("next"))
        if not isinstance(state, str) or next_path is None:
            return None
        return {"state": state, "next": next_path}

    def start_session(self, response: web.StreamResponse, userid: str) -> None:
        claims = {"u": userid, "sid": secrets.token_urlsafe(12)}
        claims_exp = {**claims, "exp": int(self.clock()) + SESSION_TTL}
        response.set_cookie(
            SESSION_COOKIE,
            sign(self.key, "session", claims_exp),
            path="/s/",
            max_age=SESSION_TTL,
            httponly=True,
            samesite="Lax",
            secure=self.secure,
        )
        response.del_cookie(LOGIN_COOKIE, path="/s/oauth")

    def csrf(self, staff: Staff) -> str:
        return csrf_token(self.key, staff.session_id)

    def csrf_ok(self, staff: Staff, given: object) -> bool:
        return isinstance(given, str) and check_csrf(self.key, staff.session_id, given)


STAFF_AUTH = web.AppKey("staff_auth", StaffAuth)


def require_staff(request: web.Request, page: str | None = None) -> Staff:
    """The signed-in member, or raise the redirect to WeCom's login (back to ``page``)."""
    auth = request.app[STAFF_AUTH]
    staff = auth.staff(request)
    if staff is not None:
        return staff
    # raw_path: the path and query as the browser sent them (still percent-encoded).
    raise auth.login_redirect(safe_next(page or request.raw_path) or "/s/")
