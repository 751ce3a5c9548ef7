"""Customer contact APIs: ``externalcontact/get``, ``add_contact_way``, ``send_welcome_msg``."""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from scrm.sandbox.state import Relation, SandboxState, authorize
from scrm.sandbox.wire import ApiError, body, byte_len, reply, require

EXTERNAL = "/cgi-bin/externalcontact"


def follow_user_json(state: SandboxState, relation: Relation) -> dict[str, Any]:
    tags = []
    for tag_id in relation.tag_ids:
        tag = state.find_tag(tag_id)
        if tag is not None:
            group = state.tag_groups[tag.group_id]
            tags.append(
                {"group_name": group.group_name, "tag_name": tag.name, "tag_id": tag.id, "type": 1}
            )
    entry: dict[str, Any] = {
        "userid": relation.userid,
        "remark": relation.remark,
        "description": relation.description,
        "createtime": relation.createtime,
        "tags": tags,
        "add_way": relation.add_way,
        "oper_userid": relation.userid,
    }
    if relation.state:
        entry["state"] = relation.state
    return entry


async def get_external_contact(request: web.Request) -> web.Response:
    """Customer plus follow_user; pages of ``follow_user_page_size`` with ``next_cursor``."""
    state = authorize(request)
    external_userid = request.query.get("external_userid", "")
    if not external_userid:
        raise ApiError(40058, "external_userid missing")
    customer = state.customers.get(external_userid)
    relations = [
        r
        for r in state.relations.values()
        if r.external_userid == external_userid and not r.deleted_by_staff
    ]
    if customer is None or not relations:
        raise ApiError(40096, "invalid external userid")
    size = state.config.follow_user_page_size
    start = int(request.query.get("cursor") or 0)
    page = relations[start : start + size]
    contact: dict[str, Any] = {
        "external_userid": customer.external_userid,
        "name": customer.name,
        "type": customer.type,
        "gender": customer.gender,
        "avatar": customer.avatar,
    }
    if customer.unionid:
        contact["unionid"] = customer.unionid
    if customer.type == 2:
        contact["corp_name"] = customer.corp_name
    extra = {"next_cursor": str(start + size)} if start + size < len(relations) else {}
    return reply(
        external_contact=contact, follow_user=[follow_user_json(state, r) for r in page], **extra
    )


async def add_contact_way(request: web.Request) -> web.Response:
    """Create a 「联系我」 way; QR URL only for scene 2 (PROTOCOL §4.2)."""
    state = authorize(request)
    data = body(request)
    way_type, scene = data.get("type"), data.get("scene")
    if way_type not in (1, 2) or scene not in (1, 2):
        raise ApiError(40058, "type and scene must be 1 or 2")
    users = data.get("user") or []
    if way_type == 1 and len(users) != 1:
        raise ApiError(40058, "type 1 needs exactly one user")
    if way_type == 2 and not users and not data.get("party"):
        raise ApiError(40058, "user or party required")
    for userid in users:
        if userid not in state.staff:
            raise ApiError(40003, f"invalid userid {userid}")
    if len(str(data.get("state") or "")) > 30:
        raise ApiError(40058, "state exceed max length 30")
    if len(str(data.get("remark") or "")) > 30:
        raise ApiError(40058, "remark exceed max length 30")
    config_id = secrets.token_hex(16)
    fields: dict[str, Any] = {"config_id": config_id}
    if scene == 2:
        fields["qr_code"] = f"{request.url.origin()}/_sandbox/contact_way/{config_id}/qr.png"
    state.contact_ways[config_id] = {**data, **fields}
    return reply(**fields)


async def send_welcome_msg(request: web.Request) -> web.Response:
    """Deliver a welcome message: 41050 unknown/expired code, 41051 code already used."""
    state = authorize(request)
    data = body(request)
    code = state.welcome_codes.get(str(require(data, "welcome_code")))
    if code is None or code.expires_at <= state.clock():
        raise ApiError(41050, "invalid welcome_code")
    if code.used:
        raise ApiError(41051, "externaluser has started chatting")
    text = (data.get("text") or {}).get("content", "")
    attachments = data.get("attachments") or []
    if not text and not attachments:
        raise ApiError(40058, "text or attachments required")
    if byte_len(text) > 4000 or len(attachments) > 9:
        raise ApiError(40058, "text over 4000 bytes or more than 9 attachments")
    code.used = True
    state.sent["welcome"].append({**code.payload, "text": text, "attachments": attachments})
    return reply()


async def user_simplelist(request: web.Request) -> web.Response:
    """``user/simplelist``: the members of a department (1 = root holds everyone with
    ``fetch_child=1``); the sandbox has no department tree below the root."""
    state = authorize(request)
    try:
        department = int(request.query.get("department_id", ""))
    except ValueError:
        raise ApiError(60123, "invalid department id") from None
    known = {d for member in state.staff.values() for d in member.departments} | {1}
    if department not in known:
        raise ApiError(60123, "invalid department id")
    everyone = department == 1 and request.query.get("fetch_child") == "1"
    members = [m for m in state.staff.values() if everyone or department in m.departments]
    return reply(
        userlist=[
            {"userid": m.userid, "name": m.name, "department": m.departments} for m in members
        ]
    )


async def user_get(request: web.Request) -> web.Response:
    """``user/get``: one member, with ``direct_leader``; 60111 for an unknown userid."""
    state = authorize(request)
    member = state.staff.get(request.query.get("userid", ""))
    if member is None:
        raise ApiError(60111, "userid not found")
    return reply(
        userid=member.userid,
        name=member.name,
        department=member.departments,
        direct_leader=list(member.direct_leader),
        status=1,
    )


def register(app: web.Application) -> None:
    app.router.add_get("/cgi-bin/user/simplelist", user_simplelist)
    app.router.add_get("/cgi-bin/user/get", user_get)
    app.router.add_get(f"{EXTERNAL}/get", get_external_contact)
    app.router.add_post(f"{EXTERNAL}/add_contact_way", add_contact_way)
    app.router.add_post(f"{EXTERNAL}/send_welcome_msg", send_welcome_msg)
