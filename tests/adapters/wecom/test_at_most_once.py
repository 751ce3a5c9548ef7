"""A message must go out at most once: the client never resends one that may have arrived.

After a timeout the request may have reached WeCom, so a send of a welcome, an app message or
an app-chat message is not repeated inside the client (the effect ledger records the outcome
as unknown); an errcode that says WeCom refused it is still retried, and reads and tag marks
(idempotent) are retried after a timeout as before.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from adapters.wecom import WeComClient, WeComConnectionError
from config import Secret
from scrm.sandbox.state import SandboxState
from tests.adapters.wecom.conftest import AGENT_SECRET


@pytest.fixture
def agent(make_client: Callable[..., WeComClient]) -> WeComClient:
    return make_client(secret=Secret(AGENT_SECRET), token_name="agent", timeout=0.2)


async def test_a_timed_out_app_message_is_not_sent_again(
    agent: WeComClient, state: SandboxState
) -> None:
    state.add_staff("zhangsan")
    slow = state.faults.inject("message/send", "slow", delay=0.5, count=2)
    with pytest.raises(WeComConnectionError):
        await agent.send_app_message(1000002, "text", {"content": "新客户"}, touser=["zhangsan"])
    assert slow.count == 1  # one request reached WeCom; a resend would have taken the second


async def test_a_timed_out_appchat_message_is_not_sent_again(
    agent: WeComClient, state: SandboxState
) -> None:
    chatid = state.add_appchat("sales", "销售")
    slow = state.faults.inject("appchat/send", "slow", delay=0.5, count=2)
    with pytest.raises(WeComConnectionError):
        await agent.send_appchat(chatid, "text", {"content": "新工单"})
    assert slow.count == 1


async def test_a_refused_app_message_is_retried(agent: WeComClient, state: SandboxState) -> None:
    state.add_staff("zhangsan")
    state.faults.inject("message/send", errcode=-1)  # WeCom says busy: nothing was sent
    await agent.send_app_message(1000002, "text", {"content": "新客户"}, touser=["zhangsan"])
    assert len(state.calls.find("message/send")) == 2


async def test_an_idempotent_call_is_still_retried_after_a_timeout(
    make_client: Callable[..., WeComClient], state: SandboxState
) -> None:
    client = make_client(timeout=0.2)
    state.add_relation("zhangsan", "wmC")
    slow = state.faults.inject("externalcontact/get", "slow", delay=0.5, count=2)
    detail = await client.get_external_contact("wmC")
    assert detail.follower("zhangsan") is not None
    assert slow.count == 0 and slow not in state.faults.faults  # timed out twice, then read
