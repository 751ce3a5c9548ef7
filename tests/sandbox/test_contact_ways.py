"""get/update/del_contact_way: the way after creation, with WeCom's errcodes."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from scrm.sandbox import SandboxState
from tests.sandbox.conftest import call

EXTERNAL = "/cgi-bin/externalcontact"


async def new_way(sandbox: TestClient, state: SandboxState, **body: object) -> str:
    for userid in ("zhangsan", "lisi"):
        state.add_staff(userid)
    data = await call(
        sandbox,
        "POST",
        f"{EXTERNAL}/add_contact_way",
        json={"type": 2, "scene": 2, "user": ["zhangsan"], "state": "ch_1"} | body,
    )
    assert data["errcode"] == 0
    return str(data["config_id"])


async def test_get_update_delete(sandbox: TestClient, state: SandboxState) -> None:
    config_id = await new_way(sandbox, state)
    got = await call(sandbox, "POST", f"{EXTERNAL}/get_contact_way", json={"config_id": config_id})
    assert got["errcode"] == 0
    way = got["contact_way"]
    assert (way["config_id"], way["type"], way["state"], way["user"]) == (
        config_id,
        2,
        "ch_1",
        ["zhangsan"],
    )
    assert way["qr_code"].endswith(f"/_sandbox/contact_way/{config_id}/qr.png")
    body = {"config_id": config_id, "user": ["zhangsan", "lisi"], "skip_verify": False}
    assert (await call(sandbox, "POST", f"{EXTERNAL}/update_contact_way", json=body))[
        "errcode"
    ] == 0
    assert state.contact_ways[config_id]["user"] == ["zhangsan", "lisi"]
    assert state.contact_ways[config_id]["skip_verify"] is False
    gone = await call(sandbox, "POST", f"{EXTERNAL}/del_contact_way", json={"config_id": config_id})
    assert gone["errcode"] == 0 and config_id not in state.contact_ways
    again = await call(
        sandbox, "POST", f"{EXTERNAL}/del_contact_way", json={"config_id": config_id}
    )
    assert again["errcode"] == 40058


async def test_update_refuses_unknown_members_and_a_second_member_on_type_1(
    sandbox: TestClient, state: SandboxState
) -> None:
    config_id = await new_way(sandbox, state, type=1)
    path = f"{EXTERNAL}/update_contact_way"
    ghost = await call(sandbox, "POST", path, json={"config_id": config_id, "user": ["ghost"]})
    assert ghost["errcode"] == 40003
    two = {"config_id": config_id, "user": ["zhangsan", "lisi"]}
    assert (await call(sandbox, "POST", path, json=two))["errcode"] == 40058
    missing = await call(sandbox, "POST", path, json={"user": ["lisi"]})
    assert missing["errcode"] == 40058
    assert state.contact_ways[config_id]["user"] == ["zhangsan"]
