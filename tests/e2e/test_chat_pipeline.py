"""One chat message fans out: archived encrypted, tagged, then gone from the inbox."""

from __future__ import annotations

import time

from archive.review.reviewers import add_reviewer, parse_scope
from scrm.appkeys import SERVICES
from scrm.models import Event, HandlerRun
from scrm.sandbox import events as wecom_events
from tests.e2e.conftest import Stack

TEXT = "上次买的坚果吃了过敏，起疹子了"


async def test_message_is_archived_tagged_and_stripped_from_the_inbox(stack: Stack) -> None:
    stack.sandbox.state.add_relation("zhangsan", "wmCHAT00001")
    await stack.sender.send(
        wecom_events.add_external_contact(stack.corp_id, "zhangsan", "wmCHAT00001")
    )
    await stack.drain()
    rule = {
        "name": "过敏",
        "keywords_any": ["过敏"],
        "actions": [{"type": "add_tag", "tag": "过敏风险"}],
    }
    assert (await stack.api("POST", "/api/v1/tag-rules", json=rule))[0] == 201
    message = {
        "msgid": "CHAT-1",
        "action": "send",
        "from": "wmCHAT00001",
        "tolist": ["zhangsan"],
        "roomid": "",
        "msgtime": int(time.time() * 1000),
        "msgtype": "text",
        "text": {"content": TEXT},
    }
    assert (await stack.api("POST", "/api/v1/messages", json=[message]))[1]["accepted"] == 1
    await stack.drain()

    handlers = await HandlerRun.filter(event__name="chat.message").values_list("handler", "status")
    assert sorted(handlers) == [
        ("archive.store", "done"),
        ("autotag.tag_from_keywords", "done"),
    ]
    assert TEXT not in (await Event.get(name="chat.message")).payload
    assert len(stack.sandbox_calls("mark_tag")) == 1

    runtime = stack.server.app[SERVICES].archive
    assert runtime is not None
    token = await add_reviewer(runtime, "alice", "reviewer", parse_scope("all"))
    status, found = await stack.api(
        "POST",
        "/api/v1/archive/search",
        json={"justification": "food safety complaint review", "keyword": "起疹子"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert status == 200
    assert [m["text"]["content"] for m in found["messages"]] == [TEXT]
    status, _ = await stack.api(
        "POST",
        "/api/v1/archive/search",
        json={"justification": "curious admin looking", "keyword": "过敏"},
    )
    assert status == 403  # the service admin runs the service; it cannot read the archive
