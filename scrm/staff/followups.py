"""The follow-up form of the customer and lead pages, checked by the API's own parser."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from scrm.api.errors import ApiError
from scrm.leads.followups import NOTE_MAX, parse_followup
from scrm.staff.render import csrf_field, error, select

KINDS = {"note": "备注", "call": "电话", "visit": "拜访", "message": "消息"}
MESSAGES = {
    "note": f"请填写跟进内容（最多 {NOTE_MAX} 字）",
    "kind": "请选择跟进方式",
    "remind_at": "提醒时间格式不正确",
}


def parse_form(userid: str, data: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The follow-up's fields as `add_followup` takes them, or the messages per field.

    ``by`` is the signed-in member, never a form field. A ``datetime-local`` reminder has no
    offset: it is Beijing time, as the page shows.
    """
    body: dict[str, Any] = {
        "by": userid,
        "kind": data.get("kind", "note"),
        "note": data.get("note", ""),
    }
    remind = data.get("remind_at", "").strip()
    if remind:
        body["remind_at"] = remind if remind[-1:] == "Z" or "+" in remind else remind + "+08:00"
    try:
        return parse_followup(body), {}
    except ApiError as exc:
        field = exc.field or "note"
        return {}, {field: MESSAGES.get(field, exc.message)}


def form(action: str, csrf: str, values: Mapping[str, str], errors: Mapping[str, str]) -> str:
    def wrap(name: str, inner: str) -> str:
        invalid = ' class="invalid"' if errors.get(name) else ""
        return f"<div{invalid}>{inner}{error(name, errors.get(name))}</div>"

    kind = values.get("kind", "note")
    note = escape(values.get("note", ""))
    remind = escape(values.get("remind_at", ""))
    return (
        f'<form class="card" method="post" action="{escape(action)}" id="followup">'
        f"<h2>写跟进</h2>{csrf_field(csrf)}"
        + wrap("kind", '<label for="f-kind">方式</label>' + select("kind", KINDS, kind))
        + wrap(
            "note",
            f'<label for="f-note">内容</label><textarea id="f-note" name="note" '
            f'maxlength="{NOTE_MAX}">{note}</textarea>',
        )
        + wrap(
            "remind_at",
            '<label for="f-remind_at">提醒我（可选）</label><input type="datetime-local" '
            f'id="f-remind_at" name="remind_at" value="{remind}">',
        )
        + '<div class="buttons"><button type="submit">保存跟进</button></div></form>'
    )
