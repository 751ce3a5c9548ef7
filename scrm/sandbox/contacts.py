"""Customer contact APIs (``externalcontact/get``, ``get_follow_user_list``,
``add_contact_way``, ``send_welcome_msg``) and the directory (``department/simplelist``,
``user/simplelist``)."""

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
    if relation.remark_mobiles:  # WeCom leaves the key out when the member noted no number
        entry["remark_mobiles"] = list(relation.remark_mobiles)
    return entry


async def get_external_contact(request: web.Request) -> web.Response:
    """Customer plus follow_user; pages of ``follow_user_page_size`` with ``next_cursor``."""
    state = authorize(request)
    external_userid = request.query.get("external_userid", "")
    if not external_userid:
        raise ApiError(41035, "missing external userid")
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


async def get_follow_user_list(request: web.Request) -> web.Response:
    """The members with 客户联系 enabled (every staff member, in the sandbox)."""
    state = authorize(request)
    return reply(follow_user=list(state.staff))


async def add_contact_way(request: web.Request) -> web.Response:
    """Create a 「联系我」 way; QR URL only for scene 2 (PROTOCOL §4.2).

    41037/41038: type/scene missing; 41039/41040: type/scene not 1 or 2.
    """
    state = authorize(request)
    data = body(request)
    way_type = require(data, "type", 41037)
    scene = require(data, "scene", 41038)
    if way_type not in (1, 2):
        raise ApiError(41039, "invalid contact way type")
    if scene not in (1, 2):
        raise ApiError(41040, "invalid contact way scene")
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
    code = state.welcome_codes.get(str(require(data, "welcome_code", 41049)))
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


def _department(state: SandboxState, raw: str | None) -> int:
    try:
        department = int(raw or "")
    except ValueError:
        raise ApiError(60123, "invalid department id") from None
    if department not in state.departments:
        raise ApiError(60123, "invalid department id")
    return department


async def department_simplelist(request: web.Request) -> web.Response:
    """``department/simplelist?id=``: the department and every sub-department, recursively
    (no ``id``: the whole tree)."""
    state = authorize(request)
    raw = request.query.get("id")
    root = 1 if not raw else _department(state, raw)
    return reply(
        department_id=[
            {"id": d.id, "parentid": d.parentid, "order": d.order} for d in state.subtree(root)
        ]
    )


async def user_simplelist(request: web.Request) -> web.Response:
    """``user/simplelist``: the members directly in one department.

    ``fetch_child`` is ignored: WeCom no longer documents it (since 2022-08), so callers
    walk ``department/simplelist`` and list each department.
    """
    state = authorize(request)
    department = _department(state, request.query.get("department_id"))
    members = [m for m in state.staff.values() if department in m.departments]
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
    app.router.add_get("/cgi-bin/department/simplelist", department_simplelist)
    app.router.add_get(f"{EXTERNAL}/get_follow_user_list", get_follow_user_list)
    app.router.add_get("/cgi-bin/user/get", user_get)
    app.router.add_get(f"{EXTERNAL}/get", get_external_contact)
    app.router.add_post(f"{EXTERNAL}/add_contact_way", add_contact_way)
    app.router.add_post(f"{EXTERNAL}/send_welcome_msg", send_welcome_msg)
