"""An add through a channel's code, end to end: welcome once, tags once, one notice, linked."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from scrm.effects.models import Effect
from scrm.models import HandlerRun
from scrm.sandbox import events as wecom_events
from scrm.sandbox import scenarios
from tests.e2e.conftest import Stack

WELCOME = {
    "text": "您好，欢迎光临展位！",
    "link": {"title": "展会手册", "url": "https://example.com/a"},
}


async def make_channel(stack: Stack, **fields: Any) -> dict[str, Any]:
    stack.sandbox.state.add_staff("zhangsan")
    body = {"name": "展会 2026", "staff": ["zhangsan"], "tags": ["展会"], "welcome": WELCOME}
    status, channel = await stack.api("POST", "/api/v1/channels", json=body | fields)
    assert status == 201, channel
    return channel


async def scan(stack: Stack, channel: dict[str, Any], external_userid: str, times: int = 3) -> str:
    """A customer scans the code: the sandbox records the add and we deliver its callback."""
    added = await scenarios.add_contact(
        stack.sandbox.state,
        None,
        config_id=channel["config_id"],
        external_userid=external_userid,
        name="李雷",
    )
    assert added.welcome_code
    xml = wecom_events.add_external_contact(
        stack.corp_id,
        "zhangsan",
        external_userid,
        state=channel["state"],
        welcome_code=added.welcome_code,
        create_time=added.relation.createtime,
    )
    for _ in range(times):  # WeCom retries; each delivery is encrypted afresh
        assert (await stack.sender.send(xml)).status == 200
    return added.welcome_code


async def test_three_deliveries_welcome_once_tag_once_notify_once(stack: Stack) -> None:
    channel = await make_channel(stack)
    await scan(stack, channel, "wmFAIR0000001")
    await stack.drain()
    # A crash after the effects: every run is delivered again; the ledger answers instead.
    await HandlerRun.all().update(status="pending", next_attempt_at=0)
    await stack.drain()
    sent = stack.sandbox.state.sent
    [welcome] = sent["welcome"]
    assert welcome["text"] == WELCOME["text"]
    assert welcome["attachments"] == [{"msgtype": "link", "link": WELCOME["link"]}]
    assert len(stack.sandbox_calls("send_welcome_msg")) == 1
    [mark] = stack.sandbox_calls("mark_tag")
    assert mark.json["add_tag"] == [channel["tags"][0]["tag_id"]]
    assert stack.sandbox.state.relation("zhangsan", "wmFAIR0000001").tag_ids == [
        channel["tags"][0]["tag_id"]
    ]
    [notice] = sent["app_message"]
    assert notice["touser"] == ["zhangsan"]
    assert "李雷" in notice["text"]["content"] and "展会 2026" in notice["text"]["content"]
    status, page = await stack.api("GET", f"/api/v1/customers?channel={channel['id']}")
    assert status == 200
    assert [c["external_userid"] for c in page["customers"]] == ["wmFAIR0000001"]
    assert page["customers"][0]["source"]["channel_id"] == channel["id"]
    _, customer = await stack.api("GET", "/api/v1/customers/wmFAIR0000001")
    assert customer["source"]["channel"] == "展会 2026" and customer["touches"] == []
    assert [t["tag_name"] for t in customer["tags"]] == ["展会"]
    _, stats = await stack.api("GET", f"/api/v1/channels/{channel['id']}/stats")
    assert (stats["adds"], stats["retained"], stats["lost"]) == (1, 1, 0)


async def test_a_used_welcome_code_is_recorded_and_never_retried(stack: Stack) -> None:
    channel = await make_channel(stack)
    code = await scan(stack, channel, "wmFAIR0000002", times=1)
    stack.sandbox.state.welcome_codes[code].used = True  # another app sent one first
    await stack.drain()
    effect = await Effect.get(kind="send_welcome_msg")
    assert (effect.status, effect.errcode) == ("failed", 41051)
    run = await HandlerRun.get(handler="channels.on_add")
    assert (run.status, run.attempts) == ("done", 1)
    await HandlerRun.all().update(status="pending", next_attempt_at=0)
    await stack.drain()
    assert len(stack.sandbox_calls("send_welcome_msg")) == 1
    assert stack.sandbox.state.sent["welcome"] == []


async def test_an_expired_welcome_code_is_recorded_41050(stack: Stack) -> None:
    channel = await make_channel(stack)
    code = await scan(stack, channel, "wmFAIR0000003", times=1)
    stack.sandbox.state.welcome_codes[code].expires_at = 0
    await stack.drain()
    effect = await Effect.get(kind="send_welcome_msg")
    assert (effect.status, effect.errcode) == ("failed", 41050)
    assert (await HandlerRun.get(handler="channels.on_add")).status == "done"


async def test_an_unknown_state_goes_to_the_default_channel(stack: Stack) -> None:
    stack.sandbox.state.add_relation("zhangsan", "wmSTRAY000001", state="gone_2019")
    xml = wecom_events.add_external_contact(
        stack.corp_id, "zhangsan", "wmSTRAY000001", state="gone_2019", welcome_code="W1"
    )
    assert (await stack.sender.send(xml)).status == 200
    await stack.drain()
    _, listed = await stack.api("GET", "/api/v1/channels")
    default = next(c for c in listed["channels"] if c["default"])
    _, page = await stack.api("GET", f"/api/v1/customers?channel={default['id']}")
    assert [c["external_userid"] for c in page["customers"]] == ["wmSTRAY000001"]
    assert stack.sandbox_calls("send_welcome_msg") == []  # the default channel has no welcome


async def test_a_delete_counts_as_lost_and_redelivery_does_not_inflate(stack: Stack) -> None:
    channel = await make_channel(stack)
    await scan(stack, channel, "wmFAIR0000004")
    await scan(stack, channel, "wmFAIR0000005")
    await stack.drain()
    await scenarios.remove_contact(stack.sandbox.state, stack.sender, "zhangsan", "wmFAIR0000004")
    await stack.drain()
    await HandlerRun.all().update(status="pending", next_attempt_at=0)  # a replay of everything
    await stack.drain()
    _, stats = await stack.api("GET", f"/api/v1/channels/{channel['id']}/stats")
    assert (stats["adds"], stats["retained"], stats["lost"]) == (2, 1, 1)
    assert sum(day["adds"] for day in stats["by_day"]) == 2
    assert sum(day["lost"] for day in stats["by_day"]) == 1
    _, compared = await stack.api("GET", "/api/v1/channels/stats")
    row = next(c for c in compared["channels"] if c["id"] == channel["id"])
    assert (row["adds"], row["retained"], row["lost"]) == (2, 1, 1)
    _, lost = await stack.api("GET", "/api/v1/customers?status=lost")
    assert [c["external_userid"] for c in lost["customers"]] == ["wmFAIR0000004"]


async def test_the_welcome_does_not_wait_behind_a_backlog(stack: Stack) -> None:
    from scrm.appkeys import DISPATCHER, SERVICES
    from scrm.events.worker import Worker

    channel = await make_channel(stack)
    group = stack.sandbox.state.add_tag_group("行业", ["教育"])
    for n in range(30):  # a backlog of older runs, all due before the add
        xml = wecom_events.change_external_tag(
            stack.corp_id, "update", group.group_id, create_time=n
        )
        assert (await stack.sender.send(xml)).status == 200
    backlog = await HandlerRun.filter(status="pending").count()
    assert backlog == 30
    await scan(stack, channel, "wmFAST0000001", times=1)
    app = stack.server.app
    dispatcher, services = app[DISPATCHER], app[SERVICES]
    assert dispatcher.fast_handlers == {"channels.on_add"}  # the welcome alone
    fast = Worker(
        services.db, dispatcher, services, stack.settings.worker, handlers=["channels.on_add"]
    )
    assert await fast.work_once() == 1
    assert len(stack.sandbox.state.sent["welcome"]) == 1
    assert await HandlerRun.filter(status="pending").count() == backlog + 1  # contacts' run too
    assert await HandlerRun.filter(status="pending", handler="channels.on_add").count() == 0


async def test_a_half_add_and_its_confirmation_make_one_notice(stack: Stack) -> None:
    channel = await make_channel(stack)
    added = await scenarios.add_contact(
        stack.sandbox.state, None, config_id=channel["config_id"], external_userid="wmHALF00001"
    )
    created = added.relation.createtime
    half = wecom_events.add_half_external_contact(
        stack.corp_id,
        "zhangsan",
        "wmHALF00001",
        state=channel["state"],
        welcome_code=added.welcome_code,
        create_time=created,
    )
    full = wecom_events.add_external_contact(
        stack.corp_id, "zhangsan", "wmHALF00001", state=channel["state"], create_time=created + 5
    )
    assert (await stack.sender.send(half)).status == 200
    await stack.drain()
    assert (await stack.sender.send(full)).status == 200
    await stack.drain()
    assert len(stack.sandbox.state.sent["welcome"]) == 1
    assert len(stack.sandbox.state.sent["app_message"]) == 1
    _, stats = await stack.api("GET", f"/api/v1/channels/{channel['id']}/stats")
    assert stats["adds"] == 1


# The hung welcome must outlast the other four however loaded the machine is: the client
# does not resend a welcome after a timeout, so its timeout is the hang's upper bound.
@pytest.mark.stack_env(SCRM_WECOM_TIMEOUT="120")
async def test_a_slow_welcome_does_not_hold_up_the_ones_behind_it(stack: Stack) -> None:
    """The fast lane claims whenever a slot is free: with 2 slots and the first welcome hung
    in WeCom, the other four are sent while it still hangs (a batch would wait for it)."""
    import asyncio

    from scrm.appkeys import DISPATCHER, SERVICES
    from scrm.events.worker import Worker

    channel = await make_channel(stack)
    app = stack.server.app
    services = app[SERVICES]
    fast = Worker(
        services.db,
        app[DISPATCHER],
        services,
        dataclasses.replace(stack.settings.worker, concurrency=2, poll_interval=0.05),
        handlers=["channels.on_add"],
        name="fast-worker",
        per_slot=True,
    )
    state = stack.sandbox.state
    state.faults.inject("send_welcome_msg", kind="hang", count=1)
    stop = asyncio.Event()
    task = asyncio.create_task(fast.run(stop))
    try:
        for n in range(5):
            await scan(stack, channel, f"wmSLOT000000{n}", times=1)

        async def welcomed(count: int) -> None:
            while len(state.sent["welcome"]) < count:  # noqa: ASYNC110 - no event to await
                await asyncio.sleep(0.01)

        async def finished(count: int) -> None:
            runs = HandlerRun.filter(handler="channels.on_add", status="done")
            while await runs.count() < count:  # noqa: ASYNC110 - no event to await
                await asyncio.sleep(0.01)

        await asyncio.wait_for(welcomed(4), timeout=60)  # a guard against hanging, not a timing
        await asyncio.wait_for(finished(4), timeout=60)  # their outcomes recorded too
        # Whichever welcome reached WeCom first hangs there (two slots start at once, so it
        # need not be the oldest run): exactly one run is still in flight.
        statuses = await HandlerRun.filter(handler="channels.on_add").values_list(
            "status", flat=True
        )
        assert sorted(statuses) == ["done"] * 4 + ["running"]  # one hung, four sent
        state.faults.release.set()
        await asyncio.wait_for(welcomed(5), timeout=60)
    finally:
        state.faults.release.set()
        stop.set()
        await task
    assert await HandlerRun.filter(handler="channels.on_add", status="done").count() == 5
    assert (
        await HandlerRun.filter(handler="contacts.sync_added_contact", status="pending").count()
        == 5
    )
