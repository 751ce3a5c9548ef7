"""HTML for the staff pages: one layout, small helpers, every value escaped on the way in.

Like the lead form (`scrm/leads/pages.py`): server-rendered, no JavaScript needed, no asset
from elsewhere (the CSS is inline), readable at 360 px.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import cache
from html import escape
from pathlib import Path
from string import Template
from zoneinfo import ZoneInfo

from aiohttp import web

TEMPLATES = Path(__file__).with_name("templates")
CHINA = ZoneInfo("Asia/Shanghai")  # how the staff read times
# No form-action: a post whose session has expired is redirected to WeCom's login.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


@cache
def _layout() -> Template:
    return Template((TEMPLATES / "layout.html").read_text("utf-8"))


def page(title: str, body: str, *, status: int = 200) -> web.Response:
    """The layout around ``body`` (already safe HTML); ``title`` is escaped here."""
    return web.Response(
        text=_layout().substitute(title=escape(title), body=body),
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers={
            "Cache-Control": "no-store",
            "X-Frame-Options": "DENY",
            # Defence in depth behind the escaping: no script, nothing from elsewhere.
            "Content-Security-Policy": CSP,
        },
    )


def notice(heading: str, message: str, *, status: int) -> web.Response:
    body = f'<div class="card notice"><h1>{escape(heading)}</h1><p>{escape(message)}</p></div>'
    return page(heading, body, status=status)


def not_found(what: str) -> web.Response:
    return notice("找不到页面", f"{what}不存在或已被删除。", status=404)


def forbidden() -> web.Response:
    return notice("无权查看", "这个页面只对负责的同事开放。如需查看，请联系管理员。", status=403)


def expired_form() -> web.Response:
    return notice("页面已过期", "请返回刷新页面后重新提交。", status=403)


def when(stamp: float | None) -> str:
    """``11-30 14:05`` in Beijing time (the year when it is not this one)."""
    if stamp is None:
        return "—"
    moment = datetime.fromtimestamp(stamp, CHINA)
    if moment.year != datetime.now(CHINA).year:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.strftime("%m-%d %H:%M")


def rows(items: Iterable[tuple[str, str]]) -> str:
    """A definition list; values are safe HTML already."""
    return "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def chips(names: Iterable[str]) -> str:
    found = [f'<span class="chip">{escape(n)}</span>' for n in names]
    return "".join(found) or "无"


def timeline(entries: Iterable[tuple[float | None, str]]) -> str:
    """Newest first; each entry's text is safe HTML already."""
    # Newest first; entries of the same second keep their order, reversed with the rest.
    ordered = sorted(enumerate(entries), key=lambda e: (e[1][0] or 0, e[0]), reverse=True)
    items = [f"<li><time>{escape(when(at))}</time>{text}</li>" for _, (at, text) in ordered]
    if not items:
        return '<p class="sub">暂无记录</p>'
    return '<ol class="timeline">' + "".join(items) + "</ol>"


def csrf_field(token: str) -> str:
    return f'<input type="hidden" name="csrf_token" value="{escape(token)}">'


def error(key: str, message: str | None) -> str:
    if not message:
        return ""
    return f'<div class="error" id="{escape(key)}-error" role="alert">{escape(message)}</div>'


def select(name: str, choices: Mapping[str, str], chosen: str) -> str:
    options = "".join(
        f'<option value="{escape(v)}"{" selected" if v == chosen else ""}>{escape(label)}</option>'
        for v, label in choices.items()
    )
    return f'<select id="f-{escape(name)}" name="{escape(name)}">{options}</select>'
