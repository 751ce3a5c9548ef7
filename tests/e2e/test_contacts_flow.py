"""A callback in, the customer record out — through real crypto, HTTP and the sandbox."""

from __future__ import annotations

import asyncio

from scrm.models import CorpTag, Event, FollowRelation, HandlerRun
from scrm.sandbox import events as wecom_events
from tests.e2e.conftest import Stack


async def test_add_contact_creates_customer_with_channel(stack: Stack) -> None:
    state = stack.sandbox.state
    group = state.add_tag_group("客户等级", ["VIP"])
    relation = state.add_relation("zhangsan", "wmCUSTOMER0001", state="fair_2026")
    vip = group.tags[0]
    relation.tag_ids.append(vip.id)
    xml = wecom_events.add_external_contact(
        stack.corp_id, "zhangsan", "wmCUSTOMER0001", state="fair_2026", welcome_code="W1"
    )
    delivery = await stack.sender.send(xml)
    assert (delivery.status, delivery.attempts, delivery.body) == (200, 1, b"")
    assert await stack.drain() == 2  # contacts.sync_added_contact and channels.on_add
    status, customer = await stack.api("GET", "/api/v1/customers/wmCUSTOMER0001")
    assert status == 200
    assert customer["state"] == "fair_2026"
    [follow] = customer["follow_users"]
    assert (follow["userid"], follow["status"], follow["state"]) == (
        "zhangsan",
        "active",
        "fair_2026",
    )
    assert [(t["tag_id"], t["tag_name"], t["group_name"]) for t in customer["tags"]] == [
        (vip.id, "VIP", "客户等级")
    ]
    assert len(stack.sandbox_calls("externalcontact/get")) == 1


async def test_three_identical_deliveries_make_one_event(stack: Stack) -> None:
    stack.sandbox.state.add_relation("lisi", "wmCUSTOMER0002")
    xml = wecom_events.add_external_contact(stack.corp_id, "lisi", "wmCUSTOMER0002")
    results = await asyncio.gather(*(stack.sender.send(xml) for _ in range(3)))
    assert [r.status for r in results] == [200, 200, 200]
    assert await Event.all().count() == 1
    await stack.drain()
    assert len(stack.sandbox_calls("externalcontact/get")) == 1
    assert stack.metric("scrm_callbacks_total", {"outcome": "duplicate"}) == 2
    assert stack.metric("scrm_callback_seconds_count") == 3  # every acknowledged delivery
    assert 1 <= stack.metric("scrm_inbox_commit_seconds_count") <= 3
    _, stats = await stack.api("GET", "/api/v1/events/stats")
    assert stats == {  # contacts, channels
        "events": {"received": 1},
        "runs": {"pending": 0, "running": 0, "done": 2, "dead": 0, "expired": 0},
    }


async def test_late_add_after_del_does_not_resurrect(stack: Stack) -> None:
    state = stack.sandbox.state
    state.add_relation("zhangsan", "wmCUSTOMER0003", createtime=1_700_000_000)
    added = wecom_events.add_external_contact(
        stack.corp_id, "zhangsan", "wmCUSTOMER0003", create_time=int(stack.sandbox.state.now()) - 60
    )
    deleted = wecom_events.del_follow_user(
        stack.corp_id, "zhangsan", "wmCUSTOMER0003", create_time=int(stack.sandbox.state.now())
    )
    assert (await stack.sender.send(deleted)).status == 200
    await stack.drain()
    assert (await stack.sender.send(added)).status == 200  # WeCom's late retry of the add
    await stack.drain()
    relation = await FollowRelation.get(
        userid="zhangsan", customer__external_userid="wmCUSTOMER0003"
    )
    assert (relation.status, relation.ended_reason) == ("ended", "del_follow_user")
    assert await HandlerRun.filter(status="done").count() == 3  # del; add: contacts, channels


async def test_delete_keeps_relation_for_history(stack: Stack) -> None:
    stack.sandbox.state.add_relation("zhangsan", "wmCUSTOMER0004", state="ad")
    now = int(stack.sandbox.state.now())
    await stack.sender.send(
        wecom_events.add_external_contact(
            stack.corp_id, "zhangsan", "wmCUSTOMER0004", create_time=now
        )
    )
    await stack.sender.send(
        wecom_events.del_external_contact(
            stack.corp_id,
            "zhangsan",
            "wmCUSTOMER0004",
            source="DELETE_BY_TRANSFER",
            create_time=now + 1,
        )
    )
    await stack.drain()
    await stack.drain()
    _, customer = await stack.api("GET", "/api/v1/customers/wmCUSTOMER0004")
    [follow] = customer["follow_users"]
    assert (follow["status"], follow["ended_reason"], follow["state"]) == (
        "ended",
        "transfer",
        "ad",
    )


async def test_tag_change_resyncs_corp_tags(stack: Stack) -> None:
    group = stack.sandbox.state.add_tag_group("行业", ["教育", "医疗"])
    xml = wecom_events.change_external_tag(stack.corp_id, "create", group.group_id)
    assert (await stack.sender.send(xml)).status == 200
    await stack.drain()
    names = sorted(await CorpTag.filter(deleted=False).values_list("name", flat=True))
    assert names == ["医疗", "教育"]
    assert len(stack.sandbox_calls("get_corp_tag_list")) == 1


async def test_url_verification_echoes_plaintext(stack: Stack) -> None:
    assert await stack.sender.verify_url() is True
