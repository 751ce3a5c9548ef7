"""Channels through the admin API against the sandbox: WeCom first, nothing partial stored."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scrm.channels.models import Channel
from tests.e2e.conftest import Stack


async def create(stack: Stack, **fields: Any) -> tuple[int, Any]:
    body = {"name": "展会 2026", "staff": ["zhangsan"]} | fields
    return await stack.api("POST", "/api/v1/channels", json=body)


async def test_create_calls_add_contact_way_and_stores_the_channel(stack: Stack) -> None:
    stack.sandbox.state.add_staff("zhangsan")
    status, channel = await create(stack, state="fair_2026", skip_verify=False)
    assert status == 201, channel
    assert (channel["name"], channel["state"], channel["kind"]) == (
        "展会 2026",
        "fair_2026",
        "contact_way",
    )
    assert channel["config_id"] and channel["qr_code"]
    [call] = stack.sandbox_calls("add_contact_way")
    assert call.json == {
        "type": 1,
        "scene": 2,
        "skip_verify": False,
        "is_exclusive": False,
        "state": "fair_2026",
        "user": ["zhangsan"],
    }
    assert stack.sandbox.state.contact_ways[channel["config_id"]]["state"] == "fair_2026"
    status, again = await stack.api("GET", f"/api/v1/channels/{channel['id']}")
    assert (status, again) == (200, channel)


async def test_a_tag_named_without_a_group_shows_the_group_it_is_in(stack: Stack) -> None:
    """Created in the default group (自动标签) when missing: the channel says so, not null."""
    stack.sandbox.state.add_staff("zhangsan")
    stack.sandbox.state.add_tag_group("客户等级", ["VIP"])
    status, channel = await create(stack, tags=["展会", "VIP"])
    assert status == 201, channel
    assert [(t["name"], t["group"]) for t in channel["tags"]] == [
        ("展会", "自动标签"),
        ("VIP", "客户等级"),
    ]


async def test_several_staff_make_a_type_2_way_and_a_generated_state(stack: Stack) -> None:
    for userid in ("zhangsan", "lisi"):
        stack.sandbox.state.add_staff(userid)
    status, channel = await create(stack, staff=["zhangsan", "lisi"])
    assert status == 201, channel
    assert channel["state"].startswith("ch_") and len(channel["state"]) <= 30
    [call] = stack.sandbox_calls("add_contact_way")
    assert (call.json["type"], call.json["user"]) == (2, ["zhangsan", "lisi"])


async def test_wecom_refusal_is_502_naming_the_errcode_and_stores_nothing(stack: Stack) -> None:
    status, body = await create(stack, staff=["nobody"])  # not a member: 40003
    assert status == 502
    assert body["error"]["code"] == "wecom_error"
    assert "40003" in body["error"]["message"]
    assert await Channel.filter(is_default=False).count() == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"staff": []}, "staff"),
        ({"staff": "zhangsan"}, "staff"),
        ({"state": "x" * 31}, "state"),
        ({"state": " padded"}, "state"),
        ({"state": "unattributed"}, "state"),
        ({"kind": "billboard"}, "kind"),
        ({"options": {"page": "/pages/index"}}, "options.page"),
        ({"fields": ["name", "phone"]}, "fields"),
        ({"colour": "red"}, "colour"),
        ({"welcome": {"text": 5}}, "welcome.text"),
        ({"skip_verify": "yes"}, "skip_verify"),
        ({"rotation": {"daily_cap": 0}}, "rotation.daily_cap"),
        ({"rotation": {"timezone": "Mars/Olympus"}}, "rotation.timezone"),
        (
            {"rotation": {"schedule": [{"start": "18:00", "end": "09:00", "staff": ["zhangsan"]}]}},
            "rotation.schedule[0].end",
        ),
        ({"rotation": {"schedule": [{"staff": ["wangwu"]}]}}, "rotation.schedule[0].staff"),
        ({"tags": ["x" * 31]}, "tags[0]"),
        ({"name": "a\x00b"}, "name"),
        ({"welcome": {"text": "hi\x00"}}, "welcome.text"),
        ({"options": {"k": ["\x00"]}}, "options.k[0]"),
    ],
)
async def test_bad_input_is_422_naming_the_field(
    stack: Stack, fields: dict[str, Any], field: str
) -> None:
    stack.sandbox.state.add_staff("zhangsan")
    status, body = await create(stack, **fields)
    # text no database stores (NUL) is refused with 400 while the body is read (json_body)
    expected = 400 if "\\u0000" in json.dumps(fields) else 422
    assert (status, body["error"]["field"]) == (expected, field), body
    assert stack.sandbox_calls("add_contact_way") == []


async def test_a_clashing_state_is_422(stack: Stack) -> None:
    stack.sandbox.state.add_staff("zhangsan")
    assert (await create(stack, state="fair"))[0] == 201
    status, body = await create(stack, state="fair")
    assert (status, body["error"]["field"]) == (422, "state")
    assert len(stack.sandbox_calls("add_contact_way")) == 1


async def test_patch_pushes_staff_with_update_contact_way(stack: Stack) -> None:
    for userid in ("zhangsan", "lisi"):
        stack.sandbox.state.add_staff(userid)
    _, channel = await create(stack, staff=["zhangsan", "lisi"])
    status, changed = await stack.api(
        "PATCH", f"/api/v1/channels/{channel['id']}", json={"staff": ["lisi"], "name": "门店"}
    )
    assert status == 200, changed
    assert (changed["staff"], changed["active_staff"], changed["name"]) == (
        ["lisi"],
        ["lisi"],
        "门店",
    )
    [call] = stack.sandbox_calls("update_contact_way")
    assert call.json == {"config_id": channel["config_id"], "user": ["lisi"], "skip_verify": True}
    assert stack.sandbox.state.contact_ways[channel["config_id"]]["user"] == ["lisi"]


async def test_patch_refused_by_wecom_changes_nothing(stack: Stack) -> None:
    stack.sandbox.state.add_staff("zhangsan")
    _, channel = await create(stack, staff=["zhangsan"])
    status, body = await stack.api(
        "PATCH", f"/api/v1/channels/{channel['id']}", json={"staff": ["ghost"]}
    )
    assert status == 502 and "40003" in body["error"]["message"]
    _, after = await stack.api("GET", f"/api/v1/channels/{channel['id']}")
    assert after == channel


async def test_a_code_made_for_one_member_cannot_take_several(stack: Stack) -> None:
    """WeCom fixes a way's type at creation: a precise 422 naming staff, not WeCom's 40058."""
    for userid in ("zhangsan", "lisi", "wangwu"):
        stack.sandbox.state.add_staff(userid)
    _, single = await create(stack, staff=["zhangsan"])
    path = f"/api/v1/channels/{single['id']}"
    status, body = await stack.api("PATCH", path, json={"staff": ["zhangsan", "lisi"]})
    assert (status, body["error"]["field"]) == (422, "staff"), body
    assert "one member" in body["error"]["message"]
    assert stack.sandbox_calls("update_contact_way") == []
    assert (await stack.api("GET", path))[1] == single
    status, swapped = await stack.api("PATCH", path, json={"staff": ["lisi"]})  # one for one
    assert (status, swapped["active_staff"]) == (200, ["lisi"])
    # A code made for several that shrank to one grows again.
    _, several = await create(stack, staff=["zhangsan", "lisi"])
    path = f"/api/v1/channels/{several['id']}"
    assert (await stack.api("PATCH", path, json={"staff": ["lisi"]}))[0] == 200
    status, grown = await stack.api("PATCH", path, json={"staff": ["lisi", "wangwu"]})
    assert (status, grown["active_staff"]) == (200, ["lisi", "wangwu"]), grown


async def test_patch_cannot_change_state(stack: Stack) -> None:
    stack.sandbox.state.add_staff("zhangsan")
    _, channel = await create(stack)
    status, body = await stack.api(
        "PATCH", f"/api/v1/channels/{channel['id']}", json={"state": "other"}
    )
    assert (status, body["error"]["field"]) == (422, "state")


async def test_delete_removes_the_way_and_keeps_the_channel_archived(stack: Stack) -> None:
    stack.sandbox.state.add_staff("zhangsan")
    _, channel = await create(stack)
    status, archived = await stack.api("DELETE", f"/api/v1/channels/{channel['id']}")
    assert status == 200 and archived["archived"] is True
    [call] = stack.sandbox_calls("del_contact_way")
    assert call.json == {"config_id": channel["config_id"]}
    assert channel["config_id"] not in stack.sandbox.state.contact_ways
    _, listed = await stack.api("GET", "/api/v1/channels?archived=true")
    assert [c["id"] for c in listed["channels"]] == [channel["id"]]


async def test_list_pages_and_shows_the_default_channel(stack: Stack) -> None:
    stack.sandbox.state.add_staff("zhangsan")
    for n in range(3):
        await create(stack, name=f"c{n}")
    status, first = await stack.api("GET", "/api/v1/channels?limit=2")
    assert status == 200
    assert [c["name"] for c in first["channels"]] == ["unattributed", "c0"]
    assert first["channels"][0]["default"] is True
    _, second = await stack.api("GET", f"/api/v1/channels?limit=2&cursor={first['next_cursor']}")
    assert [c["name"] for c in second["channels"]] == ["c1", "c2"]
    assert second["next_cursor"] is None


async def test_unknown_channel_is_404(stack: Stack) -> None:
    for path in ("/api/v1/channels/999", "/api/v1/channels/abc", "/api/v1/channels/999/stats"):
        status, body = await stack.api("GET", path)
        assert (status, body["error"]["code"]) == (404, "not_found"), path


async def test_the_default_channel_cannot_be_deleted(stack: Stack) -> None:
    _, listed = await stack.api("GET", "/api/v1/channels")
    default = listed["channels"][0]
    status, _ = await stack.api("DELETE", f"/api/v1/channels/{default['id']}")
    assert status == 409


async def test_stats_window_parameters(stack: Stack) -> None:
    stack.sandbox.state.add_staff("zhangsan")
    _, channel = await create(stack)
    path = f"/api/v1/channels/{channel['id']}/stats"
    status, stats = await stack.api("GET", path + "?from=2026-11-01&to=2026-11-03")
    assert status == 200
    assert (stats["adds"], stats["retained"], stats["lost"]) == (0, 0, 0)
    assert [d["date"] for d in stats["by_day"]] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    for query, field in (
        ("from=2026-11-05&to=2026-11-01", "from"),
        ("from=yesterday", "from"),
        ("to=2026-13-01", "to"),
        ("tz=Mars/Base", "tz"),
        ("from=2020-01-01&to=2026-01-01", "from"),
        ("to=9999-12-31", "to"),
        ("tz=", "tz"),
    ):
        status, body = await stack.api("GET", f"{path}?{query}")
        assert (status, body["error"]["field"]) == (422, field), query


async def test_contact_way_changes_are_effects_in_the_ledger(stack: Stack) -> None:
    """Create, change and delete each claim an effect and record WeCom's outcome."""
    stack.sandbox.state.add_staff("zhangsan")
    stack.sandbox.state.add_staff("lisi")
    status, made = await create(stack, staff=["zhangsan", "lisi"])
    assert status == 201, made
    path = f"/api/v1/channels/{made['id']}"
    status, _ = await stack.api("PATCH", path, json={"staff": ["lisi"]})
    assert status == 200
    status, _ = await stack.api("DELETE", path)
    assert status in (200, 204)
    refused, _ = await create(stack, name="另一个", staff=["nobody"])  # 40003
    assert refused == 502
    status, listed = await stack.api("GET", "/api/v1/effects?limit=50")
    assert status == 200
    ways = {
        (e["kind"], e["status"]) for e in listed["effects"] if e["kind"].endswith("_contact_way")
    }
    assert ways == {
        ("add_contact_way", "done"),
        ("update_contact_way", "done"),
        ("del_contact_way", "done"),
        ("add_contact_way", "failed"),
    }
