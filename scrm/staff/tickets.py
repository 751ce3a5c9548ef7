"""``/s/tickets/{id}``: a ticket, its SLA in minutes, its timeline, a comment box and its moves.

Comments and transitions go through `scrm.tickets.service`, exactly as the API's do, so the
first one by a member is the ticket's first response, the SLA clock pauses and resumes, and
the notices they queue are sent by a worker after the commit (`scrm.tickets.doorbell`).
The actor (``by``) is always the signed-in member, never a form field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from html import escape
from typing import Any

from aiohttp import web

from scrm.api.params import parse_id
from scrm.appkeys import SERVICES
from scrm.services import Services
from scrm.staff.access import may_see_ticket
from scrm.staff.forms import posted
from scrm.staff.links import customer_path
from scrm.staff.links import ticket_path as path_of
from scrm.staff.render import csrf_field, error, forbidden, not_found, page, rows, timeline, when
from scrm.staff.session import STAFF_AUTH, Staff, require_staff
from scrm.tickets import doorbell, service
from scrm.tickets.models import Ticket, TicketEvent
from scrm.tickets.params import TEXT_MAX
from scrm.tickets.states import TRANSITIONS, TransitionNotAllowed

STATUS = {
    "open": "待分配",
    "assigned": "已分配",
    "in_progress": "处理中",
    "waiting_customer": "等待客户",
    "resolved": "已解决",
    "closed": "已关闭",
}
MOVE = {
    "open": "退回待分配",
    "assigned": "设为已分配",
    "in_progress": "开始处理",
    "waiting_customer": "等待客户回复",
    "resolved": "标记已解决",
    "closed": "关闭工单",
}
EVENTS = {
    "created": "创建工单",
    "merged": "同一客户再次请求",
    "transition": "状态",
    "reopened": "重新打开",
    "comment": "评论",
    "first_response": "首次响应",
    "updated": "修改",
    "notice": "已通知",
    "notice_failed": "通知失败",
    "notice_unknown": "通知结果未知",
    "notice_retry": "通知重试",
    "sla_warning": "即将超时",
    "sla_breach": "已超时",
}


def move_label(current: str, to: str) -> str:
    if to == "in_progress" and current in ("resolved", "closed"):
        return "重新打开"
    return MOVE.get(to, to)


def minutes_left(due: float | None, now: float) -> str:
    """``还剩 12 分钟`` / ``已超时 3 分钟`` (whole minutes, rounded towards urgency)."""
    if due is None:
        return "—"
    left = due - now
    if left >= 0:
        return f"还剩 {math.floor(left / 60)} 分钟"
    return f"已超时 {math.ceil(-left / 60)} 分钟"


async def _ticket(request: web.Request) -> Ticket | None:
    row_id = parse_id(request.match_info["ticket_id"])
    return None if row_id is None else await Ticket.get_or_none(id=row_id)


async def show(request: web.Request) -> web.StreamResponse:
    staff = require_staff(request)
    ticket = await _ticket(request)
    if ticket is None:
        return not_found("工单")
    if not await may_see_ticket(staff.userid, ticket):
        return forbidden()
    return await render(request, staff, ticket)


async def _posted_ticket(
    request: web.Request,
) -> tuple[Staff, Ticket, dict[str, str]] | web.StreamResponse:
    ticket = await _ticket(request)
    sent = await posted(request, path_of(ticket.id) if ticket else "/s/")
    if isinstance(sent, web.Response):
        return sent
    if ticket is None:
        return not_found("工单")
    if not await may_see_ticket(sent.staff.userid, ticket):
        return forbidden()
    return sent.staff, ticket, sent.data


async def post_comment(request: web.Request) -> web.StreamResponse:
    found = await _posted_ticket(request)
    if isinstance(found, web.StreamResponse):
        return found
    staff, ticket, data = found
    text = data.get("text", "").strip()
    if not 1 <= len(text) <= TEXT_MAX:
        message = f"请填写评论（最多 {TEXT_MAX} 字）"
        errors = {"text": message}
        return await render(request, staff, ticket, values=data, errors=errors, status=422)
    services = request.app[SERVICES]
    await service.comment(
        ticket, staff.userid, text, services.clock(), services.settings.public_url
    )
    await _ring(services, ticket)
    raise web.HTTPSeeOther(path_of(ticket.id) + "#timeline")


async def post_transition(request: web.Request) -> web.StreamResponse:
    found = await _posted_ticket(request)
    if isinstance(found, web.StreamResponse):
        return found
    staff, ticket, data = found
    to, note = data.get("to", ""), data.get("note", "").strip()[:TEXT_MAX] or None
    services = request.app[SERVICES]
    try:
        await service.transition(
            ticket, to, staff.userid, note, services.clock(), services.settings.public_url
        )
    except TransitionNotAllowed:
        fresh = await Ticket.get(id=ticket.id)
        now_status = STATUS.get(fresh.status, fresh.status)
        message = f"「{now_status}」的工单不能{move_label(fresh.status, to)}"
        return await render(request, staff, fresh, flash=message, status=409)
    await _ring(services, ticket)
    raise web.HTTPSeeOther(path_of(ticket.id))


async def _ring(services: Services, ticket: Ticket) -> None:
    """After the commit: a worker sends the notices the change queued (never this request)."""
    await doorbell.ring(services.inbox, ticket.id, services.clock())


async def render(
    request: web.Request,
    staff: Staff,
    ticket: Ticket,
    *,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    flash: str = "",
    status: int = 200,
) -> web.Response:
    now = request.app[SERVICES].clock()
    values, errors = values or {}, errors or {}
    urgent = " p0" if ticket.priority == "P0" else ""
    priority = f"<span class='badge{urgent}'>{escape(ticket.priority)}</span>"
    customer = (
        f'<a href="{escape(customer_path(ticket.customer))}">{escape(ticket.customer)}</a>'
        if ticket.customer
        else "—"
    )
    summary = rows(
        [
            ("状态", f"<span class='badge'>{STATUS.get(ticket.status, ticket.status)}</span>"),
            ("优先级", priority),
            ("分类", escape(ticket.category)),
            ("处理人", escape(ticket.assignee or "未分配")),
            ("客户", customer),
            ("首次响应", _first_response(ticket, now)),
            ("解决时限", _resolution(ticket, now)),
            ("描述", escape(ticket.description) or "—"),
        ]
    )
    csrf = request.app[STAFF_AUTH].csrf(staff)
    moves = "".join(
        f'<button type="submit" name="to" value="{to}"'
        f"{' class=secondary' if to in ('open', 'closed') else ''}>"
        f"{escape(move_label(ticket.status, to))}</button>"
        for to in TRANSITIONS.get(ticket.status, ())
    )
    actions = (
        f'<form class="card" method="post" action="{path_of(ticket.id)}/transitions">'
        f"<h2>处理</h2>{csrf_field(csrf)}"
        '<label for="f-note">备注（可选）</label>'
        f'<textarea id="f-note" name="note" maxlength="{TEXT_MAX}"></textarea>'
        f'<div class="buttons">{moves}</div></form>'
    )
    invalid = ' class="invalid"' if errors.get("text") else ""
    comment = (
        f'<form class="card" method="post" action="{path_of(ticket.id)}/comments">'
        f"<h2>评论</h2>{csrf_field(csrf)}<div{invalid}>"
        f'<textarea id="f-text" name="text" maxlength="{TEXT_MAX}" aria-label="评论">'
        f"{escape(values.get('text', ''))}</textarea>{error('text', errors.get('text'))}</div>"
        '<div class="buttons"><button type="submit">发表评论</button></div></form>'
    )
    entries = [
        (entry.at, _entry(entry))
        for entry in await TicketEvent.filter(ticket_id=ticket.id).order_by("id")
    ]
    body = (
        f"<h1>{escape(ticket.title)}</h1><p class='sub'>{escape(ticket.number)}</p>"
        + (f'<div class="flash" role="alert">{escape(flash)}</div>' if flash else "")
        + f'<section class="card">{summary}</section>'
        + actions
        + comment
        + '<section class="card" id="timeline"><h2>时间线</h2>'
        + timeline(entries)
        + "</section>"
    )
    return page(f"{ticket.number} {ticket.title}", body, status=status)


def _first_response(ticket: Ticket, now: float) -> str:
    if ticket.first_response_at is not None:
        who = escape(ticket.first_response_by or "")
        return f"<span class='badge ok'>已响应</span> {who}"
    return _due(ticket.first_response_due, now)


def _resolution(ticket: Ticket, now: float) -> str:
    if ticket.status in ("resolved", "closed"):
        return "<span class='badge ok'>已完成</span>"
    if ticket.paused_at is not None:
        return "<span class='badge'>等待客户，已暂停计时</span>"
    return _due(ticket.resolution_due, now)


def _due(due: float | None, now: float) -> str:
    if due is None:
        return "无 SLA"
    text = escape(f"{minutes_left(due, now)}（{when(due)}）")
    kind = "bad" if due < now else "warn" if due - now < 30 * 60 else ""
    return f"<span class='badge {kind}'>{text}</span>"


def _entry(entry: TicketEvent) -> str:
    data: dict[str, Any] = json.loads(entry.data or "{}")
    label = EVENTS.get(entry.kind, entry.kind)
    who = f" · {escape(entry.by)}" if entry.by else ""
    text = f"<span class='badge'>{escape(label)}</span>{who}"
    if entry.kind in ("transition", "reopened"):
        before, after = STATUS.get(data.get("from", ""), ""), STATUS.get(data.get("to", ""), "")
        text += f"：{escape(before)} → {escape(after)}"
        if data.get("note"):
            text += f"<br>{escape(str(data['note']))}"
    elif entry.kind == "comment":
        text += f"<br>{escape(str(data.get('text', '')))}"
    elif entry.kind == "created" and data.get("assignee"):
        text += f"：分配给 {escape(str(data['assignee']))}"
    return text


def register(app: web.Application) -> None:
    app.router.add_get("/s/tickets/{ticket_id}", show)
    app.router.add_post("/s/tickets/{ticket_id}/comments", post_comment)
    app.router.add_post("/s/tickets/{ticket_id}/transitions", post_transition)
