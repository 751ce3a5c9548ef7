"""Outbound effects through the ledger, end to end against the sandbox, on both engines."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections import Counter
from typing import Any

import pytest

from scrm.appkeys import DISPATCHER, SERVICES
from scrm.autotag.models import RuleHit
from scrm.effects.models import Effect
from scrm.events.worker import Worker
from scrm.models import CorpTag, Event, HandlerRun
from scrm.sandbox import events as wecom_events
from tests.e2e.conftest import Stack

NOW_MS = int(time.time() * 1000)
RULE = {
    "name": "过敏预警",
    "keywords_any": ["过敏"],
    "actions": [
        {"type": "add_tag", "tag": "过敏风险", "group": "服务"},
        {"type": "create_ticket", "category": "food_safety", "priority": "P0"},
    ],
}


def message(
    msgid: str, customer: str, text: str = "孩子过敏了", ms: int = NOW_MS
) -> dict[str, Any]:
    return {
        "msgid": msgid,
        "action": "send",
        "from": customer,
        "tolist": ["zhangsan"],
        "roomid": "",
        "msgtime": ms,
        "msgtype": "text",
        "text": {"content": text},
    }


async def add_customers(stack: Stack, count: int) -> list[str]:
    """Customers who follow zhangsan, in the sandbox and (after their add event) locally."""
    customers = [f"wmFX{n:028d}" for n in range(count)]
    for customer in customers:
        stack.sandbox.state.add_relation("zhangsan", customer)
        await stack.sender.send(
            wecom_events.add_external_contact(stack.corp_id, "zhangsan", customer)
        )
    await stack.drain()
    return customers


async def post(stack: Stack, path: str, body: Any, expect: int = 200) -> Any:
    status, answer = await stack.api("POST", path, json=body)
    assert status == expect, answer
    return answer


async def drain_concurrently(stack: Stack, concurrency: int = 4) -> None:
    """What one process with SCRM_WORKER_CONCURRENCY=4 does: claim four runs, run them at once."""
    app = stack.server.app
    settings = dataclasses.replace(stack.settings.worker, concurrency=concurrency)
    await Worker(app[SERVICES].db, app[DISPATCHER], app[SERVICES], settings).drain()


def marked(stack: Stack) -> Counter[tuple[str, str]]:
    """(customer, tag id) → how many successful mark_tag calls added it."""
    counts: Counter[tuple[str, str]] = Counter()
    for call in stack.sandbox_calls("mark_tag"):
        if call.errcode == 0:
            for tag_id in call.json["add_tag"]:
                counts[(call.json["external_userid"], tag_id)] += 1
    return counts


async def test_concurrent_messages_of_one_customer_mark_the_tag_once(stack: Stack) -> None:
    customers = await add_customers(stack, 12)
    await post(stack, "/api/v1/tag-rules", RULE, expect=201)
    batch = [message(f"{c}-{n}", c, ms=NOW_MS + n) for c in customers for n in range(2)]
    await post(stack, "/api/v1/messages", batch)
    await drain_concurrently(stack)

    tag = await CorpTag.get(name="过敏风险")
    assert marked(stack) == {(c, tag.tag_id): 1 for c in customers}
    assert len(stack.sandbox_calls("add_corp_tag")) == 1
    for customer in customers:
        hits = await RuleHit.filter(external_userid=customer)
        outcomes = sorted(json.loads(h.actions)[0]["outcome"] for h in hits)
        assert outcomes == ["already", "done"], customer  # the second saw the first's tag
    assert set(await HandlerRun.all().values_list("status", flat=True)) == {"done"}


async def test_a_tag_wecom_forgot_is_created_again_and_marked(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = await add_customers(stack, 2)
    await post(stack, "/api/v1/tag-rules", RULE, expect=201)
    await post(stack, "/api/v1/messages", [message("f1", first)])
    await stack.drain()
    old = await CorpTag.get(name="过敏风险")
    for group in stack.sandbox.state.tag_groups.values():  # WeCom no longer knows the tag
        group.tags = [t for t in group.tags if t.id != old.tag_id]
    stack.sandbox.state.relation("zhangsan", first).tag_ids.clear()  # type: ignore[union-attr]

    with caplog.at_level(logging.WARNING, logger="scrm.autotag"):
        await post(stack, "/api/v1/messages", [message("f2", second)])
        await stack.drain()

    refused, marked_again = stack.sandbox_calls("mark_tag")[1:]
    assert (refused.errcode, refused.json["add_tag"]) == (40068, [old.tag_id])
    new = await CorpTag.get(name="过敏风险", deleted=False)
    assert new.tag_id != old.tag_id and (await CorpTag.get(tag_id=old.tag_id)).deleted
    assert (marked_again.errcode, marked_again.json["add_tag"]) == (0, [new.tag_id])
    assert stack.sandbox.state.relation("zhangsan", second).tag_ids == [new.tag_id]  # type: ignore[union-attr]
    [hit] = await RuleHit.filter(msgid="f2")
    assert json.loads(hit.actions)[0]["outcome"] == "done"
    assert any("40068" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    _, page = await stack.api("GET", "/api/v1/effects?kind=mark_tag")
    assert [(e["status"], e["errcode"]) for e in page["effects"]] == [
        ("done", None),
        ("failed", 40068),
        ("done", None),
    ]


@pytest.mark.parametrize("path", ["add_corp_tag", "get_corp_tag_list"])
async def test_a_terminal_error_creating_the_tag_fails_the_action_not_the_run(
    stack: Stack, path: str
) -> None:
    [customer] = await add_customers(stack, 1)
    await post(stack, "/api/v1/tag-rules", RULE, expect=201)
    stack.sandbox.state.faults.inject(path, errcode=60011)  # no privilege
    await post(stack, "/api/v1/messages", [message("p1", customer)])
    await stack.drain()

    [hit] = await RuleHit.filter(msgid="p1")
    outcomes = [a["outcome"] for a in json.loads(hit.actions)]
    assert outcomes == ["failed: errcode 60011", "emitted"]
    assert stack.sandbox_calls("mark_tag") == []
    assert set(await HandlerRun.all().values_list("status", flat=True)) == {"done"}
    _, page = await stack.api("GET", "/api/v1/effects?status=failed")
    if path == "add_corp_tag":
        [effect] = page["effects"]
        assert (effect["kind"], effect["errcode"]) == ("add_corp_tag", 60011)
        assert effect["retryable"] is False
        assert effect["request"] == {"group_id": None, "group_name": "服务", "tag": ["过敏风险"]}
    else:
        assert page["effects"] == []  # a read is no effect


async def test_effects_api_lists_filters_and_pages(stack: Stack) -> None:
    [customer] = await add_customers(stack, 1)
    await Effect.filter(kind="send_app_message").delete()  # the adds' new-customer notices
    await post(stack, "/api/v1/tag-rules", RULE, expect=201)
    await post(stack, "/api/v1/messages", [message("a1", customer)])
    await stack.drain()

    status, page = await stack.api("GET", "/api/v1/effects")
    assert status == 200 and page["next_cursor"] is None
    assert [(e["kind"], e["status"]) for e in page["effects"]] == [
        ("mark_tag", "done"),
        ("add_corp_tag", "done"),
    ]
    mark = page["effects"][0]
    assert mark["key"] == f"mark_tag:{stack.corp_id}:zhangsan:{customer}:a1"
    assert mark["subject"] == f"{stack.corp_id}:{customer}" and mark["policy"] == "idempotent"
    assert mark["request"]["userid"] == "zhangsan" and mark["attempts"] == 1
    assert "孩子" not in json.dumps(page, ensure_ascii=False)  # no message text, ever
    _, first = await stack.api("GET", "/api/v1/effects?limit=1")
    _, rest = await stack.api("GET", f"/api/v1/effects?limit=1&cursor={first['next_cursor']}")
    assert [e["kind"] for e in first["effects"] + rest["effects"]] == ["mark_tag", "add_corp_tag"]
    assert rest["next_cursor"] is None
    _, only = await stack.api("GET", "/api/v1/effects?kind=add_corp_tag&status=done")
    assert [e["kind"] for e in only["effects"]] == ["add_corp_tag"]
    _, none = await stack.api("GET", "/api/v1/effects?status=unknown")
    assert none == {"effects": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=exploded", "status"),
        ("kind=teleport", "kind"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("cursor=x", "cursor"),
    ],
)
async def test_bad_effects_parameters_are_422_naming_the_field(
    stack: Stack, query: str, field: str
) -> None:
    status, body = await stack.api("GET", f"/api/v1/effects?{query}")
    assert (status, body["error"]["code"], body["error"]["field"]) == (422, "invalid", field)


async def test_effects_need_the_admin_token(stack: Stack) -> None:
    status, body = await stack.api("GET", "/api/v1/effects", headers={})
    assert (status, body["error"]["code"]) == (401, "unauthorized")


async def test_a_tag_removed_by_hand_is_marked_again_by_a_new_message(stack: Stack) -> None:
    [customer] = await add_customers(stack, 1)
    await post(stack, "/api/v1/tag-rules", RULE, expect=201)
    await post(stack, "/api/v1/messages", [message("w1", customer)])
    await stack.drain()
    relation = stack.sandbox.state.relation("zhangsan", customer)
    assert relation is not None and len(relation.tag_ids) == 1
    relation.tag_ids.clear()  # a staff member removes the tag in WeCom
    await stack.sender.send(wecom_events.edit_external_contact(stack.corp_id, "zhangsan", customer))
    await stack.drain()

    await post(stack, "/api/v1/messages", [message("w2", customer, ms=NOW_MS + 7 * 86_400_000)])
    await stack.drain()
    assert len(stack.sandbox_calls("mark_tag")) == 2  # a new cause, a new effect
    assert len(relation.tag_ids) == 1
    _, page = await stack.api("GET", "/api/v1/effects?kind=mark_tag")
    assert [e["key"].rsplit(":", 1)[1] for e in page["effects"]] == ["w2", "w1"]


async def test_a_run_redelivered_after_its_mark_keeps_the_outcome_done(stack: Stack) -> None:
    [customer] = await add_customers(stack, 1)
    await post(stack, "/api/v1/tag-rules", RULE, expect=201)
    await post(stack, "/api/v1/messages", [message("d1", customer)])
    [chat] = await Event.filter(name="chat.message").values_list("payload", flat=True)
    await stack.drain()
    # The process died after the mark was recorded, before the hit's outcomes were saved
    # (so the run is due again, and the message's content is still in the inbox):
    await Event.filter(name="chat.message").update(payload=chat)
    [hit] = await RuleHit.filter(msgid="d1")
    actions = [{**a, "outcome": "pending"} for a in json.loads(hit.actions)]
    await RuleHit.filter(id=hit.id).update(actions=json.dumps(actions, ensure_ascii=False))
    await HandlerRun.filter(handler="autotag.tag_from_keywords").update(status="pending")
    await stack.drain()

    assert len(stack.sandbox_calls("mark_tag")) == 1
    [hit] = await RuleHit.filter(msgid="d1")
    assert json.loads(hit.actions)[0]["outcome"] == "done"  # not "already": it was this one
