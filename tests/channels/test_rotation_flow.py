"""Rotation and caps against the sandbox, with the service's clock injected."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from scrm.appkeys import SERVICES
from scrm.channels.models import Channel
from scrm.channels.staffing import rotate_due
from scrm.effects.models import Effect
from scrm.models import HandlerRun
from tests.channels.test_add_flow import scan
from tests.e2e.conftest import Stack


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()


async def test_reaching_the_cap_takes_the_member_off_the_code(stack: Stack) -> None:
    for userid in ("zhangsan", "lisi"):
        stack.sandbox.state.add_staff(userid)
    body = {"name": "门店", "staff": ["zhangsan", "lisi"], "rotation": {"daily_cap": 1}}
    status, channel = await stack.api("POST", "/api/v1/channels", json=body)
    assert status == 201 and channel["active_staff"] == ["zhangsan", "lisi"]
    await scan(stack, channel, "wmCAP00000001", times=1)  # the sandbox gives it to zhangsan
    await stack.drain()
    [call] = stack.sandbox_calls("update_contact_way")
    assert call.json == {"config_id": channel["config_id"], "user": ["lisi"]}
    assert stack.sandbox.state.contact_ways[channel["config_id"]]["user"] == ["lisi"]
    stored = await Channel.get(id=channel["id"])
    assert stored.active_staff == ["lisi"] and stored.rotation_version == 1
    effect = await Effect.get(kind="update_contact_way")
    assert effect.status == "done"
    # Redelivery of the add: the cap is still reached, but the code already says so.
    await HandlerRun.all().update(status="pending", next_attempt_at=0)
    await stack.drain()
    assert len(stack.sandbox_calls("update_contact_way")) == 1


async def test_the_rotation_job_pushes_the_schedule_change_when_due(stack: Stack) -> None:
    services = stack.server.app[SERVICES]
    now = at("2026-11-30T12:00:00")  # a Monday, inside the slot
    services.clock = lambda: now
    for userid in ("a", "b", "z"):
        stack.sandbox.state.add_staff(userid)
    rotation = {
        "schedule": [{"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "18:00", "staff": ["a"]}],
        "backup": ["z"],
    }
    status, channel = await stack.api(
        "POST", "/api/v1/channels", json={"name": "热线", "staff": ["a", "b"], "rotation": rotation}
    )
    assert status == 201, channel
    assert channel["active_staff"] == ["a"]
    assert channel["next_change_at"] == at("2026-11-30T18:00:00")
    assert await rotate_due(services) == 0  # nothing is due yet
    assert stack.sandbox_calls("update_contact_way") == []
    now = at("2026-11-30T18:00:30")
    assert await rotate_due(services) == 1
    [call] = stack.sandbox_calls("update_contact_way")
    assert call.json["user"] == ["z"]
    stored = await Channel.get(id=channel["id"])
    assert stored.active_staff == ["z"]
    assert stored.next_change_at == at("2026-12-01T09:00:00")
    assert await rotate_due(services) == 0  # the due time moved on
