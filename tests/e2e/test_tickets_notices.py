"""Group-channel notices: robot rate limits merged not dropped, 93000 parks, retries, email."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from adapters.email import Mailer
from scrm.appkeys import SERVICES
from scrm.events.inbox import InboxUnavailable
from scrm.jobs import ticket_notices
from scrm.models import Event
from scrm.tickets import notify
from scrm.tickets.models import GroupChannel, TicketEvent, TicketNotice
from tests.e2e.conftest import Stack


class Clock:
    def __init__(self, now: float = 1_796_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def post(stack: Stack, path: str, body: Any, expect: int = 201) -> Any:
    status, answer = await stack.api("POST", path, json=body)
    assert status == expect, answer
    return answer


def shared_clock(stack: Stack) -> Clock:
    """One injected clock for the service and the sandbox (its robot minute and call log)."""
    clock = Clock()
    stack.server.app[SERVICES].clock = clock
    stack.sandbox.state.clock = clock
    stack.sandbox.state.calls._clock = clock
    return clock


async def robot_route(stack: Stack) -> tuple[int, str]:
    key = stack.sandbox.state.add_robot()
    body = {"name": "客服群", "kind": "robot", "webhook_key": key}
    channel = (await post(stack, "/api/v1/group-channels", body))["id"]
    await post(stack, "/api/v1/routes", {"name": "all", "default": True, "channels": [channel]})
    return channel, key


def robot_calls(stack: Stack) -> list[Any]:
    return stack.sandbox_calls("webhook/send")


async def test_thirty_tickets_in_a_minute_stay_within_twenty_robot_calls(stack: Stack) -> None:
    clock = shared_clock(stack)
    await robot_route(stack)
    numbers = []
    for n in range(30):
        clock.now += 1.5  # 30 tickets within 45 s
        created = await post(
            stack, "/api/v1/tickets", {"title": f"t{n}", "category": "c", "priority": "P2"}
        )
        numbers.append(created["number"])
        await stack.drain()  # the worker that sends what the API queued
    assert len(robot_calls(stack)) == 20
    assert await TicketNotice.filter(status="pending").count() == 10  # waiting, not dropped
    clock.now += 61
    assert await notify.flush(stack.server.app[SERVICES]) == 1  # the ten, merged into one
    calls = robot_calls(stack)
    assert [c.errcode for c in calls] == [0] * 21  # never tripped 45009
    times = [c.time for c in calls]
    assert all(sum(1 for t in times if start <= t < start + 60) <= 20 for start in times)
    texts = [c.json["markdown"]["content"] for c in calls]
    assert all(any(number in text for text in texts) for number in numbers)
    assert all(len(text.encode()) <= 4096 for text in texts)
    assert await TicketNotice.filter(status="pending").count() == 0


async def test_a_removed_robot_parks_the_channel_once_and_keeps_its_notices(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    shared_clock(stack)
    channel, key = await robot_route(stack)
    stored = await GroupChannel.get(id=channel)
    assert stored.secret is not None and key not in stored.secret  # sealed at rest
    stack.sandbox.state.remove_robot(key)
    ticket = {"title": "t", "category": "c", "priority": "P1"}
    with caplog.at_level(logging.ERROR, logger="scrm.tickets.notify"):
        first = await post(stack, "/api/v1/tickets", ticket)
        await stack.drain()
        second = await post(stack, "/api/v1/tickets", ticket)
        await stack.drain()
    assert [c.errcode for c in robot_calls(stack)] == [93000]  # parked: no second call
    assert len([r for r in caplog.records if "ADMIN ALERT" in r.message]) == 1
    assert key not in caplog.text
    status, shown = await stack.api("GET", f"/api/v1/group-channels/{channel}")
    assert shown["status"] == "parked" and "93000" in shown["last_error"]
    assert await TicketNotice.filter(status="pending").count() == 2

    new_key = stack.sandbox.state.add_robot()
    status, shown = await stack.api(
        "PATCH", f"/api/v1/group-channels/{channel}", json={"webhook_key": new_key}
    )
    assert status == 200 and shown["status"] == "active" and shown["last_error"] is None
    await notify.flush(stack.server.app[SERVICES])
    sent = robot_calls(stack)[-1]
    assert sent.errcode == 0
    assert first["number"] in sent.json["markdown"]["content"]
    assert second["number"] in sent.json["markdown"]["content"]


async def test_a_rate_limited_send_is_retried_with_backoff_and_shown(stack: Stack) -> None:
    clock = shared_clock(stack)
    await robot_route(stack)
    stack.sandbox.state.faults.inject("webhook/send", errcode=45009, count=1)
    created = await post(
        stack, "/api/v1/tickets", {"title": "t", "category": "c", "priority": "P1"}
    )
    await stack.drain()
    _status, one = await stack.api("GET", f"/api/v1/tickets/{created['id']}")
    assert [e["kind"] for e in one["timeline"]] == ["created", "notice_retry"]
    assert await notify.flush(stack.server.app[SERVICES]) == 0  # not yet due
    clock.now += 60
    assert await notify.flush(stack.server.app[SERVICES]) == 1
    _, one = await stack.api("GET", f"/api/v1/tickets/{created['id']}")
    assert [e["kind"] for e in one["timeline"]] == ["created", "notice_retry", "notice"]
    assert [c.errcode for c in robot_calls(stack)] == [45009, 0]


async def test_bad_channels_are_422(stack: Stack) -> None:
    for body, field in [
        ({"name": "x", "kind": "robot", "webhook_key": "not-a-uuid"}, "webhook_key"),
        ({"name": "x", "kind": "fax"}, "kind"),
        ({"name": "x", "kind": "email", "to": ["nobody"]}, "to"),
        ({"name": "x", "kind": "appchat"}, "chatid"),
        ({"name": "x", "kind": "user", "userid": "lisi", "to": ["a@b.cn"]}, "to"),
    ]:
        answer = await post(stack, "/api/v1/group-channels", body, expect=422)
        assert answer["error"]["field"] == field
    answer = await post(stack, "/api/v1/routes", {"name": "r", "channels": [99]}, expect=422)
    assert answer["error"]["field"] == "channels"
    answer = await post(
        stack, "/api/v1/routes", {"name": "r", "match": {"priority": ["P5"]}}, expect=422
    )
    assert answer["error"]["field"] == "match.priority"
    assert await GroupChannel.all().count() == 0


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


async def test_email_is_delivered_to_a_local_smtp_server(stack: Stack) -> None:
    inbox = Inbox()
    with socket.socket() as probe:  # aiosmtpd checks its own port, so it cannot be 0
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    await asyncio.to_thread(controller.start)
    try:
        runtime = stack.server.app[SERVICES].tickets
        assert runtime is not None
        runtime.mailer = Mailer("127.0.0.1", port, "scrm@example.com")
        body = {"name": "邮件", "kind": "email", "to": ["duty@example.com"]}
        channel = (await post(stack, "/api/v1/group-channels", body))["id"]
        await post(
            stack, "/api/v1/routes", {"name": "mail", "default": True, "channels": [channel]}
        )
        created = await post(
            stack, "/api/v1/tickets", {"title": "t", "category": "c", "priority": "P0"}
        )
        await stack.drain()
    finally:
        await asyncio.to_thread(controller.stop)
    assert len(inbox.messages) == 1
    mail = inbox.messages[0]
    assert mail.rcpt_tos == ["duty@example.com"]
    assert created["number"] in mail.content.decode()
    assert await TicketEvent.filter(kind="notice").count() == 1


async def test_an_unreachable_smtp_server_is_retried_and_a_deleted_channel_is_shown(
    stack: Stack,
) -> None:
    clock = shared_clock(stack)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    runtime = stack.server.app[SERVICES].tickets
    assert runtime is not None
    runtime.mailer = Mailer("127.0.0.1", port, "scrm@example.com", timeout=2.0)
    body = {"name": "邮件", "kind": "email", "to": ["duty@example.com"]}
    channel = (await post(stack, "/api/v1/group-channels", body))["id"]
    route = (
        await post(stack, "/api/v1/routes", {"name": "m", "default": True, "channels": [channel]})
    )["id"]
    created = await post(
        stack, "/api/v1/tickets", {"title": "t", "category": "c", "priority": "P0"}
    )
    await stack.drain()
    path = f"/api/v1/tickets/{created['id']}"
    _, one = await stack.api("GET", path)
    assert [e["kind"] for e in one["timeline"]] == ["created", "notice_retry"]
    assert await TicketNotice.filter(status="pending").count() == 1  # kept, not lost

    status, _ = await stack.api("DELETE", f"/api/v1/group-channels/{channel}")
    assert status == 409  # a route still sends to it
    await stack.api("DELETE", f"/api/v1/routes/{route}")
    status, _ = await stack.api("DELETE", f"/api/v1/group-channels/{channel}")
    assert status == 204
    clock.now += 3600
    await notify.flush(stack.server.app[SERVICES])
    _, one = await stack.api("GET", path)
    assert [e["kind"] for e in one["timeline"]][-1] == "notice_failed"
    assert await TicketNotice.filter(status="pending").count() == 0


async def test_a_wecom_outage_neither_fails_nor_holds_the_api_and_the_notice_goes_later_once(
    stack: Stack,
) -> None:
    clock = shared_clock(stack)
    await robot_route(stack)
    services = stack.server.app[SERVICES]
    stack.sandbox.state.faults.inject("webhook/send", errcode=-1, count=0)  # WeCom is down
    created = await post(
        stack, "/api/v1/tickets", {"title": "t", "category": "c", "priority": "P1"}
    )
    path = f"/api/v1/tickets/{created['id']}"
    await post(stack, path + "/comments", {"by": "lisi", "text": "在处理"})
    await post(stack, path + "/transitions", {"to": "in_progress", "by": "lisi"}, expect=200)
    assert robot_calls(stack) == []  # no request waited on WeCom
    assert await TicketNotice.filter(status="pending").count() == 3  # committed with the changes
    events = await Event.filter(name="ticket.notices_queued").count()
    assert events == 3  # one ring per change, for a worker

    await stack.drain()  # the worker tries: WeCom still down, the notices wait with a backoff
    assert [c.errcode for c in robot_calls(stack)] == [-1]
    assert await TicketNotice.filter(status="pending").count() == 3
    await stack.drain()
    assert len(robot_calls(stack)) == 1  # nothing re-sent by a second pass before the backoff

    stack.sandbox.state.faults.clear()  # WeCom is back
    clock.now += 3600
    await ticket_notices(services)  # the notices job
    await ticket_notices(services)
    await stack.drain()
    calls = robot_calls(stack)
    assert [c.errcode for c in calls] == [-1, 0]  # sent once, the three merged
    assert created["number"] in calls[-1].json["markdown"]["content"]
    assert await TicketNotice.filter(status="sent").count() == 3
    _, one = await stack.api("GET", path)
    assert [e["kind"] for e in one["timeline"]].count("notice") == 3


async def test_a_ring_that_cannot_be_stored_loses_no_notice(stack: Stack) -> None:
    shared_clock(stack)
    await robot_route(stack)
    services = stack.server.app[SERVICES]

    class BrokenInbox:
        async def store(self, event: Any) -> bool:
            raise InboxUnavailable("database gone")

    intake, services.inbox = services.inbox, BrokenInbox()  # type: ignore[assignment]
    try:
        created = await post(
            stack, "/api/v1/tickets", {"title": "t", "category": "c", "priority": "P1"}
        )
    finally:
        services.inbox = intake
    assert robot_calls(stack) == []
    await ticket_notices(services)  # the notices job finds what is pending
    [call] = robot_calls(stack)
    assert call.errcode == 0 and created["number"] in call.json["markdown"]["content"]


async def test_an_email_channel_without_an_smtp_server_fails_plainly(stack: Stack) -> None:
    """Nothing was sent and that is known: `notice_failed` naming the setting, not `unknown`."""
    runtime = stack.server.app[SERVICES].tickets
    assert runtime is not None and runtime.mailer is None  # SCRM_SMTP_HOST unset
    body = {"name": "邮件", "kind": "email", "to": ["duty@example.com"]}
    channel = (await post(stack, "/api/v1/group-channels", body))["id"]
    await post(stack, "/api/v1/routes", {"name": "m", "default": True, "channels": [channel]})
    created = await post(
        stack, "/api/v1/tickets", {"title": "t", "category": "c", "priority": "P1"}
    )
    await stack.drain()
    _, one = await stack.api("GET", f"/api/v1/tickets/{created['id']}")
    assert [e["kind"] for e in one["timeline"]] == ["created", "notice_failed"]
    assert "SCRM_SMTP_HOST" in one["timeline"][-1]["data"]["error"]
    _, shown = await stack.api("GET", f"/api/v1/group-channels/{channel}")
    assert "SCRM_SMTP_HOST" in shown["last_error"]
    _, effects = await stack.api("GET", "/api/v1/effects?status=unknown")
    assert effects["effects"] == []


async def test_a_new_chatid_clears_the_old_destinations_error(stack: Stack) -> None:
    body = {"name": "客服群", "kind": "appchat", "chatid": "no-such-chat"}
    channel = (await post(stack, "/api/v1/group-channels", body))["id"]
    await post(stack, "/api/v1/routes", {"name": "a", "default": True, "channels": [channel]})
    await post(stack, "/api/v1/tickets", {"title": "t", "category": "c", "priority": "P1"})
    await stack.drain()
    _, shown = await stack.api("GET", f"/api/v1/group-channels/{channel}")
    assert "86003" in shown["last_error"]
    chatid = stack.sandbox.state.add_appchat(None, "客服群", [])
    status, shown = await stack.api(
        "PATCH", f"/api/v1/group-channels/{channel}", json={"chatid": chatid}
    )
    assert status == 200 and shown["chatid"] == chatid and shown["last_error"] is None


async def test_a_notice_queued_while_its_channel_is_busy_is_sent_by_the_holder(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that finds the channel locked leaves at once; the holder looks again after
    letting go, so the notice does not wait for the notices job."""
    shared_clock(stack)
    channel, _ = await robot_route(stack)
    services = stack.server.app[SERVICES]
    async with services.kv.lock(f"tickets:channel:{channel}", ttl=60):  # another run's send
        first = await post(
            stack, "/api/v1/tickets", {"title": "a", "category": "c", "priority": "P2"}
        )
    assert robot_calls(stack) == [] and await TicketNotice.filter(status="pending").count() == 1
    real_send, second = notify._send, {}

    async def send_then_queue(*args: Any) -> bool:
        sent = await real_send(*args)
        if not second:  # meanwhile a ticket is opened; its flush finds the channel busy
            body = {"title": "b", "category": "c", "priority": "P2"}
            second.update(await post(stack, "/api/v1/tickets", body))
            assert await TicketNotice.filter(status="pending").count() == 1
        return sent

    monkeypatch.setattr(notify, "_send", send_then_queue)
    assert await notify.flush_channel(services, channel) == 2
    texts = [call.json["markdown"]["content"] for call in robot_calls(stack)]
    assert len(texts) == 2
    assert first["number"] in texts[0] and second["number"] in texts[1]
    assert await TicketNotice.filter(status="pending").count() == 0
