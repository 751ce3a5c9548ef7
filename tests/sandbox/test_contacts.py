from __future__ import annotations

from dataclasses import replace

import pytest
from aiohttp.test_utils import TestClient

from scrm.sandbox import SandboxConfig, SandboxState, create_sandbox_app
from tests.sandbox.conftest import Clock, call

GET = "/cgi-bin/externalcontact/get"
ADD_WAY = "/cgi-bin/externalcontact/add_contact_way"
WELCOME = "/cgi-bin/externalcontact/send_welcome_msg"


async def test_get_external_contact_returns_follow_users_with_tags_and_state(
    sandbox: TestClient, state: SandboxState
) -> None:
    group = state.add_tag_group("客户等级", ["VIP", "普通"])
    vip = group.tags[0]
    state.add_customer("wmCustomer1", name="张三", unionid="ounion1")
    state.add_relation(
        "zhangsan", "wmCustomer1", createtime=1700000100, state="ch_001", tag_ids=[vip.id]
    )
    state.add_relation("lisi", "wmCustomer1", createtime=1700000200)

    data = await call(sandbox, "GET", GET, params={"external_userid": "wmCustomer1"})

    assert data["errcode"] == 0
    assert data["external_contact"] == {
        "external_userid": "wmCustomer1",
        "name": "张三",
        "type": 1,
        "gender": 0,
        "avatar": "",
        "unionid": "ounion1",
    }
    first, second = data["follow_user"]
    assert first["userid"] == "zhangsan" and first["state"] == "ch_001"
    assert first["createtime"] == 1700000100
    assert first["tags"] == [
        {"group_name": "客户等级", "tag_name": "VIP", "tag_id": vip.id, "type": 1}
    ]
    assert "state" not in second and "next_cursor" not in data


async def test_remark_mobiles_are_listed_only_when_noted(
    sandbox: TestClient, state: SandboxState
) -> None:
    """WeCom leaves ``remark_mobiles`` out of a follow_user entry without noted numbers."""
    state.add_relation("zhangsan", "wmC", remark_mobiles=["13812345678", "021-5555"])
    state.add_relation("lisi", "wmC")
    data = await call(sandbox, "GET", GET, params={"external_userid": "wmC"})
    first, second = data["follow_user"]
    assert first["remark_mobiles"] == ["13812345678", "021-5555"]
    assert "remark_mobiles" not in second


async def test_unknown_customer_is_40096(sandbox: TestClient) -> None:
    data = await call(sandbox, "GET", GET, params={"external_userid": "wmNobody"})
    assert data["errcode"] == 40096


async def test_relation_deleted_by_staff_is_not_returned(
    sandbox: TestClient, state: SandboxState
) -> None:
    state.add_relation("zhangsan", "wmC").deleted_by_staff = True
    assert (await call(sandbox, "GET", GET, params={"external_userid": "wmC"}))["errcode"] == 40096


async def test_follow_users_are_paged_with_next_cursor(
    aiohttp_client, config: SandboxConfig
) -> None:  # type: ignore[no-untyped-def]
    state = SandboxState(replace(config, follow_user_page_size=2))
    for userid in ("a", "b", "c"):
        state.add_relation(userid, "wmPaged")
    client = await aiohttp_client(create_sandbox_app(state.config, state))
    page1 = await call(client, "GET", GET, params={"external_userid": "wmPaged"})
    assert [f["userid"] for f in page1["follow_user"]] == ["a", "b"]
    page2 = await call(
        client, "GET", GET, params={"external_userid": "wmPaged", "cursor": page1["next_cursor"]}
    )
    assert [f["userid"] for f in page2["follow_user"]] == ["c"] and "next_cursor" not in page2


async def test_add_contact_way_returns_config_id_and_qr_for_scene_2(
    sandbox: TestClient, state: SandboxState
) -> None:
    state.add_staff("zhangsan")
    data = await call(
        sandbox,
        "POST",
        ADD_WAY,
        json={"type": 1, "scene": 2, "user": ["zhangsan"], "state": "ch_001"},
    )
    assert data["errcode"] == 0 and len(data["config_id"]) == 32
    image = await sandbox.get(data["qr_code"].removeprefix(str(sandbox.make_url(""))))
    assert image.status == 200 and (await image.read()).startswith(b"\x89PNG")
    assert state.contact_ways[data["config_id"]]["state"] == "ch_001"


async def test_add_contact_way_scene_1_has_no_qr(sandbox: TestClient, state: SandboxState) -> None:
    state.add_staff("zhangsan")
    data = await call(sandbox, "POST", ADD_WAY, json={"type": 1, "scene": 1, "user": ["zhangsan"]})
    assert data["errcode"] == 0 and "qr_code" not in data


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({"type": 1, "scene": 2, "user": ["zhangsan"], "state": "x" * 31}, 40058),
        ({"type": 1, "scene": 2, "user": ["ghost"]}, 40003),
        ({"type": 1, "scene": 2, "user": []}, 40058),
        ({"type": 3, "scene": 2, "user": ["zhangsan"]}, 41039),
        ({"type": 1, "scene": 3, "user": ["zhangsan"]}, 41040),
    ],
)
async def test_add_contact_way_errors(
    sandbox: TestClient, state: SandboxState, body: dict, errcode: int
) -> None:  # type: ignore[type-arg]
    state.add_staff("zhangsan")
    assert (await call(sandbox, "POST", ADD_WAY, json=body))["errcode"] == errcode


async def test_welcome_code_is_single_use(sandbox: TestClient, state: SandboxState) -> None:
    code = state.issue_welcome_code("zhangsan", "wmC")
    body = {"welcome_code": code, "text": {"content": "欢迎"}}
    assert (await call(sandbox, "POST", WELCOME, json=body))["errcode"] == 0
    assert state.sent["welcome"] == [
        {"userid": "zhangsan", "external_userid": "wmC", "text": "欢迎", "attachments": []}
    ]
    assert (await call(sandbox, "POST", WELCOME, json=body))["errcode"] == 41051


async def test_welcome_code_unknown_or_expired_is_41050(
    sandbox: TestClient, state: SandboxState, clock: Clock
) -> None:
    assert (
        await call(
            sandbox, "POST", WELCOME, json={"welcome_code": "nope", "text": {"content": "hi"}}
        )
    )["errcode"] == 41050
    code = state.issue_welcome_code("zhangsan", "wmC")
    clock.now += 20
    assert (
        await call(sandbox, "POST", WELCOME, json={"welcome_code": code, "text": {"content": "hi"}})
    )["errcode"] == 41050


async def test_welcome_needs_content(sandbox: TestClient, state: SandboxState) -> None:
    code = state.issue_welcome_code("zhangsan", "wmC")
    assert (await call(sandbox, "POST", WELCOME, json={"welcome_code": code}))["errcode"] == 40058
    too_long = {"welcome_code": code, "text": {"content": "字" * 1400}}
    assert (await call(sandbox, "POST", WELCOME, json=too_long))["errcode"] == 40058


async def test_relation_deleted_by_customer_is_still_listed(
    sandbox: TestClient, state: SandboxState
) -> None:
    """After del_follow_user WeCom may keep listing the member (the relation is one-sided):
    a re-read after a same-second add/delete pair cannot tell which came last."""
    state.add_relation("zhangsan", "wmOneSided").deleted_by_customer = True
    data = await call(sandbox, "GET", GET, params={"external_userid": "wmOneSided"})
    assert [f["userid"] for f in data["follow_user"]] == ["zhangsan"]


async def test_user_get_names_the_direct_leader(sandbox: TestClient, state: SandboxState) -> None:
    state.add_staff("boss")
    state.add_staff("lisi").direct_leader.append("boss")
    data = await call(sandbox, "GET", "/cgi-bin/user/get", params={"userid": "lisi"})
    assert (data["errcode"], data["direct_leader"]) == (0, ["boss"])
    data = await call(sandbox, "GET", "/cgi-bin/user/get", params={"userid": "nobody"})
    assert data["errcode"] == 60111
