"""``/s/customers/{external_userid}``: who the customer is, where they came from, what happened.

Name, the members following them, the source channel and later touches, tags, the timeline
(`scrm.leads.timeline`) and a follow-up form that stores a follow-up by the signed-in member.
Every view — allowed or not — is one log line with the member's userid and the customer's
row id (no name, no external id: nothing personal in logs).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from html import escape
from typing import Any

from aiohttp import web

from scrm.api.customers import customer_json
from scrm.appkeys import SERVICES
from scrm.channels.customers import attribution_of
from scrm.leads.followups import add_followup
from scrm.leads.form import has_control
from scrm.leads.timeline import customer_timeline
from scrm.logsafe import loggable
from scrm.models import Customer, FollowRelation
from scrm.staff import followups
from scrm.staff.access import may_see_customer
from scrm.staff.forms import posted
from scrm.staff.links import customer_path as path_of
from scrm.staff.render import chips, forbidden, not_found, page, rows, timeline, when
from scrm.staff.session import STAFF_AUTH, Staff, require_staff

log = logging.getLogger(__name__)
KIND = {1: "微信用户", 2: "企业微信用户"}
RELATION = {"active": "跟进中", "pending": "待通过", "ended": "已结束"}
TYPES = {"followup": "跟进", "lead": "线索", "channel": "添加", "scan": "扫码", "tag": "规则"}
LEAD_KINDS = {
    "submitted": "提交了表单",
    "resubmitted": "再次提交表单",
    "assigned": "分配给",
    "reassigned": "改派给",
    "status": "状态变更",
    "released": "退回公海",
    "claimed": "领取",
    "recycled": "超时退回公海",
    "linked": "关联到客户",
}


async def _customer(request: web.Request) -> Customer | None:
    external_userid = request.match_info["external_userid"]
    if not 1 <= len(external_userid) <= 64 or has_control(external_userid):
        return None
    return await Customer.get_or_none(external_userid=external_userid)


async def _allowed(staff: Staff, customer: Customer | None, action: str) -> bool:
    allowed = customer is not None and await may_see_customer(
        staff.userid, customer.external_userid
    )
    log.info(
        "staff customer page: %s by userid=%s customer=%s allowed=%s",
        action,
        loggable(staff.userid),
        customer.id if customer else "unknown",
        allowed,
    )
    return allowed


async def show(request: web.Request) -> web.StreamResponse:
    staff = require_staff(request)
    customer = await _customer(request)
    if not await _allowed(staff, customer, "view"):
        return not_found("客户") if customer is None else forbidden()
    assert customer is not None
    return await render(request, staff, customer, {}, {})


async def post_followup(request: web.Request) -> web.StreamResponse:
    customer = await _customer(request)
    page_path = path_of(customer.external_userid) if customer else "/s/"
    sent = await posted(request, page_path)
    if isinstance(sent, web.Response):
        return sent
    if not await _allowed(sent.staff, customer, "followup"):
        return not_found("客户") if customer is None else forbidden()
    assert customer is not None
    fields, errors = followups.parse_form(sent.staff.userid, sent.data)
    if errors:
        return await render(request, sent.staff, customer, sent.data, errors, status=422)
    services = request.app[SERVICES]
    await add_followup(services, fields, external_userid=customer.external_userid)
    raise web.HTTPSeeOther(page_path + "#timeline")


async def render(
    request: web.Request,
    staff: Staff,
    customer: Customer,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    *,
    status: int = 200,
) -> web.Response:
    relations = (
        await FollowRelation.filter(customer=customer).order_by("id").prefetch_related("tags")
    )
    record = customer_json(customer, relations)
    attribution = await attribution_of(customer.external_userid)
    source = attribution["source"]
    owners = [
        f"{escape(f['userid'])} <span class='badge'>{RELATION.get(f['status'], f['status'])}</span>"
        for f in record["follow_users"]
    ]
    touches = [
        f"{escape(t['channel'])}（{escape(when(t['added_at']))}）" for t in attribution["touches"]
    ]
    summary = rows(
        [
            ("跟进人", "<br>".join(owners) or "无"),
            (
                "来源渠道",
                f"{escape(source['channel'])}（{escape(when(source['added_at']))}）"
                if source
                else "未知",
            ),
            ("再次添加", "<br>".join(touches) or "无"),
            ("标签", chips(t["tag_name"] for t in record["tags"])),
        ]
    )
    name = customer.name or "客户"
    corp = f"｜{escape(customer.corp_name)}" if customer.corp_name else ""
    items = await customer_timeline(customer.external_userid)
    csrf = request.app[STAFF_AUTH].csrf(staff)
    body = (
        f"<h1>{escape(name)}</h1><p class='sub'>{KIND.get(customer.type, '客户')}{corp}</p>"
        f'<section class="card">{summary}</section>'
        + followups.form(path_of(customer.external_userid) + "/followups", csrf, values, errors)
        + '<section class="card" id="timeline"><h2>动态</h2>'
        + timeline((item["at"], _item(item)) for item in items)
        + "</section>"
    )
    return page(name, body, status=status)


def _item(item: Mapping[str, Any]) -> str:
    kind = item["type"]
    label = f"<span class='badge'>{TYPES.get(kind, escape(kind))}</span> "
    if kind == "followup":
        way = followups.KINDS.get(item["kind"], item["kind"])
        remind = f"（提醒 {escape(when(item['remind_at']))}）" if item.get("remind_at") else ""
        return f"{label}{escape(item['by'])} · {escape(way)}{remind}<br>{escape(item['note'])}"
    if kind == "channel":
        channel = escape(item["channel"] or "未知渠道")
        return f"{label}通过「{channel}」添加了 {escape(item['userid'])}"
    if kind == "scan":
        return f"{label}扫描了小程序码「{escape(item['channel'] or '未知渠道')}」"
    if kind == "lead":
        what = LEAD_KINDS.get(item["kind"], item["kind"])
        who = f" {escape(item['userid'])}" if item.get("userid") else ""
        return f"{label}线索 #{item['lead_id']} {escape(what)}{who}"
    if kind == "tag":
        return f"{label}命中规则「{escape(item['rule'])}」"
    return label


def register(app: web.Application) -> None:
    app.router.add_get("/s/customers/{external_userid}", show)
    app.router.add_post("/s/customers/{external_userid}/followups", post_followup)
