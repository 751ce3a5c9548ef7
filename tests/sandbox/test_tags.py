from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from scrm.sandbox import SandboxState
from tests.sandbox.conftest import call

LIST = "/cgi-bin/externalcontact/get_corp_tag_list"
ADD = "/cgi-bin/externalcontact/add_corp_tag"
MARK = "/cgi-bin/externalcontact/mark_tag"


async def test_list_all_then_filtered(sandbox: TestClient, state: SandboxState) -> None:
    level = state.add_tag_group("等级", ["VIP", "普通"])
    source = state.add_tag_group("来源", ["展会"])
    everything = await call(sandbox, "POST", LIST, json={})
    assert [g["group_name"] for g in everything["tag_group"]] == ["等级", "来源"]
    assert [t["name"] for t in everything["tag_group"][0]["tag"]] == ["VIP", "普通"]
    by_tag = await call(sandbox, "POST", LIST, json={"tag_id": [level.tags[1].id]})
    assert [(g["group_name"], [t["name"] for t in g["tag"]]) for g in by_tag["tag_group"]] == [
        ("等级", ["普通"])
    ]
    # group_id wins over tag_id
    both = await call(
        sandbox, "POST", LIST, json={"tag_id": [level.tags[0].id], "group_id": [source.group_id]}
    )
    assert [g["group_name"] for g in both["tag_group"]] == ["来源"]


async def test_add_corp_tag_by_new_name_creates_the_group(
    sandbox: TestClient, state: SandboxState
) -> None:
    data = await call(
        sandbox, "POST", ADD, json={"group_name": "意向", "tag": [{"name": "高"}, {"name": "低"}]}
    )
    assert data["errcode"] == 0
    assert data["tag_group"]["group_name"] == "意向"
    assert [t["name"] for t in data["tag_group"]["tag"]] == ["高", "低"]
    assert [g.group_name for g in state.tag_groups.values()] == ["意向"]


async def test_add_corp_tag_to_existing_group_returns_only_new_tags(
    sandbox: TestClient, state: SandboxState
) -> None:
    group = state.add_tag_group("等级", ["VIP"])
    data = await call(
        sandbox, "POST", ADD, json={"group_id": group.group_id, "tag": [{"name": "SVIP"}]}
    )
    assert [t["name"] for t in data["tag_group"]["tag"]] == ["SVIP"]
    assert [t.name for t in group.tags] == ["VIP", "SVIP"]


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({"group_id": "etUnknown", "tag": [{"name": "x"}]}, 40068),
        ({"tag": [{"name": "x"}]}, 40058),
        ({"group_name": "g", "tag": []}, 40058),
        ({"group_name": "g", "tag": [{"name": "x" * 31}]}, 40058),
        ({"group_name": "等级", "tag": [{"name": "VIP"}]}, 40071),
    ],
)
async def test_add_corp_tag_errors(
    sandbox: TestClient, state: SandboxState, body: dict, errcode: int
) -> None:  # type: ignore[type-arg]
    state.add_tag_group("等级", ["VIP"])
    assert (await call(sandbox, "POST", ADD, json=body))["errcode"] == errcode


async def test_mark_tag_adds_and_removes(sandbox: TestClient, state: SandboxState) -> None:
    vip, normal = state.add_tag_group("等级", ["VIP", "普通"]).tags
    relation = state.add_relation("zhangsan", "wmC", tag_ids=[normal.id])
    body = {
        "userid": "zhangsan",
        "external_userid": "wmC",
        "add_tag": [vip.id],
        "remove_tag": [normal.id],
    }
    assert (await call(sandbox, "POST", MARK, json=body))["errcode"] == 0
    assert relation.tag_ids == [vip.id]
    # idempotent: adding again does not duplicate
    assert (await call(sandbox, "POST", MARK, json={**body, "remove_tag": []}))["errcode"] == 0
    assert relation.tag_ids == [vip.id]


async def test_mark_tag_errors(sandbox: TestClient, state: SandboxState) -> None:
    vip = state.add_tag_group("等级", ["VIP"]).tags[0]
    state.add_relation("zhangsan", "wmC")
    state.add_staff("lisi")
    base = {"userid": "zhangsan", "external_userid": "wmC"}
    assert (await call(sandbox, "POST", MARK, json=base))["errcode"] == 40058
    no_relation = {**base, "userid": "lisi", "add_tag": [vip.id]}
    assert (await call(sandbox, "POST", MARK, json=no_relation))["errcode"] == 84061
    assert (await call(sandbox, "POST", MARK, json={**base, "add_tag": ["etNope"]}))[
        "errcode"
    ] == 40068
    assert (
        await call(sandbox, "POST", MARK, json={**base, "userid": "ghost", "add_tag": [vip.id]})
    )["errcode"] == 40003
