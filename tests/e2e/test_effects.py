"""Outbound effects through the ledger, end to end against the sandbox, on both engines."""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from typing import Any

from scrm.appkeys import DISPATCHER, SERVICES
from scrm.autotag.models import RuleHit
from scrm.events.worker import Worker
from scrm.models import CorpTag, HandlerRun
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
