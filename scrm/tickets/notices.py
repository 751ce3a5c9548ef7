"""The words of ticket notices (markdown as WeCom robots render it) and their queueing.

A notice names the ticket's number and links to it. It carries the customer, the category
and the matched keywords — never the customer's words unless the route allows the group to
see them. Queued rows are merged into one message per send (`notify.flush`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tortoise.backends.base.client import BaseDBAsyncClient

from scrm.staff.links import ticket_path
from scrm.tickets.models import TicketNotice

if TYPE_CHECKING:
    from scrm.tickets.models import Ticket

# WeCom robot markdown colours: warning (orange-red), comment (grey), info (green).
COLOURS = {"P0": "warning", "P1": "warning", "P2": "comment", "P3": "info"}
LABELS = {"P0": "红色预警", "P1": "紧急", "P2": "普通", "P3": "低"}
STATUS_NAMES = {
    "open": "待处理",
    "assigned": "已分派",
    "in_progress": "处理中",
    "waiting_customer": "等待客户",
    "resolved": "已解决",
    "closed": "已关闭",
}
WARNING, BREACH = "【即将超时】", "【已超时】"


def link(ticket: Ticket, base: str) -> str:
    return base.rstrip("/") + ticket_path(ticket.id)  # the staff page (scrm/staff/tickets.py)


def _head(ticket: Ticket, what: str) -> str:
    colour = COLOURS.get(ticket.priority, "comment")
    label = LABELS.get(ticket.priority, ticket.priority)
    return f'<font color="{colour}">【{ticket.priority} {label}】</font>{what} **{ticket.number}**'


def _tail(ticket: Ticket, base: str) -> str:
    return f"[查看工单 {ticket.number}]({link(ticket, base)})"


def created(
    ticket: Ticket,
    keywords: Sequence[str],
    base: str,
    extra: Mapping[str, Any],
    show_text: bool,
    customer_name: str = "",
) -> str:
    lines = [
        _head(ticket, "新工单"),
        f"> 标题：{ticket.title}",
        f"> 分类：{ticket.category}　优先级：{ticket.priority}",
    ]
    if ticket.customer:
        lines.append(f"> 客户：{customer_name or ticket.customer}")  # the name staff know them by
    if keywords:
        lines.append(f"> 关键词：{'、'.join(keywords)}")
    if ticket.assignee:
        lines.append(f"> 处理人：<@{ticket.assignee}>")
    if show_text and extra.get("text"):
        lines.append(f"> 原文：{extra['text']}")
    return "\n".join([*lines, _tail(ticket, base)])


def merged(ticket: Ticket, keywords: Sequence[str], base: str) -> str:
    more = f"（关键词：{'、'.join(keywords)}）" if keywords else ""
    return f"{_head(ticket, '同一客户再次提出')}{more}\n{_tail(ticket, base)}"


def assigned(ticket: Ticket, by: str | None, base: str) -> str:
    who = f"<@{ticket.assignee}>" if ticket.assignee else "无人"
    return f"{_head(ticket, '工单分派')} → {who}\n{_tail(ticket, base)}"


def status(ticket: Ticket, before: str, by: str | None, base: str) -> str:
    change = (
        f"{STATUS_NAMES.get(before, before)} → {STATUS_NAMES.get(ticket.status, ticket.status)}"
    )
    actor = f"（{by}）" if by else ""
    return f"{_head(ticket, '状态变更')}：{change}{actor}\n{_tail(ticket, base)}"


def comment(ticket: Ticket, by: str, base: str) -> str:
    return f"{_head(ticket, '新回复')}（{by}）\n{_tail(ticket, base)}"


def sla(ticket: Ticket, breach: bool, clock: str, base: str) -> str:
    label = BREACH if breach else WARNING
    what = "首次响应" if clock == "first_response" else "解决"
    extra = f"，已升级为 {ticket.priority}" if breach else ""
    return f"{label}{_head(ticket, what + '时限')}{extra}\n{_tail(ticket, base)}"


async def enqueue(
    conn: BaseDBAsyncClient,
    ticket: Ticket,
    kind: str,
    text: str,
    channels: Iterable[int],
    now: float,
    origin_at: float | None = None,
) -> None:
    """Queue a notice for each channel, in the caller's transaction."""
    rows = [
        TicketNotice(
            channel_id=channel_id,
            ticket_id=ticket.id,
            kind=kind,
            text=text,
            next_at=now,
            origin_at=origin_at,
            created_at=now,
        )
        for channel_id in dict.fromkeys(channels)
    ]
    if rows:
        await TicketNotice.bulk_create(rows, using_db=conn)


def truncate_bytes(text: str, limit: int, marker: str = "…") -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, at a character boundary."""
    data = text.encode()
    if len(data) <= limit:
        return text
    room = limit - len(marker.encode())
    return data[:room].decode("utf-8", errors="ignore") + marker


MENTION = re.compile(r"<@([^<>\s]+)>")


def for_channel(text: str, kind: str) -> str:
    """A notice as the channel shows it: ``<@userid>`` mentions a member only in a group
    robot's markdown; an app message, an app chat or an email would print it literally."""
    return text if kind == "robot" else MENTION.sub(r"@\1", text)


def merge(texts: Sequence[str], numbers: Sequence[str], limit: int) -> str:
    """One message for several notices; every ticket number stays in it whatever the cut."""
    if len(texts) == 1:
        return truncate_bytes(texts[0], limit)
    head = f"**{len(texts)} 条工单通知**：{'、'.join(dict.fromkeys(numbers))}"
    head = truncate_bytes(head, limit)
    room = limit - len(head.encode()) - 2
    body = truncate_bytes("\n\n".join(texts), room) if room > 8 else ""
    return f"{head}\n\n{body}" if body else head
