"""客户联系 permission per app token, get_follow_user_list, and the department tree."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from scrm.sandbox import SandboxConfig, SandboxState, create_sandbox_app
from tests.sandbox.conftest import AGENT_SECRET, CONTACT_SECRET, call, get_token

FOLLOW = "/cgi-bin/externalcontact/get_follow_user_list"
CUSTOMER_CALLS = [
    ("GET", FOLLOW, {}),
    ("GET", "/cgi-bin/externalcontact/get", {"params": {"external_userid": "wmX"}}),
    ("POST", "/cgi-bin/externalcontact/get_corp_tag_list", {"json": {}}),
    ("POST", "/cgi-bin/externalcontact/add_contact_way", {"json": {"type": 1, "scene": 2}}),
]


async def test_get_follow_user_list(sandbox: TestClient, state: SandboxState) -> None:
    state.add_staff("zhangsan")
    state.add_staff("lisi")
    data = await call(sandbox, "GET", FOLLOW, token=await get_token(sandbox, AGENT_SECRET))
    assert data["errcode"] == 0 and data["follow_user"] == ["zhangsan", "lisi"]


@pytest.fixture
async def no_permission(aiohttp_client: Any, config: SandboxConfig) -> TestClient:
    """A corp whose self-built app is not under 客户联系 → 可调用接口的应用."""
    unpermitted = replace(config, agent_customer_permission=False)
    client: TestClient = await aiohttp_client(
        create_sandbox_app(unpermitted, SandboxState(unpermitted))
    )
    return client


@pytest.mark.parametrize(("method", "path", "kwargs"), CUSTOMER_CALLS)
async def test_app_without_customer_permission_gets_48002(
    no_permission: TestClient, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    agent = await get_token(no_permission, AGENT_SECRET)
    assert (await call(no_permission, method, path, token=agent, **kwargs))["errcode"] == 48002
    # The system 客户联系 secret still may; so may the app on non-customer APIs.
    contact = await get_token(no_permission, CONTACT_SECRET)
    assert (await call(no_permission, method, path, token=contact, **kwargs))["errcode"] != 48002
    ticket = await call(no_permission, "GET", "/cgi-bin/get_jsapi_ticket", token=agent)
    assert ticket["errcode"] == 0


async def test_by_default_the_app_has_customer_permission(sandbox: TestClient) -> None:
    agent = await get_token(sandbox, AGENT_SECRET)
    assert (await call(sandbox, "GET", FOLLOW, token=agent))["errcode"] == 0


async def test_department_simplelist_walks_the_tree(
    sandbox: TestClient, state: SandboxState
) -> None:
    state.add_department(2, "销售部")
    state.add_department(21, "华东", parentid=2)
    state.add_department(211, "上海", parentid=21)
    state.add_department(3, "客服部")
    data = await call(sandbox, "GET", "/cgi-bin/department/simplelist", params={"id": "2"})
    assert data["department_id"] == [
        {"id": 2, "parentid": 1, "order": 0},
        {"id": 21, "parentid": 2, "order": 0},
        {"id": 211, "parentid": 21, "order": 0},
    ]
    everything = await call(sandbox, "GET", "/cgi-bin/department/simplelist")
    assert [d["id"] for d in everything["department_id"]] == [1, 2, 3, 21, 211]
    unknown = await call(sandbox, "GET", "/cgi-bin/department/simplelist", params={"id": "99"})
    assert unknown["errcode"] == 60123


@pytest.mark.parametrize("fetch_child", [None, "0", "1"])
async def test_user_simplelist_ignores_fetch_child(
    sandbox: TestClient, state: SandboxState, fetch_child: str | None
) -> None:
    """Only the department's own members, whatever fetch_child says (undocumented since
    2022-08): callers walk department/simplelist instead."""
    state.add_department(21, "华东", parentid=2)
    state.add_staff("zhangsan", departments=(2,))
    state.add_staff("lisi", departments=(21,))
    state.add_staff("boss")
    params = {"department_id": "2"} | ({"fetch_child": fetch_child} if fetch_child else {})
    data = await call(sandbox, "GET", "/cgi-bin/user/simplelist", params=params)
    assert [m["userid"] for m in data["userlist"]] == ["zhangsan"]
    root = await call(sandbox, "GET", "/cgi-bin/user/simplelist", params={"department_id": "1"})
    assert [m["userid"] for m in root["userlist"]] == ["boss"]


async def test_departments_and_staff_over_the_admin_api(
    sandbox: TestClient, state: SandboxState
) -> None:
    resp = await sandbox.post("/_sandbox/departments", json={"id": 5, "name": "市场部"})
    assert (await resp.json()) == {"id": 5, "name": "市场部", "parentid": 1, "order": 0}
    await sandbox.post("/_sandbox/departments", json={"id": 51, "parentid": 5})
    await sandbox.post("/_sandbox/staff", json={"userid": "mm", "department": [51]})
    assert state.staff["mm"].departments == [51]
    assert [d.id for d in state.subtree(5)] == [5, 51]
