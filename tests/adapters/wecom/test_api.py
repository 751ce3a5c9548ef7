"""Every public method end to end against the sandbox: request shape in, typed result out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from adapters.wecom import (
    ContactWay,
    ExternalContactDetail,
    FollowUserTag,
    OAuthUserInfo,
    WeComAPIError,
    WeComClient,
)
from config import Secret
from scrm.sandbox import SandboxState

from .conftest import AGENT_SECRET


async def test_get_external_contact_is_typed(client: WeComClient, state: SandboxState) -> None:
    vip = state.add_tag_group("等级", ["VIP"]).tags[0]
    state.add_customer("wmC1", name="张三", unionid="oU1")
    state.add_relation(
        "zhangsan", "wmC1", createtime=1700000000, state="ch_001", tag_ids=[vip.id], remark="老客户"
    )

    detail = await client.get_external_contact("wmC1")

    assert isinstance(detail, ExternalContactDetail)
    assert detail.external_contact.name == "张三" and detail.external_contact.unionid == "oU1"
    follower = detail.follower("zhangsan")
    assert follower is not None
    assert (follower.state, follower.createtime, follower.remark) == (
        "ch_001",
        1700000000,
        "老客户",
    )
    assert follower.tags == (FollowUserTag("等级", "VIP", vip.id, 1),)
    assert state.calls.find("externalcontact/get")[0].query == {
        "access_token": "***",
        "external_userid": "wmC1",
    }


async def test_remark_mobiles_are_read_and_kept_out_of_repr(
    client: WeComClient, state: SandboxState
) -> None:
    state.add_relation("zhangsan", "wmC2", remark_mobiles=["13812345678"])
    state.add_relation("lisi", "wmC2")
    detail = await client.get_external_contact("wmC2")
    noted, other = detail.follow_user
    assert (noted.remark_mobiles, other.remark_mobiles) == (("13812345678",), ())
    assert "13812345678" not in repr(detail)


async def test_get_external_contact_follows_next_cursor(
    client: WeComClient, state: SandboxState
) -> None:
    state.config = replace(state.config, follow_user_page_size=2)
    for userid in ("a", "b", "c", "d", "e"):
        state.add_relation(userid, "wmMany")
    detail = await client.get_external_contact("wmMany")
    assert [f.userid for f in detail.follow_user] == ["a", "b", "c", "d", "e"]
    assert len(state.calls.find("externalcontact/get")) == 3


async def test_get_external_contact_unknown_is_40096(client: WeComClient) -> None:
    with pytest.raises(WeComAPIError) as caught:
        await client.get_external_contact("wmNobody")
    assert caught.value.errcode == 40096


async def test_tags_round_trip(client: WeComClient, state: SandboxState) -> None:
    group = await client.add_corp_tag("意向", ["高", {"name": "低", "order": 2}])
    assert [t.name for t in group.tag] == ["高", "低"]
    more = await client.add_corp_tag(None, ["中"], group_id=group.group_id)
    assert more.group_id == group.group_id
    groups = await client.get_corp_tag_list()
    assert [t.name for t in groups[0].tag] == ["高", "低", "中"]
    only = await client.get_corp_tag_list(tag_ids=[group.tag[0].id])
    assert [t.name for t in only[0].tag] == ["高"]

    state.add_relation("zhangsan", "wmC")
    await client.mark_tag("zhangsan", "wmC", add=[group.tag[0].id, group.tag[1].id])
    await client.mark_tag("zhangsan", "wmC", remove=[group.tag[1].id])
    assert state.relations[("zhangsan", "wmC")].tag_ids == [group.tag[0].id]


async def test_add_contact_way(client: WeComClient, state: SandboxState) -> None:
    state.add_staff("zhangsan")
    way = await client.add_contact_way(user=["zhangsan"], state="ch_fair_2024")
    assert isinstance(way, ContactWay) and way.qr_code and len(way.config_id) == 32
    body = state.calls.find("add_contact_way")[0].json
    assert body == {
        "type": 1,
        "scene": 2,
        "skip_verify": True,
        "is_exclusive": False,
        "state": "ch_fair_2024",
        "user": ["zhangsan"],
    }
    with pytest.raises(WeComAPIError) as caught:
        await client.add_contact_way(user=["zhangsan"], state="x" * 31)
    assert caught.value.errcode == 40058


async def test_send_welcome_msg_once(client: WeComClient, state: SandboxState) -> None:
    code = state.issue_welcome_code("zhangsan", "wmC")
    link = {"msgtype": "link", "link": {"title": "资料", "url": "https://example.com"}}
    await client.send_welcome_msg(code, "欢迎！", attachments=[link])
    assert state.sent["welcome"][0]["attachments"] == [link]
    with pytest.raises(WeComAPIError) as caught:
        await client.send_welcome_msg(code, "again")
    assert caught.value.errcode == 41051


async def test_send_app_message_and_appchat(
    make_client: Callable[..., WeComClient], state: SandboxState
) -> None:
    agent = make_client(secret=Secret(AGENT_SECRET), token_name="agent")
    state.add_staff("zhangsan")
    result = await agent.send_app_message(
        1000002, "text", {"content": "跟进客户"}, touser=["zhangsan", "ghost"]
    )
    assert result.invaliduser == ("ghost",) and result.msgid
    body = state.calls.find("message/send")[0].json
    assert body["touser"] == "zhangsan|ghost" and body["text"] == {"content": "跟进客户"}

    chatid = state.add_appchat("sales", "销售")
    await agent.send_appchat(chatid, "text", {"content": "新工单"})
    assert state.sent["appchat"][0]["text"] == {"content": "新工单"}


async def test_get_user_info(client: WeComClient, state: SandboxState) -> None:
    code = state.issue_oauth_code(userid="zhangsan")
    assert await client.get_user_info(code) == OAuthUserInfo(userid="zhangsan")
    with pytest.raises(WeComAPIError) as caught:
        await client.get_user_info(code)
    assert caught.value.errcode == 40029


async def test_department_members_walk_the_tree(client: WeComClient, state: SandboxState) -> None:
    """Sub-departments come from department/simplelist, each listed on its own: WeCom no
    longer documents user/simplelist's fetch_child."""
    state.add_department(2, "销售部")
    state.add_department(21, "华东", parentid=2)
    state.add_department(211, "上海", parentid=21)
    state.add_department(3, "客服部")
    state.add_staff("zhangsan", departments=(2,))
    state.add_staff("lisi", departments=(211, 3))
    state.add_staff("wangwu", departments=(3,))
    state.add_staff("boss")  # the root department
    assert sorted(await client.department_members(2)) == ["lisi", "zhangsan"]
    assert sorted(await client.department_members(21)) == ["lisi"]
    assert sorted(await client.department_members(1)) == ["boss", "lisi", "wangwu", "zhangsan"]
    assert await client.department_tree(2) == [2, 21, 211]
    assert await client.department_users(2) == ["zhangsan"]
    with pytest.raises(WeComAPIError) as caught:
        await client.department_members(99)
    assert caught.value.errcode == 60123
    assert all("fetch_child" not in c.query for c in state.calls.find("user/simplelist"))
