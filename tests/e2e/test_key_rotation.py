"""KEK rotation under a running service: leads, mini-program session keys and robots keep working.

An operator (another process) runs rotate-kek and retire-kek against the service's key file
while the service keeps running; afterwards the service still shows a lead's phone, finds
and dedupes leads by phone, opens the mini-program session key, hands a chat message that
waited in the inbox to its handlers and sends robot notices, and nothing rests under the
retired KEK or in clear. Both engines.
"""

from __future__ import annotations

import time
from typing import Any

from archive.keys.key_file import load_key_file
from archive.keys.pii import FieldSeal
from archive.keys.rotation import retire_kek, rotate_kek
from archive.runtime import ArchiveRuntime
from scrm.appkeys import SERVICES
from scrm.autotag.models import RuleHit
from scrm.leads.models import PHONE_FIELD, SESSION_KEY_FIELD, Lead, MiniProgramUser
from scrm.models import Event
from scrm.tickets.keys import open_webhook_key
from scrm.tickets.models import GroupChannel
from tests.archive.dump import dump_database
from tests.e2e.conftest import Stack
from tests.e2e.test_backtest import chat
from tests.leads.flows import Visitor, form_channel

PHONE = "13812345678"
MARKER = "住址ROTATE-0921"
RULE = {"name": "退货", "keywords_any": ["退货"], "actions": [{"type": "add_tag", "tag": "售后"}]}


async def post(stack: Stack, path: str, body: Any) -> Any:
    status, answer = await stack.api("POST", path, json=body)
    assert status == 201, answer
    return answer


async def lead_names(stack: Stack, query: str) -> list[str]:
    status, body = await stack.api("GET", "/api/v1/leads" + query)
    assert status == 200, body
    return [lead["name"] for lead in body["leads"]]


async def test_rotate_and_retire_while_serving_keeps_every_sealed_value_working(
    stack: Stack,
) -> None:
    services = stack.server.app[SERVICES]
    key_file = stack.settings.archive.key_file
    robot_key = stack.sandbox.state.add_robot()
    robot = await post(
        stack,
        "/api/v1/group-channels",
        {"name": "客服群", "kind": "robot", "webhook_key": robot_key},
    )
    await post(stack, "/api/v1/routes", {"name": "all", "default": True, "channels": [robot["id"]]})
    channel = await form_channel(stack)
    visitor = Visitor(stack, channel["state"])
    await visitor.open()
    assert (await visitor.submit(name="韩梅梅", phone=PHONE, company="星河科技"))[0] == 303
    code = stack.sandbox.state.issue_js_code(openid="oHAN001", unionid="uHAN001")
    status, answer = await stack.api("POST", "/mp/login", json={"code": code}, headers={})
    assert status == 200, answer
    await stack.drain()
    pii = services.pii
    user = await MiniProgramUser.get(openid="oHAN001")
    session_key = pii.unseal(str(user.session_key_sealed), field=SESSION_KEY_FIELD)
    [lead] = await Lead.all()
    assert lead.phone_sealed.startswith("1:kek1:")
    # A chat message still waiting for its handlers, sealed in the inbox.
    assert (await stack.api("POST", "/api/v1/tag-rules", json=RULE))[0] == 201
    message = chat("rot1", "wmROT", f"{MARKER}，我要退货", int(time.time() * 1000))
    assert (await stack.api("POST", "/api/v1/messages", json=[message]))[1]["accepted"] == 1

    # The operator's process: rotate, then retire the old KEK; the service keeps running.
    operator = ArchiveRuntime(services.db, load_key_file(key_file), corp_id="c", key_file=key_file)
    report = await rotate_kek(operator)
    assert report.kek_id == "kek2" and not report.unopenable
    assert {name: r.resealed for name, r in report.columns.items()} == {
        "group_channels.secret": 1,
        "leads.phone_sealed": 1,
        "miniprogram_users.session_key_sealed": 1,
        "events.payload": 1,  # the chat message waiting for its handlers
    }
    await retire_kek(operator, "kek1")
    assert load_key_file(key_file).kek_ids == ("kek2",)

    # The running service: the phone shows, lookup and dedupe by phone find the old lead.
    status, shown = await stack.api("GET", f"/api/v1/leads/{lead.id}")
    assert (status, shown["phone"]) == (200, PHONE), shown
    assert await lead_names(stack, f"?q={PHONE}") == ["韩梅梅"]
    assert (await visitor.submit(name="韩梅梅", phone=PHONE, company="星河科技"))[0] == 303
    await stack.drain()
    assert [(x.id, x.submissions) for x in await Lead.all()] == [(lead.id, 2)]
    # The session key opens; a new login seals under kek2.
    user = await MiniProgramUser.get(openid="oHAN001")
    assert pii.unseal(str(user.session_key_sealed), field=SESSION_KEY_FIELD) == session_key
    code = stack.sandbox.state.issue_js_code(openid="oHAN001", unionid="uHAN001")
    assert (await stack.api("POST", "/mp/login", json={"code": code}, headers={}))[0] == 200
    assert str((await MiniProgramUser.get(openid="oHAN001")).session_key_sealed).startswith(
        "1:kek2:"
    )
    # The worker opens the waiting message (now under kek2): tagging saw its text.
    await stack.drain()
    assert await RuleHit.filter(msgid="rot1").count() == 1
    assert "_content_stripped" in (await Event.get(dedupe_key="chat:rot1")).payload
    # The robot key opens: a new ticket's notice reaches the robot.
    await post(stack, "/api/v1/tickets", {"title": "退货", "category": "售后", "priority": "P2"})
    await stack.drain()
    calls = stack.sandbox_calls("webhook/send")
    assert [c.errcode for c in calls] == [0], calls

    # A process started now holds kek2 only and opens everything.
    restarted = ArchiveRuntime(services.db, load_key_file(key_file), corp_id="c", key_file=key_file)
    fresh = FieldSeal(restarted)
    [lead] = await Lead.all()
    assert fresh.unseal(lead.phone_sealed, field=PHONE_FIELD) == PHONE
    [group] = await GroupChannel.all()
    assert open_webhook_key(restarted, str(group.secret)) == robot_key
    dumped = await dump_database(services.db, stack.settings.database_url)
    assert PHONE.encode() not in dumped and robot_key.encode() not in dumped
    assert MARKER.encode() not in dumped
    assert b"1:kek1:" not in dumped and b"v1:kek1:" not in dumped
