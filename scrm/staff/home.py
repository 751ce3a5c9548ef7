"""``/s/``: the signed-in member's open tickets and leads, and what waits in the pool."""

from __future__ import annotations

from html import escape

from aiohttp import web

from scrm.leads.models import OPEN_STATUSES as LEAD_OPEN
from scrm.leads.models import Lead
from scrm.staff.render import page
from scrm.staff.session import require_staff
from scrm.tickets.models import Ticket
from scrm.tickets.states import OPEN_STATUSES as TICKET_OPEN

SHOWN = 20


async def show(request: web.Request) -> web.StreamResponse:
    staff = require_staff(request)
    tickets = (
        await Ticket.filter(assignee=staff.userid, status__in=TICKET_OPEN)
        .order_by("priority", "id")
        .limit(SHOWN)
    )
    mine = (
        await Lead.filter(owner=staff.userid, pooled=False, status__in=LEAD_OPEN)
        .order_by("-id")
        .limit(SHOWN)
    )
    pooled = await Lead.filter(pooled=True, status__in=LEAD_OPEN).order_by("-id").limit(SHOWN)

    def links(items: list[tuple[str, str]]) -> str:
        if not items:
            return '<p class="sub">暂无</p>'
        shown = "".join(f'<li><a href="{h}">{escape(t)}</a></li>' for h, t in items)
        return f"<ul>{shown}</ul>"

    body = (
        f"<h1>我的工作台</h1><p class='sub'>{escape(staff.userid)}</p>"
        '<section class="card"><h2>待处理工单</h2>'
        + links([(f"/s/tickets/{t.id}", f"{t.priority} {t.number} {t.title}") for t in tickets])
        + '</section><section class="card"><h2>我的线索</h2>'
        + links([(f"/s/leads/{x.id}", x.name or f"线索 #{x.id}") for x in mine])
        + '</section><section class="card"><h2>公海线索</h2>'
        + links([(f"/s/leads/{x.id}", x.name or f"线索 #{x.id}") for x in pooled])
        + "</section>"
    )
    return page("我的工作台", body)


def register(app: web.Application) -> None:
    app.router.add_get("/s/", show)
