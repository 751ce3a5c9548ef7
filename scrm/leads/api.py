"""``/api/v1/leads``: list (phones masked), one lead (phone in full, history), change it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from scrm.api.errors import ApiError, json_body
from scrm.api.params import int_param, path_id, text_param
from scrm.appkeys import SERVICES
from scrm.leads.assign import reassign_lead
from scrm.leads.followups import add_followup, followup_json, parse_followup
from scrm.leads.form import has_control
from scrm.leads.models import STATUSES, Lead
from scrm.leads.pool import claim_lead, release_lead
from scrm.leads.queries import LeadFilter, find_leads, lead_detail
from scrm.leads.service import lead_json
from scrm.leads.status import change_status
from scrm.leads.timeline import customer_timeline
from scrm.models import Customer

PATCHABLE = ("status", "owner", "by", "reason")


async def list_leads(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    status = request.query.get("status")
    if status and status not in STATUSES:
        raise ApiError(422, "invalid", f"status must be one of {', '.join(STATUSES)}", "status")
    pooled = request.query.get("pooled")
    if pooled and pooled not in ("true", "false", "1", "0"):
        raise ApiError(422, "invalid", "pooled must be true/false or 1/0", "pooled")
    q = (_query(request, "q") or "").strip()
    if len(q) > 100:
        raise ApiError(422, "invalid", "q is at most 100 characters", "q")
    where = LeadFilter(
        channel=int_param(request, "channel", default=None, low=1, high=2**62),
        owner=text_param(request, "owner", limit=64) or None,
        status=status or None,
        pooled=pooled in ("true", "1") if pooled else None,
        q=q or None,
        cursor=int_param(request, "cursor", default=None, low=1, high=2**62),
        limit=int_param(request, "limit", default=50, low=1, high=200),
    )
    page, next_cursor = await find_leads(services, where)
    return web.json_response(
        {
            "leads": [lead_json(services, lead) for lead in page],
            "next_cursor": None if next_cursor is None else str(next_cursor),
        }
    )


async def get_lead(request: web.Request) -> web.Response:
    lead = await _lead(request)
    return web.json_response(await _full(request, lead))


async def patch_lead(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    lead = await _lead(request)
    body = await json_body(request)
    if not isinstance(body, Mapping):
        raise ApiError(422, "invalid", "the body must be a JSON object", "body")
    for name in body:
        if name not in PATCHABLE:
            raise ApiError(422, "invalid", f"unknown field {name!r}", str(name))
    by = _text(body, "by", 64)
    reason = _text(body, "reason", 200)
    status = body.get("status")
    owner = body.get("owner")
    if "status" in body and status is None:
        raise ApiError(422, "invalid", "status cannot be null", "status")
    if "owner" in body and owner is None:
        raise ApiError(422, "invalid", "owner cannot be null (release the lead instead)", "owner")
    if status is None and owner is None:
        raise ApiError(422, "invalid", "give status or owner", "status")
    if status is not None and status not in STATUSES:
        raise ApiError(422, "invalid", f"status must be one of {', '.join(STATUSES)}", "status")
    if owner is not None and (
        not isinstance(owner, str) or not 1 <= len(owner) <= 64 or has_control(owner)
    ):
        raise ApiError(422, "invalid", "owner must be a userid (1..64 characters)", "owner")
    if owner is not None and not by:
        raise ApiError(422, "invalid", "by (who reassigns) is required with owner", "by")
    if status is not None:
        await change_status(services, lead, status, by=by, reason=reason)
    if owner is not None:
        await reassign_lead(services, lead, owner, by=str(by), reason=reason)
    return web.json_response(await _full(request, await Lead.get(id=lead.id)))


def _text(body: Mapping[str, Any], name: str, most: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= most or has_control(value):
        raise ApiError(422, "invalid", f"{name} must be 1..{most} characters", name)
    return value.strip()


def _query(request: web.Request, name: str) -> str | None:
    """A text query parameter; control characters (NUL) are refused, not sent to the DB."""
    value = request.query.get(name)
    if value is not None and has_control(value):
        raise ApiError(422, "invalid", f"{name} has control characters", name)
    return value


async def _full(request: web.Request, lead: Lead) -> dict[str, Any]:
    return await lead_detail(request.app[SERVICES], lead)


async def _lead(request: web.Request) -> Lead:
    lead_id = path_id(request, "lead_id", "lead")
    lead = await Lead.get_or_none(id=lead_id)
    if lead is None:
        raise ApiError(404, "not_found", f"lead {lead_id} does not exist")
    return lead


async def release(request: web.Request) -> web.Response:
    lead = await _lead(request)
    body = await _object(request)
    for name in body:
        if name not in ("by", "reason"):
            raise ApiError(422, "invalid", f"unknown field {name!r}", str(name))
    by = _text(body, "by", 64)
    if not by:
        raise ApiError(422, "invalid", "by (who releases) is required", "by")
    changed = await release_lead(
        request.app[SERVICES], lead, by=by, reason=_text(body, "reason", 200)
    )
    return web.json_response(await _full(request, changed))


async def claim(request: web.Request) -> web.Response:
    lead = await _lead(request)
    body = await _object(request)
    for name in body:
        if name != "by":
            raise ApiError(422, "invalid", f"unknown field {name!r}", str(name))
    by = _text(body, "by", 64)
    if not by:
        raise ApiError(422, "invalid", "by (the claiming userid) is required", "by")
    changed = await claim_lead(request.app[SERVICES], lead.id, by)
    return web.json_response(await _full(request, changed))


async def _object(request: web.Request) -> Mapping[str, Any]:
    body = await json_body(request)
    if not isinstance(body, Mapping):
        raise ApiError(422, "invalid", "the body must be a JSON object", "body")
    return body


async def lead_followup(request: web.Request) -> web.Response:
    lead = await _lead(request)
    fields = parse_followup(await json_body(request))
    followup = await add_followup(request.app[SERVICES], fields, lead=lead)
    return web.json_response(followup_json(followup), status=201)


async def customer_followup(request: web.Request) -> web.Response:
    external_userid = await _customer(request)
    fields = parse_followup(await json_body(request))
    followup = await add_followup(request.app[SERVICES], fields, external_userid=external_userid)
    return web.json_response(followup_json(followup), status=201)


async def timeline(request: web.Request) -> web.Response:
    external_userid = await _customer(request)
    items = await customer_timeline(external_userid)
    return web.json_response({"external_userid": external_userid, "items": items})


async def _customer(request: web.Request) -> str:
    external_userid = request.match_info["external_userid"]
    if (
        len(external_userid) > 64
        or has_control(external_userid)
        or not await Customer.exists(external_userid=external_userid)
    ):
        raise ApiError(404, "not_found", f"customer {external_userid} does not exist")
    return external_userid


def register(app: web.Application) -> None:
    app.router.add_get("/api/v1/leads", list_leads)
    app.router.add_get("/api/v1/leads/{lead_id}", get_lead)
    app.router.add_patch("/api/v1/leads/{lead_id}", patch_lead)
    app.router.add_post("/api/v1/leads/{lead_id}/followups", lead_followup)
    app.router.add_post("/api/v1/leads/{lead_id}/release", release)
    app.router.add_post("/api/v1/leads/{lead_id}/claim", claim)
    app.router.add_post("/api/v1/customers/{external_userid}/followups", customer_followup)
    app.router.add_get("/api/v1/customers/{external_userid}/timeline", timeline)
