"""``/s/leads/{id}``: a lead as its owner works it, or as the pool offers it to anyone.

The owner sees the phone in full, moves the status along the funnel and writes follow-ups
(one by the owner keeps the lead from being recycled); a pooled lead shows the phone masked
and a claim button (first claim wins; the daily cap applies). The services are the API's
(`scrm.leads.status`, `scrm.leads.followups`, `scrm.leads.pool`).
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from aiohttp import web

from adapters.kv import LockNotAcquired
from scrm.api.errors import ApiError
from scrm.api.params import parse_id
from scrm.appkeys import SERVICES
from scrm.channels.models import Channel
from scrm.leads.followups import add_followup
from scrm.leads.form import form_fields
from scrm.leads.models import FollowUp, Lead, LeadEvent
from scrm.leads.phone import mask_phone
from scrm.leads.pool import claim_lead
from scrm.leads.service import lead_phone
from scrm.leads.status import NEXT, change_status
from scrm.staff import followups
from scrm.staff.access import may_see_lead, owns_lead
from scrm.staff.customers import LEAD_KINDS
from scrm.staff.forms import posted
from scrm.staff.links import lead_path as path_of
from scrm.staff.render import chips, csrf_field, forbidden, not_found, page, rows, timeline
from scrm.staff.session import STAFF_AUTH, Staff, require_staff

STATUS = {
    "new": "新线索",
    "contacted": "已联系",
    "qualified": "有意向",
    "converted": "已成交",
    "lost": "已流失",
}


async def _lead(request: web.Request) -> Lead | None:
    row_id = parse_id(request.match_info["lead_id"])
    return None if row_id is None else await Lead.get_or_none(id=row_id)


async def show(request: web.Request) -> web.StreamResponse:
    staff = require_staff(request)
    lead = await _lead(request)
    if lead is None:
        return not_found("线索")
    if not may_see_lead(staff.userid, lead):
        return forbidden()
    return await render(request, staff, lead)


async def _posted_lead(
    request: web.Request,
) -> tuple[Staff, Lead, dict[str, str]] | web.StreamResponse:
    lead = await _lead(request)
    sent = await posted(request, path_of(lead.id) if lead else "/s/")
    if isinstance(sent, web.Response):
        return sent
    if lead is None:
        return not_found("线索")
    if not may_see_lead(sent.staff.userid, lead):
        return forbidden()
    return sent.staff, lead, sent.data


async def post_status(request: web.Request) -> web.StreamResponse:
    found = await _posted_lead(request)
    if isinstance(found, web.StreamResponse):
        return found
    staff, lead, data = found
    if not owns_lead(staff.userid, lead):
        return forbidden()
    to = data.get("to", "")
    if to not in NEXT[lead.status]:
        message = f"「{STATUS[lead.status]}」的线索不能改为「{STATUS.get(to, to)}」"
        return await render(request, staff, lead, flash=message, status=409)
    services = request.app[SERVICES]
    await change_status(services, lead, to, by=staff.userid, reason=None)
    raise web.HTTPSeeOther(path_of(lead.id))


async def post_followup(request: web.Request) -> web.StreamResponse:
    found = await _posted_lead(request)
    if isinstance(found, web.StreamResponse):
        return found
    staff, lead, data = found
    if not owns_lead(staff.userid, lead):
        return forbidden()
    fields, errors = followups.parse_form(staff.userid, data)
    if errors:
        return await render(request, staff, lead, values=data, errors=errors, status=422)
    await add_followup(request.app[SERVICES], fields, lead=lead)
    raise web.HTTPSeeOther(path_of(lead.id) + "#timeline")


async def post_claim(request: web.Request) -> web.StreamResponse:
    found = await _posted_lead(request)
    if isinstance(found, web.StreamResponse):
        return found
    staff, lead, _ = found
    try:
        await claim_lead(request.app[SERVICES], lead.id, staff.userid)
    except ApiError as exc:
        message = (
            "今天领取的线索已达上限" if exc.code == "claim_cap" else "这条线索已被其他同事领取"
        )
        fresh = await Lead.get(id=lead.id)
        if not may_see_lead(staff.userid, fresh):
            return forbidden()
        return await render(request, staff, fresh, flash=message, status=409)
    except LockNotAcquired:
        return await render(request, staff, lead, flash="操作太频繁，请稍后再试", status=429)
    raise web.HTTPSeeOther(path_of(lead.id))


async def render(
    request: web.Request,
    staff: Staff,
    lead: Lead,
    *,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    flash: str = "",
    status: int = 200,
) -> web.Response:
    services = request.app[SERVICES]
    owner = owns_lead(staff.userid, lead)
    phone = lead_phone(services, lead)
    channel = await Channel.get_or_none(id=lead.channel_id)  # type: ignore[attr-defined]
    labels = {f.key: f.label for f in form_fields(channel.options or {})} if channel else {}
    answers = [
        f"{escape(labels.get(str(k), str(k)))}：{escape(str(v))}"
        for k, v in (lead.answers or {}).items()
    ]
    summary = rows(
        [
            ("状态", f"<span class='badge'>{STATUS.get(lead.status, lead.status)}</span>"),
            ("电话", escape(phone if owner else mask_phone(phone))),
            ("公司", escape(lead.company) or "—"),
            ("渠道", escape(channel.name) if channel else "—"),
            ("负责人", escape(lead.owner) if lead.owner else "公海（未分配）"),
            ("其他", "<br>".join(answers) or "—"),
            ("提交次数", str(lead.submissions)),
        ]
    )
    csrf = request.app[STAFF_AUTH].csrf(staff)
    actions = ""
    if lead.pooled and lead.owner is None:
        actions = _buttons(
            path_of(lead.id) + "/claim", csrf, [("", "领取这条线索")], "这条线索在公海中"
        )
    elif owner and NEXT[lead.status]:
        choices = [(to, f"改为「{STATUS[to]}」") for to in NEXT[lead.status]]
        actions = _buttons(path_of(lead.id) + "/status", csrf, choices, "更新状态")
    form = ""
    if owner:
        form = followups.form(path_of(lead.id) + "/followups", csrf, values or {}, errors or {})
    entries = [
        (
            e.at,
            f"{escape(LEAD_KINDS.get(e.kind, e.kind))}"
            + (f" {escape(e.userid)}" if e.userid else "")
            + (f"（{escape(e.actor)}）" if e.actor and e.actor != e.userid else "")
            + _change(e),
        )
        for e in await LeadEvent.filter(lead_id=lead.id).order_by("at", "id")
    ]
    for f in await FollowUp.filter(lead_id=lead.id).order_by("created_at", "id"):
        way = followups.KINDS.get(f.kind, f.kind)
        entries.append((f.created_at, f"{escape(f.userid)} · 跟进（{way}）<br>{escape(f.note)}"))
    title = lead.name or f"线索 #{lead.id}"
    body = (
        f"<h1>{escape(title)}</h1><p class='sub'>线索 #{lead.id}</p>"
        + (f'<div class="flash" role="alert">{escape(flash)}</div>' if flash else "")
        + f'<section class="card">{summary}{actions}</section>'
        + form
        + '<section class="card" id="timeline"><h2>记录</h2>'
        + timeline(entries)
        + "</section>"
    )
    return page(title, body, status=status)


def _change(event: LeadEvent) -> str:
    data = event.data or {}
    if event.kind == "status" and "to" in data:
        before, after = STATUS.get(str(data.get("from")), ""), STATUS.get(str(data["to"]), "")
        return f"：{escape(before)} → {escape(after)}"
    if event.kind == "resubmitted" and data.get("changed"):
        return "：" + chips(str(name) for name in data["changed"])
    return ""


def _buttons(action: str, csrf: str, choices: list[tuple[str, str]], heading: str) -> str:
    buttons = "".join(
        f'<button type="submit" name="to" value="{escape(value)}"'
        f"{' class=secondary' if value == 'lost' else ''}>{escape(label)}</button>"
        if value
        else f'<button type="submit">{escape(label)}</button>'
        for value, label in choices
    )
    return (
        f'<form method="post" action="{escape(action)}"><p class="sub">{escape(heading)}</p>'
        f'{csrf_field(csrf)}<div class="buttons">{buttons}</div></form>'
    )


def register(app: web.Application) -> None:
    app.router.add_get("/s/leads/{lead_id}", show)
    app.router.add_post("/s/leads/{lead_id}/status", post_status)
    app.router.add_post("/s/leads/{lead_id}/followups", post_followup)
    app.router.add_post("/s/leads/{lead_id}/claim", post_claim)
