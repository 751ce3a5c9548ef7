"""Customer read API: the record with its follow relations, state (channel) and tags."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from scrm.api.errors import ApiError
from scrm.api.params import path_userid
from scrm.channels.customers import attribution_of
from scrm.leads.queries import customer_leads
from scrm.models import Customer, FollowRelation


async def get_customer(request: web.Request) -> web.Response:
    external_userid = path_userid(request, "external_userid", "customer")
    customer = await Customer.get_or_none(external_userid=external_userid)
    if customer is None:
        raise ApiError(404, "not_found", f"customer {external_userid} does not exist")
    relations = (
        await FollowRelation.filter(customer=customer).order_by("id").prefetch_related("tags")
    )
    attribution = await attribution_of(external_userid)  # source channel and later touches
    leads = await customer_leads(external_userid)  # form and mini-program leads it became
    return web.json_response(customer_json(customer, relations) | attribution | {"leads": leads})


def customer_json(customer: Customer, relations: list[FollowRelation]) -> dict[str, Any]:
    follow_users = [_relation_json(r) for r in relations]
    active = [r for r in relations if r.status != "ended"]
    first = min(active or relations, key=lambda r: r.added_at or 0, default=None)
    tags = {t["tag_id"]: t for f in follow_users if f["status"] != "ended" for t in f["tags"]}
    return {
        "external_userid": customer.external_userid,
        "name": customer.name,
        "type": customer.type,
        "gender": customer.gender,
        "avatar": customer.avatar,
        "unionid": customer.unionid,
        "corp_name": customer.corp_name,
        "state": first.state if first else None,
        "tags": sorted(tags.values(), key=lambda t: t["tag_id"]),
        "follow_users": follow_users,
    }


def _relation_json(relation: FollowRelation) -> dict[str, Any]:
    return {
        "userid": relation.userid,
        "status": relation.status,
        "remark": relation.remark,
        "description": relation.description,
        "state": relation.state,
        "add_way": relation.add_way,
        "added_at": relation.added_at,
        "ended_at": relation.ended_at,
        "ended_reason": relation.ended_reason,
        "tags": [
            {
                "tag_id": tag.tag_id,
                "tag_name": tag.tag_name,
                "group_name": tag.group_name,
                "type": tag.type,
            }
            for tag in sorted(relation.tags, key=lambda t: t.tag_id)
        ],
    }


def register(app: web.Application) -> None:
    app.router.add_get("/api/v1/customers/{external_userid}", get_customer)
