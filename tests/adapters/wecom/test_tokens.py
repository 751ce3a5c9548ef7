"""Token caching, sharing, single-flight refresh and the refresh-once policy."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from adapters.kv.memory import MemoryKV
from adapters.wecom import WeComAuthError, WeComClient
from config import Secret
from scrm.sandbox import SandboxState

from .conftest import CORP_ID

TICKET = "get_jsapi_ticket"


def gettoken_calls(state: SandboxState) -> int:
    return len(state.calls.find("/cgi-bin/gettoken"))


async def test_token_is_cached_in_the_kv_with_a_margin(
    client: WeComClient, kv: MemoryKV, state: SandboxState
) -> None:
    await client.get_jsapi_ticket()
    await kv.delete(kv.keys("wecom", "ticket", CORP_ID, "contact", "jsapi"))
    await client.get_jsapi_ticket()
    assert gettoken_calls(state) == 1
    key = kv.keys("wecom", "token", CORP_ID, "contact")
    assert await kv.get(key) is not None
    _, expires = kv._values[key]
    assert expires is not None and 6890 < expires - kv._clock() <= 6900


async def test_two_clients_sharing_a_kv_fetch_one_token(
    make_client: Callable[..., WeComClient], state: SandboxState
) -> None:
    first, second = make_client(), make_client()
    assert await first.access_token() == await second.access_token()
    assert gettoken_calls(state) == 1


async def test_separate_kvs_fetch_separately(
    make_client: Callable[..., WeComClient], state: SandboxState
) -> None:
    await make_client().access_token()
    await make_client(kv=MemoryKV()).access_token()
    assert gettoken_calls(state) == 2


async def test_agent_and_contact_tokens_are_cached_apart(
    make_client: Callable[..., WeComClient], state: SandboxState
) -> None:
    from .conftest import AGENT_SECRET

    contact = make_client()
    agent = make_client(secret=Secret(AGENT_SECRET), token_name="agent")
    assert await contact.access_token() != await agent.access_token()
    assert gettoken_calls(state) == 2


async def test_single_flight_under_20_concurrent_calls(
    make_client: Callable[..., WeComClient], state: SandboxState
) -> None:
    state.faults.inject("gettoken", "slow", delay=0.1)  # widen the race window
    clients = [make_client() for _ in range(4)]
    tokens = await asyncio.gather(*(clients[i % 4].access_token() for i in range(20)))
    assert len(set(tokens)) == 1
    assert gettoken_calls(state) == 1


@pytest.mark.parametrize("errcode", [42001, 40014])
async def test_expired_token_is_refreshed_once_and_the_call_retried(
    client: WeComClient, state: SandboxState, errcode: int, sleeps: list[float]
) -> None:
    await client.access_token()
    state.faults.inject(TICKET, errcode=errcode)
    assert await client.get_jsapi_ticket()
    assert gettoken_calls(state) == 2
    assert [c.errcode for c in state.calls.find(TICKET)] == [errcode, 0]
    assert sleeps == []  # a refresh is not a backoff


async def test_really_expired_tokens_are_refreshed(
    client: WeComClient, state: SandboxState
) -> None:
    old = await client.access_token()
    state.expire_tokens()
    assert await client.get_jsapi_ticket()
    assert await client.access_token() != old


async def test_token_rejected_after_refresh_is_an_auth_error(
    client: WeComClient, state: SandboxState
) -> None:
    state.faults.inject(TICKET, errcode=42001, count=2)
    with pytest.raises(WeComAuthError) as caught:
        await client.get_jsapi_ticket()
    assert caught.value.errcode == 42001
    assert gettoken_calls(state) == 2 and len(state.calls.find(TICKET)) == 2


async def test_invalid_secret_is_not_retried(
    make_client: Callable[..., WeComClient], state: SandboxState, sleeps: list[float]
) -> None:
    client = make_client(secret=Secret("wrong-secret"))
    with pytest.raises(WeComAuthError) as caught:
        await client.get_jsapi_ticket()
    assert caught.value.errcode == 40001 and not caught.value.retryable
    assert gettoken_calls(state) == 1 and sleeps == []


async def test_invalid_corpid_is_an_auth_error(make_client: Callable[..., WeComClient]) -> None:
    with pytest.raises(WeComAuthError) as caught:
        await make_client(corp_id="wwwrong").access_token()
    assert caught.value.errcode == 40013


async def test_tickets_are_cached(
    make_client: Callable[..., WeComClient], state: SandboxState
) -> None:
    from .conftest import AGENT_SECRET

    client = make_client(secret=Secret(AGENT_SECRET), token_name="agent")
    assert (
        await client.get_jsapi_ticket()
        == await make_client(secret=Secret(AGENT_SECRET), token_name="agent").get_jsapi_ticket()
    )
    assert await client.get_agent_ticket() == await client.get_agent_ticket()
    assert len(state.calls.find(TICKET)) == 1
    agent_calls = state.calls.find("/cgi-bin/ticket/get")
    assert len(agent_calls) == 1 and agent_calls[0].query["type"] == "agent_config"
