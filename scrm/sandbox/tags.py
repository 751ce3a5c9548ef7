"""Enterprise tag APIs: ``get_corp_tag_list``, ``add_corp_tag``, ``mark_tag`` (PROTOCOL §4.4)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from scrm.sandbox.state import TagGroup, authorize
from scrm.sandbox.wire import ApiError, body, reply

EXTERNAL = "/cgi-bin/externalcontact"


def group_json(group: TagGroup, tag_ids: set[str] | None = None) -> dict[str, Any]:
    tags = [t for t in group.tags if tag_ids is None or t.id in tag_ids]
    return {
        "group_id": group.group_id,
        "group_name": group.group_name,
        "create_time": group.create_time,
        "order": group.order,
        "deleted": False,
        "tag": [
            {
                "id": t.id,
                "name": t.name,
                "create_time": t.create_time,
                "order": t.order,
                "deleted": False,
            }
            for t in tags
        ],
    }


async def get_corp_tag_list(request: web.Request) -> web.Response:
    """All groups when both filters are empty; group_id wins over tag_id."""
    state = authorize(request)
    data = body(request)
    group_ids, tag_ids = data.get("group_id") or [], data.get("tag_id") or []
    if group_ids:
        groups = [group_json(state.tag_groups[g]) for g in group_ids if g in state.tag_groups]
    elif tag_ids:
        wanted = set(tag_ids)
        groups = [
            group_json(g, wanted)
            for g in state.tag_groups.values()
            if any(t.id in wanted for t in g.tags)
        ]
    else:
        groups = [group_json(g) for g in state.tag_groups.values()]
    return reply(tag_group=groups)


async def add_corp_tag(request: web.Request) -> web.Response:
    """Add tags to a group given by id, or by name (an unknown name creates the group)."""
    state = authorize(request)
    data = body(request)
    tags = data.get("tag") or []
    names = [str(t.get("name", "")) if isinstance(t, dict) else "" for t in tags]
    if not names or any(not n or len(n) > 30 for n in names):
        raise ApiError(40058, "tag names must be 1..30 characters")
    if data.get("group_id"):
        group = state.tag_groups.get(data["group_id"])
        if group is None:
            raise ApiError(40068, "invalid tagid")
    elif data.get("group_name"):
        name = str(data["group_name"])
        if len(name) > 30:
            raise ApiError(40058, "group_name exceed max length 30")
        group = next((g for g in state.tag_groups.values() if g.group_name == name), None)
        group = group or state.add_tag_group(name, order=int(data.get("order") or 0))
    else:
        raise ApiError(40058, "group_id or group_name required")
    existing = {t.name for t in group.tags}
    if any(n in existing for n in names) or len(set(names)) != len(names):
        raise ApiError(40071, "UserTag Name Already Exist")
    created = {state.add_tag(group.group_id, t["name"], int(t.get("order") or 0)).id for t in tags}
    return reply(tag_group=group_json(group, created))


async def mark_tag(request: web.Request) -> web.Response:
    """Tag one relation: 40058 nothing to do, 84061 not friends, 40068 unknown tag."""
    state = authorize(request)
    data = body(request)
    add, remove = data.get("add_tag") or [], data.get("remove_tag") or []
    if not add and not remove:
        raise ApiError(40058, "add_tag and remove_tag cannot both be empty")
    userid, external_userid = data.get("userid", ""), data.get("external_userid", "")
    if not external_userid:
        raise ApiError(41035, "missing external userid")
    if userid not in state.staff:
        raise ApiError(40003, "invalid userid")
    relation = state.relation(userid, external_userid)
    if relation is None:
        raise ApiError(84061, "not external contact")
    if any(state.find_tag(t) is None for t in [*add, *remove]):
        raise ApiError(40068, "invalid tagid")
    relation.tag_ids = [t for t in relation.tag_ids if t not in remove]
    relation.tag_ids += [t for t in dict.fromkeys(add) if t not in relation.tag_ids]
    return reply()


def register(app: web.Application) -> None:
    app.router.add_post(f"{EXTERNAL}/get_corp_tag_list", get_corp_tag_list)
    app.router.add_post(f"{EXTERNAL}/add_corp_tag", add_corp_tag)
    app.router.add_post(f"{EXTERNAL}/mark_tag", mark_tag)
