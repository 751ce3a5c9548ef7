"""Customers as people look for them: by name, channel, tag, owner, active or lost.

``GET /api/v1/customers`` pages newest first by id (a stable order: ids never change), and
each customer's ``source`` is the channel of their earliest add, ``touches`` the later ones.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from aiohttp import web
from tortoise.expressions import Q, Subquery

from scrm.api.errors import ApiError
from scrm.api.params import int_param
from scrm.channels.models import Channel, ChannelLink
from scrm.models import Customer, CustomerTag, FollowRelation

LIVE = ("active", "pending")
STATUSES = ("active", "lost")


async def list_customers(request: web.Request) -> web.Response:
    limit = int_param(request, "limit", default=50, low=1, high=200)
    cursor = int_param(request, "cursor", default=None, low=1, high=2**62)
    channel = int_param(request, "channel", default=None, low=1, high=2**62)
    status = request.query.get("status")
    if status is not None and status not in STATUSES:
        raise ApiError(422, "invalid", "status must be active or lost", "status")
    for name in ("q", "tag", "staff"):
        value = request.query.get(name, "")
        if len(value) > 64 or "\x00" in value:
            raise ApiError(422, "invalid", f"{name} is at most 64 characters, no NUL", name)
    query = Customer.all()
    if channel is not None:
        linked = ChannelLink.filter(channel_id=channel).values("external_userid")
        query = query.filter(external_userid__in=Subquery(linked))
    tag = request.query.get("tag")
    if tag:
        tagged = CustomerTag.filter(
            Q(tag_id=tag) | Q(tag_name=tag), relation__status__in=LIVE
        ).values("relation__customer_id")
        query = query.filter(id__in=Subquery(tagged))
    staff = request.query.get("staff")
    if staff:
        owned = FollowRelation.filter(userid=staff).values("customer_id")
        query = query.filter(id__in=Subquery(owned))
    if status is not None:
        live = FollowRelation.filter(status__in=LIVE).values("customer_id")
        if status == "active":
            query = query.filter(id__in=Subquery(live))
        else:
            query = query.exclude(id__in=Subquery(live))
    text = request.query.get("q", "").strip()
    if text:
        query = query.filter(Q(name__icontains=text) | Q(external_userid=text))
    if cursor is not None:
        query = query.filter(id__lt=cursor)
    rows = await query.order_by("-id").limit(limit + 1)
    page, more = rows[:limit], len(rows) > limit
    attributions = await attributions_for([c.external_userid for c in page])
    relations = await _relations([c.id for c in page])
    return web.json_response(
        {
            "customers": [
                _summary(c, relations.get(c.id, []), attributions.get(c.external_userid))
                for c in page
            ],
            "next_cursor": str(page[-1].id) if more and page else None,
        }
    )


async def attributions_for(external_userids: list[str]) -> dict[str, dict[str, Any]]:
    """external_userid → ``{"source": link | None, "touches": [link, …]}`` (oldest first)."""
    if not external_userids:
        return {}
    links = (
        await ChannelLink.filter(external_userid__in=external_userids)
        .order_by("added_at", "id")
        .prefetch_related("channel")
    )
    grouped: dict[str, list[ChannelLink]] = defaultdict(list)
    for link in links:
        grouped[link.external_userid].append(link)
    return {
        ext: {"source": _link_json(found[0]), "touches": [_link_json(x) for x in found[1:]]}
        for ext, found in grouped.items()
    }


async def attribution_of(external_userid: str) -> dict[str, Any]:
    """The single-customer view's ``source`` and ``touches``."""
    found = await attributions_for([external_userid])
    return found.get(external_userid) or {"source": None, "touches": []}


def _link_json(link: ChannelLink) -> dict[str, Any]:
    channel: Channel = link.channel
    return {
        "channel_id": channel.id,
        "channel": channel.name,
        "state": channel.state,
        "userid": link.userid,
        "added_at": link.added_at,
    }


async def _relations(customer_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    rows = await FollowRelation.filter(customer_id__in=customer_ids).values_list(
        "customer_id", "userid", "status"
    )
    found: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for customer_id, userid, status in rows:
        found[int(customer_id)].append((str(userid), str(status)))
    return found


def _summary(
    customer: Customer, relations: list[tuple[str, str]], attribution: dict[str, Any] | None
) -> dict[str, Any]:
    owners = sorted(userid for userid, status in relations if status in LIVE)
    return {
        "external_userid": customer.external_userid,
        "name": customer.name,
        "type": customer.type,
        "corp_name": customer.corp_name,
        "avatar": customer.avatar,
        "status": "active" if owners else "lost",
        "staff": owners,
        "source": attribution["source"] if attribution else None,
        "touches": len(attribution["touches"]) if attribution else 0,
    }
