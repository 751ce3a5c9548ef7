"""Chat keywords → rules → tags marked in WeCom (the sandbox), hits that explain them."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from scrm.autotag.models import RuleHit
from scrm.models import CorpTag, Event
from tests.e2e.conftest import Stack

NOW_MS = int(time.time() * 1000)
ALLERGY = {
    "name": "过敏预警",
    "keywords_any": ["过敏", "起疹子"],
    "exclude": ["不过敏"],
    "scope": "customer",
    "actions": [
        {"type": "add_tag", "tag": "过敏风险", "group": "服务"},
        {"type": "create_ticket", "category": "food_safety", "priority": "P0"},
    ],
}


def message(
    msgid: str, text: str, *, sender: str = "wmCUST0001", to: str = "zhangsan", ms: int = NOW_MS
) -> dict[str, Any]:
    return {
        "msgid": msgid,
        "action": "send",
        "from": sender,
        "tolist": [to],
        "roomid": "",
        "msgtime": ms,
        "msgtype": "text",
        "text": {"content": text},
    }


async def post_rule(stack: Stack, rule: dict[str, Any]) -> dict[str, Any]:
    status, body = await stack.api("POST", "/api/v1/tag-rules", json=rule)
    assert status == 201, body
    return body


@pytest.fixture
async def customer(stack: Stack) -> str:
    """A customer who follows zhangsan, known locally (as after add_external_contact)."""
    from scrm.sandbox import events as wecom_events

    stack.sandbox.state.add_relation("zhangsan", "wmCUST0001")
    await stack.sender.send(
        wecom_events.add_external_contact(stack.corp_id, "zhangsan", "wmCUST0001")
    )
    await stack.drain()
    return "wmCUST0001"


async def test_message_tags_customer_once_and_explains_why(stack: Stack, customer: str) -> None:
    rule = await post_rule(stack, ALLERGY)
    batch = [message("m1", "医生，我家孩子吃了花生以后过敏了")]
    status, body = await stack.api("POST", "/api/v1/messages", json=batch)
    assert (status, body["accepted"], body["rejected"]) == (200, 1, [])
    status, body = await stack.api("POST", "/api/v1/messages", json=batch)  # delivered twice
    assert body["duplicate"] == 1
    await stack.drain()
    await stack.drain()

    [mark] = stack.sandbox_calls("mark_tag")
    [created] = stack.sandbox_calls("add_corp_tag")  # the tag did not exist: created once
    assert created.json["group_name"] == "服务"
    tag = await CorpTag.get(name="过敏风险")
    assert mark.json == {
        "userid": "zhangsan",
        "external_userid": customer,
        "add_tag": [tag.tag_id],
        "remove_tag": [],
    }
    _, record = await stack.api("GET", f"/api/v1/customers/{customer}")
    assert [t["tag_name"] for t in record["tags"]] == ["过敏风险"]

    status, hits = await stack.api("GET", f"/api/v1/customers/{customer}/tag-hits")
    [hit] = hits["hits"]
    assert hit["rule_id"] == rule["id"] and hit["msgid"] == "m1" and hit["fired"] is True
    assert hit["keywords"] == ["过敏"]  # which keywords, never where (issue 9)
    assert [a["outcome"] for a in hit["actions"]] == ["done", "emitted"]
    chat = await Event.get(name="chat.message")
    assert "花生" not in chat.payload  # processed: the content left the inbox
    ticket = await Event.get(name="ticket.requested")
    assert '"priority":"P0"' in ticket.payload and "花生" not in ticket.payload
    assert json.loads(ticket.payload)["keywords"] == ["过敏"]


async def test_existing_tag_is_not_marked_again(stack: Stack, customer: str) -> None:
    await post_rule(
        stack, {**ALLERGY, "actions": [{"type": "add_tag", "tag": "过敏风险", "group": "服务"}]}
    )
    await stack.api(
        "POST",
        "/api/v1/messages",
        json=[message("a1", "过敏"), message("a2", "又过敏了", ms=NOW_MS + 1)],
    )
    await stack.drain()
    await stack.drain()
    assert len(stack.sandbox_calls("mark_tag")) == 1
    outcomes = sorted([a["outcome"] for h in await RuleHit.all() for a in json.loads(h.actions)])
    assert outcomes == ["already", "done"]


async def test_exclusion_and_scope(stack: Stack, customer: str) -> None:
    await post_rule(stack, ALLERGY)
    await stack.api(
        "POST",
        "/api/v1/messages",
        json=[
            message("x1", "我不过敏"),  # inside the exclude phrase
            message(
                "x2", "过敏的话请告诉我", sender="zhangsan", to=customer
            ),  # staff: out of scope
        ],
    )
    await stack.drain()
    assert await RuleHit.all().count() == 0
    assert stack.sandbox_calls("mark_tag") == []


async def test_threshold_fires_on_the_second_hit(stack: Stack, customer: str) -> None:
    await post_rule(
        stack,
        {
            **ALLERGY,
            "threshold": {"count": 2, "window_days": 7},
            "actions": [{"type": "add_tag", "tag": "过敏风险"}],
        },
    )
    day = 86_400_000
    await stack.api("POST", "/api/v1/messages", json=[message("t1", "过敏", ms=NOW_MS - 10 * day)])
    await stack.drain()
    await stack.api("POST", "/api/v1/messages", json=[message("t2", "过敏", ms=NOW_MS - day)])
    await stack.drain()
    assert stack.sandbox_calls("mark_tag") == []  # 10 days apart: outside the window
    await stack.api("POST", "/api/v1/messages", json=[message("t3", "起疹子", ms=NOW_MS)])
    await stack.drain()
    assert len(stack.sandbox_calls("mark_tag")) == 1
    fired = await RuleHit.filter(fired=True).values_list("msgid", flat=True)
    assert fired == ["t3"]


async def test_remove_tag_and_default_group(stack: Stack, customer: str) -> None:
    group = stack.sandbox.state.add_tag_group("客户阶段", ["新客"])
    stack.sandbox.state.relation("zhangsan", customer).tag_ids.append(group.tags[0].id)  # type: ignore[attr-defined]
    from scrm.sandbox import events as wecom_events

    await stack.sender.send(wecom_events.edit_external_contact(stack.corp_id, "zhangsan", customer))
    await stack.drain()
    await post_rule(
        stack,
        {
            "name": "下单",
            "keywords_any": ["下单"],
            "actions": [{"type": "remove_tag", "tag": "新客"}, {"type": "add_tag", "tag": "已购"}],
        },
    )
    await stack.api("POST", "/api/v1/messages", json=[message("r1", "我要下单")])
    await stack.drain()
    [mark] = stack.sandbox_calls("mark_tag")
    assert mark.json["remove_tag"] == [group.tags[0].id]
    assert len(mark.json["add_tag"]) == 1
    assert await CorpTag.filter(name="已购", group_name="自动标签").exists()


async def test_evaluate_is_a_dry_run_with_original_positions(stack: Stack) -> None:
    await post_rule(stack, ALLERGY)
    status, body = await stack.api(
        "POST",
        "/api/v1/tagging/evaluate",
        json={"text": "孩子過敏，臉上起疹子", "sender": "customer"},
    )
    assert status == 200
    [match] = body["matches"]
    assert match["rule"] == "过敏预警"
    assert match["keywords"] == [
        {"keyword": "过敏", "start": 2, "end": 4},
        {"keyword": "起疹子", "start": 7, "end": 10},
    ]
    assert [a["type"] for a in match["actions"]] == ["add_tag", "create_ticket"]
    assert await RuleHit.all().count() == 0 and stack.sandbox_calls("mark_tag") == []


async def test_rule_crud_and_validation(stack: Stack) -> None:
    rule = await post_rule(stack, ALLERGY)
    status, body = await stack.api("POST", "/api/v1/tag-rules", json=ALLERGY)
    assert (status, body["error"]["field"]) == (409, "name")
    status, body = await stack.api(
        "PATCH", f"/api/v1/tag-rules/{rule['id']}", json={"enabled": False}
    )
    assert (status, body["enabled"]) == (200, False)
    _, listed = await stack.api("GET", "/api/v1/tag-rules")
    assert [r["name"] for r in listed["rules"]] == ["过敏预警"]
    _, body = await stack.api("POST", "/api/v1/tagging/evaluate", json={"text": "过敏"})
    assert body == {"matches": []}  # disabled rules do not match
    assert (await stack.api("DELETE", f"/api/v1/tag-rules/{rule['id']}"))[0] == 204
    status, body = await stack.api("GET", f"/api/v1/tag-rules/{rule['id']}")
    assert (status, body["error"]["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"keywords_any": [], "keywords_all": []}, "keywords_any"),
        ({"keywords_any": ["  "]}, "keywords_any[0]"),
        ({"actions": [{"type": "explode"}]}, "actions[0].type"),
        ({"threshold": {"count": 0, "window_days": 7}}, "threshold.count"),
        ({"threshold": {"count": 2, "window_days": 9999}}, "threshold.window_days"),
        ({"scope": "everyone"}, "scope"),
    ],
)
async def test_invalid_rules_are_422_naming_the_field(
    stack: Stack, patch: dict[str, Any], field: str
) -> None:
    status, body = await stack.api("POST", "/api/v1/tag-rules", json={**ALLERGY, **patch})
    assert status == 422
    assert body["error"]["field"] == field


async def test_single_character_and_emoji_keywords_work(stack: Stack) -> None:
    await post_rule(
        stack,
        {
            "name": "表情",
            "keywords_any": ["😡", "差"],
            "actions": [{"type": "alert", "channel": "quality"}],
        },
    )
    _, body = await stack.api("POST", "/api/v1/tagging/evaluate", json={"text": "服务太差了😡"})
    assert body["matches"][0]["keywords"] == [
        {"keyword": "差", "start": 3, "end": 4},
        {"keyword": "😡", "start": 5, "end": 6},
    ]


async def test_bad_messages_are_rejected_per_item(stack: Stack) -> None:
    bad_time = {**message("b2", "x"), "msgtime": "yesterday"}
    no_text = {**message("b3", "x"), "text": {}}
    status, body = await stack.api(
        "POST", "/api/v1/messages", json=[message("b1", "ok"), bad_time, no_text, 7]
    )
    assert status == 200 and body["accepted"] == 1
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [
        (1, "msgtime"),
        (2, "text.content"),
        (3, "message"),
    ]
    assert await Event.filter(name="chat.message").count() == 1
    for payload, code in (("[", "bad_json"), ("{}", "invalid"), ("[]", "invalid")):
        status, body = await stack.api(
            "POST",
            "/api/v1/messages",
            data=payload,
            headers={**stack.auth, "Content-Type": "application/json"},
        )
        assert body["error"]["code"] == code


async def test_alert_rule_raises_an_alert_event(stack: Stack, customer: str) -> None:
    rule = {
        "name": "红线",
        "keywords_any": ["投诉"],
        "actions": [{"type": "alert", "channel": "qa"}],
    }
    await post_rule(stack, rule)
    await stack.api("POST", "/api/v1/messages", json=[message("al1", "我要投诉你们")])
    await stack.drain()
    alert = await Event.get(name="alert.raised")
    payload = json.loads(alert.payload)
    assert (payload["channel"], payload["external_userid"], payload["msgid"]) == (
        "qa",
        customer,
        "al1",
    )
    assert "投诉你们" not in alert.payload


async def test_transient_mark_tag_failure_is_retried_without_repeating(
    stack: Stack, customer: str
) -> None:
    from scrm.models import HandlerRun

    await post_rule(
        stack, {**ALLERGY, "actions": [{"type": "add_tag", "tag": "过敏风险", "group": "服务"}]}
    )
    stack.sandbox.state.faults.inject("mark_tag", kind="errcode", errcode=45009, count=3)
    await stack.api("POST", "/api/v1/messages", json=[message("tr1", "过敏")])
    await stack.drain()
    run = await HandlerRun.get(handler="autotag.tag_from_keywords")
    assert (run.status, run.attempts) == ("pending", 1)  # the client's own tries ran out
    await HandlerRun.filter(id=run.id).update(next_attempt_at=0)  # time passes
    await stack.drain()
    assert (await HandlerRun.get(id=run.id)).status == "done"
    calls = stack.sandbox_calls("mark_tag")
    assert [c.errcode for c in calls] == [45009, 45009, 45009, 0]
    [hit] = await RuleHit.all()
    assert json.loads(hit.actions)[0]["outcome"] == "done"
