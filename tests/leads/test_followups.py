"""Follow-ups, reminders once through the ledger (an injected clock), and the timeline."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from scrm.appkeys import SERVICES
from scrm.channels.models import ChannelLink
from scrm.leads.followups import send_due_reminders
from scrm.leads.models import FollowUp, Lead
from scrm.models import Customer
from scrm.services import Services
from tests.e2e.conftest import Stack
from tests.leads.flows import Visitor, form_channel

CST = timezone(timedelta(hours=8))


async def one_lead(stack: Stack) -> Lead:
    channel = await form_channel(stack)
    visitor = Visitor(stack, channel["state"])
    await visitor.open()
    await visitor.submit(name="韩梅梅", phone="13812345678")
    await stack.drain()
    return await Lead.get()


def at(stack: Stack, moment: float) -> Services:
    """The stack's services with the clock stopped at ``moment``."""
    return dataclasses.replace(stack.server.app[SERVICES], clock=lambda: moment)


def reminders(stack: Stack) -> list[Any]:
    return [
        m for m in stack.sandbox.state.sent["app_message"] if "跟进提醒" in m["text"]["content"]
    ]


async def test_a_reminder_goes_out_once_when_due(stack: Stack) -> None:
    lead = await one_lead(stack)
    due = datetime(2030, 5, 1, 9, 30, tzinfo=CST)
    status, followup = await stack.api(
        "POST",
        f"/api/v1/leads/{lead.id}/followups",
        json={"by": "zhangsan", "kind": "call", "note": "回电报价", "remind_at": due.isoformat()},
    )
    assert status == 201, followup
    assert followup["remind_at"] == due.timestamp() and followup["reminded_at"] is None
    assert (await Lead.get(id=lead.id)).last_followup_at is not None  # by the owner
    _, detail = await stack.api("GET", f"/api/v1/leads/{lead.id}")
    assert [(f["kind"], f["note"]) for f in detail["followups"]] == [("call", "回电报价")]
    assert await send_due_reminders(at(stack, due.timestamp() - 1)) == 0
    assert reminders(stack) == []
    # Two processes tick at once: one message.
    sent = await asyncio.gather(
        send_due_reminders(at(stack, due.timestamp() + 5)),
        send_due_reminders(at(stack, due.timestamp() + 6)),
    )
    assert sum(sent) == 1
    [message] = reminders(stack)
    assert message["touser"] == ["zhangsan"] and "回电报价" in message["text"]["content"]
    # A tick cut off after the send but before marking: the ledger answers, nothing is resent.
    await FollowUp.all().update(reminded_at=None)
    assert await send_due_reminders(at(stack, due.timestamp() + 60)) == 0
    assert len(reminders(stack)) == 1
    assert (await FollowUp.get()).reminded_at is not None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "call", "note": "x"}, "by"),
        ({"by": "zhangsan", "kind": "lunch", "note": "x"}, "kind"),
        ({"by": "zhangsan", "note": ""}, "note"),
        ({"by": "zhangsan", "note": "x", "remind_at": "2030-05-01T09:30:00"}, "remind_at"),
        ({"by": "zhangsan", "note": "x", "remind_at": "tomorrow"}, "remind_at"),
        ({"by": "zhangsan", "note": "x", "colour": "red"}, "colour"),
    ],
)
async def test_bad_followups_are_422_naming_the_field(
    stack: Stack, body: dict[str, Any], field: str
) -> None:
    lead = await one_lead(stack)
    status, error = await stack.api("POST", f"/api/v1/leads/{lead.id}/followups", json=body)
    assert (status, error["error"]["field"]) == (422, field)
    assert await FollowUp.all().count() == 0


async def test_customer_followup_and_timeline_in_time_order(stack: Stack) -> None:
    lead = await one_lead(stack)
    await Customer.create(external_userid="wmHAN001", name="韩梅梅", updated_at=0.0)
    status, _ = await stack.api("GET", "/api/v1/customers/wmNOBODY/timeline")
    assert status == 404
    status, _ = await stack.api(
        "POST", "/api/v1/customers/wmNOBODY/followups", json={"by": "zhangsan", "note": "x"}
    )
    assert status == 404
    channel_id = lead.channel_id  # type: ignore[attr-defined]
    await ChannelLink.create(
        channel_id=channel_id,
        external_userid="wmHAN001",
        userid="zhangsan",
        added_at=int(lead.created_at) - 100,
        created_at=lead.created_at - 100,
    )
    await Lead.filter(id=lead.id).update(external_userid="wmHAN001")
    status, followup = await stack.api(
        "POST",
        "/api/v1/customers/wmHAN001/followups",
        json={"by": "zhangsan", "kind": "visit", "note": "上门拜访"},
    )
    assert status == 201 and followup["external_userid"] == "wmHAN001"
    status, body = await stack.api("GET", "/api/v1/customers/wmHAN001/timeline")
    assert status == 200
    kinds = [(item["type"], item.get("kind")) for item in body["items"]]
    assert kinds == [
        ("channel", None),
        ("lead", "submitted"),
        ("lead", "assigned"),
        ("followup", "visit"),
    ]
    times = [item["at"] for item in body["items"]]
    assert times == sorted(times)
