"""「联系我」 ways after creation: ``get_contact_way``, ``update_contact_way``, ``del_contact_way``.

``add_contact_way`` lives with the contact APIs (``contacts.py``); the ways are kept in
`SandboxState.contact_ways` by ``config_id``. WeCom answers an unknown ``config_id`` with 40058
(invalid parameter); ``type`` and ``scene`` cannot change (PROTOCOL §4.2).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from scrm.sandbox.state import SandboxState, authorize
from scrm.sandbox.wire import ApiError, body, reply, require

EXTERNAL = "/cgi-bin/externalcontact"
UPDATABLE = ("remark", "skip_verify", "style", "state", "user", "party", "expires_in")


def _way(state: SandboxState, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    config_id = str(require(data, "config_id"))
    way = state.contact_ways.get(config_id)
    if way is None:
        raise ApiError(40058, "invalid config_id")
    return config_id, way


async def get_contact_way(request: web.Request) -> web.Response:
    state = authorize(request)
    config_id, way = _way(state, body(request))
    fields = {k: v for k, v in way.items() if k != "config_id"}
    return reply(contact_way={"config_id": config_id, **fields})


async def update_contact_way(request: web.Request) -> web.Response:
    """Overwrite the given fields; the members must exist (40003), type 1 keeps one member."""
    state = authorize(request)
    data = body(request)
    _, way = _way(state, data)
    changes = {k: data[k] for k in UPDATABLE if k in data}
    users = changes.get("user", way.get("user") or [])
    if not isinstance(users, list):
        raise ApiError(40058, "user must be a list")
    for userid in users:
        if userid not in state.staff:
            raise ApiError(40003, f"invalid userid {userid}")
    if way.get("type") == 1 and "user" in changes and len(users) != 1:
        raise ApiError(40058, "type 1 needs exactly one user")
    if way.get("type") == 2 and not users and not changes.get("party", way.get("party")):
        raise ApiError(40058, "user or party required")
    if len(str(changes.get("state") or "")) > 30:
        raise ApiError(40058, "state exceed max length 30")
    way.update(changes)
    return reply()


async def del_contact_way(request: web.Request) -> web.Response:
    state = authorize(request)
    config_id, _ = _way(state, body(request))
    del state.contact_ways[config_id]
    return reply()


def register(app: web.Application) -> None:
    app.router.add_post(f"{EXTERNAL}/get_contact_way", get_contact_way)
    app.router.add_post(f"{EXTERNAL}/update_contact_way", update_contact_way)
    app.router.add_post(f"{EXTERNAL}/del_contact_way", del_contact_way)
