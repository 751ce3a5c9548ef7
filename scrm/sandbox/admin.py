"""``/_sandbox/...``: set the fake corp up, inject faults, read the call log, play scenarios.

Dev-only endpoints (the sandbox binds to 127.0.0.1); every one maps onto a `SandboxState`
method so tests in-process and tools over HTTP set up the same way.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aiohttp import web

from scrm.sandbox import scenarios
from scrm.sandbox.faults import Fault
from scrm.sandbox.png import qr_png
from scrm.sandbox.state import STATE, SandboxState

routes = web.RouteTableDef()


def _state(request: web.Request) -> SandboxState:
    return request.app[STATE]


async def _json(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    data = await request.json()
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return data


@routes.get("/_sandbox/calls")
async def list_calls(request: web.Request) -> web.Response:
    calls = _state(request).calls.find(request.query.get("path"))
    return web.json_response({"calls": [c.to_json() for c in calls]})


@routes.delete("/_sandbox/calls")
async def clear_calls(request: web.Request) -> web.Response:
    _state(request).calls.clear()
    return web.json_response({"ok": True})


@routes.get("/_sandbox/sent")
async def list_sent(request: web.Request) -> web.Response:
    """Messages delivered: welcome, app_message, appchat, robot, wxacode."""
    return web.json_response(_state(request).sent)


@routes.post("/_sandbox/staff")
async def add_staff(request: web.Request) -> web.Response:
    """``{"userid", "name"?, "department"?: [ids]}`` (default: the root department 1)."""
    data = await _json(request)
    departments = [int(d) for d in data.get("department") or [1]]
    member = _state(request).add_staff(data["userid"], data.get("name"), departments)
    return web.json_response(asdict(member))


@routes.post("/_sandbox/departments")
async def add_department(request: web.Request) -> web.Response:
    """``{"id", "name"?, "parentid"?: 1, "order"?}``: a department in the tree."""
    data = await _json(request)
    department = _state(request).add_department(
        int(data["id"]),
        data.get("name"),
        int(data.get("parentid") or 1),
        int(data.get("order") or 0),
    )
    return web.json_response(asdict(department))


@routes.post("/_sandbox/customers")
async def add_customer(request: web.Request) -> web.Response:
    """A customer plus follow relations: ``{"name", "follow_user": [{"userid", "state", ...}]}``."""
    state, data = _state(request), await _json(request)
    follow = data.pop("follow_user", [])
    if "userid" in data:
        follow.append({"userid": data.pop("userid"), "state": data.pop("state", None)})
    customer = state.add_customer(data.pop("external_userid", None), **data)
    relations = [state.add_relation(f.pop("userid"), customer.external_userid, **f) for f in follow]
    return web.json_response({**asdict(customer), "follow_user": [asdict(r) for r in relations]})


@routes.post("/_sandbox/tag_groups")
async def add_tag_group(request: web.Request) -> web.Response:
    data = await _json(request)
    group = _state(request).add_tag_group(
        data["group_name"], data.get("tags", []), data.get("order", 0)
    )
    return web.json_response(asdict(group))


@routes.post("/_sandbox/robots")
async def add_robot(request: web.Request) -> web.Response:
    return web.json_response({"key": _state(request).add_robot((await _json(request)).get("key"))})


@routes.delete("/_sandbox/robots/{key}")
async def remove_robot(request: web.Request) -> web.Response:
    _state(request).remove_robot(request.match_info["key"])
    return web.Response(status=204)


@routes.post("/_sandbox/appchats")
async def add_appchat(request: web.Request) -> web.Response:
    data = await _json(request)
    chatid = _state(request).add_appchat(
        data.get("chatid"), data.get("name", ""), data.get("userlist", [])
    )
    return web.json_response({"chatid": chatid})


@routes.post("/_sandbox/oauth_codes")
async def issue_oauth_code(request: web.Request) -> web.Response:
    return web.json_response({"code": _state(request).issue_oauth_code(**await _json(request))})


@routes.post("/_sandbox/js_codes")
async def issue_js_code(request: web.Request) -> web.Response:
    state = _state(request)
    code = state.issue_js_code(**await _json(request))
    return web.json_response({"code": code, **state.js_codes[code].payload})


@routes.post("/_sandbox/welcome_codes")
async def issue_welcome_code(request: web.Request) -> web.Response:
    data = await _json(request)
    code = _state(request).issue_welcome_code(data["userid"], data["external_userid"])
    return web.json_response({"welcome_code": code})


@routes.get("/_sandbox/faults")
async def list_faults(request: web.Request) -> web.Response:
    return web.json_response({"faults": [f.to_json() for f in _state(request).faults.faults]})


@routes.post("/_sandbox/faults")
async def add_fault(request: web.Request) -> web.Response:
    """``{"path": "mark_tag" | "*", "kind": "errcode|http|hang|slow", "errcode", "count", ...}``."""
    try:
        fault = _state(request).faults.add(Fault(**await _json(request)))
    except (TypeError, ValueError) as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    return web.json_response(fault.to_json())


@routes.delete("/_sandbox/faults")
async def clear_faults(request: web.Request) -> web.Response:
    _state(request).faults.clear()
    return web.json_response({"ok": True})


@routes.post("/_sandbox/tokens/expire")
async def expire_tokens(request: web.Request) -> web.Response:
    return web.json_response({"expired": _state(request).expire_tokens()})


@routes.post("/_sandbox/callback_url")
async def set_callback_url(request: web.Request) -> web.Response:
    _state(request).callback_url = (await _json(request))["url"]
    return web.json_response({"ok": True})


@routes.post("/_sandbox/scenarios/add_contact")
async def scenario_add_contact(request: web.Request) -> web.Response:
    """``{"userid" | "config_id", "external_userid"?, "name"?, "state"?, "welcome"?,
    "remark_mobiles"?}``."""
    from scrm.sandbox.app import callback_sender

    data = await _json(request)
    if "state" in data:
        data["contact_state"] = data.pop("state")
    result = await scenarios.add_contact(_state(request), callback_sender(request.app), **data)
    delivery = result.delivery
    return web.json_response(
        {
            "external_userid": result.relation.external_userid,
            "userid": result.relation.userid,
            "welcome_code": result.welcome_code,
            "delivery": None
            if delivery is None
            else {"attempts": delivery.attempts, "status": delivery.status},
        }
    )


@routes.post("/_sandbox/scenarios/edit_contact")
async def scenario_edit_contact(request: web.Request) -> web.Response:
    """``{"userid", "external_userid", "remark"?, "description"?, "remark_mobiles"?}``:
    the member edits the customer in the client (edit_external_contact)."""
    from scrm.sandbox.app import callback_sender

    delivery = await scenarios.edit_contact(
        _state(request), callback_sender(request.app), **await _json(request)
    )
    return web.json_response(
        {
            "delivery": None
            if delivery is None
            else {"attempts": delivery.attempts, "status": delivery.status}
        }
    )


@routes.post("/_sandbox/scenarios/remove_contact")
async def scenario_remove_contact(request: web.Request) -> web.Response:
    """``{"userid", "external_userid", "by_customer"?}``: del_external_contact / del_follow_user."""
    from scrm.sandbox.app import callback_sender

    delivery = await scenarios.remove_contact(
        _state(request), callback_sender(request.app), **await _json(request)
    )
    status = None if delivery is None else delivery.status
    return web.json_response(
        {
            "delivery": None
            if delivery is None
            else {"attempts": delivery.attempts, "status": status}
        }
    )


@routes.get("/_sandbox/contact_way/{config_id}/qr.png")
async def contact_way_qr(request: web.Request) -> web.Response:
    """The image behind add_contact_way's ``qr_code`` URL."""
    config_id = request.match_info["config_id"]
    if config_id not in _state(request).contact_ways:
        raise web.HTTPNotFound()
    return web.Response(body=qr_png(str(request.url)), content_type="image/png")


def register(app: web.Application) -> None:
    app.router.add_routes(routes)
