"""A POST from a staff page: signed in, small, form-encoded, with this session's token."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from scrm.staff.render import expired_form, notice
from scrm.staff.session import STAFF_AUTH, Staff, require_staff

MAX_FORM_BYTES = 16 * 1024


@dataclass(frozen=True)
class Posted:
    staff: Staff
    data: dict[str, str]


async def posted(request: web.Request, page: str) -> Posted | web.Response:
    """The member and the fields, or the page to answer instead (too big, stale token).

    Without a session the member logs in and lands on ``page`` (what they had open).
    """
    staff = require_staff(request, page)
    if request.content_length is None or request.content_length > MAX_FORM_BYTES:
        return notice("提交失败", "提交的内容过大或格式不正确。", status=400)
    try:
        form = await request.post()
    except (ValueError, UnicodeDecodeError):
        return notice("提交失败", "提交的内容格式不正确。", status=400)
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    if any("\x00" in v for v in data.values()):
        return notice("提交失败", "提交的内容含有无法保存的字符。", status=400)
    if not request.app[STAFF_AUTH].csrf_ok(staff, data.get("csrf_token")):
        return expired_form()
    return Posted(staff, data)
