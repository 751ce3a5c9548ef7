"""The client runs against the real sandbox on a local port; sleeps are recorded, not slept."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from adapters.kv.memory import MemoryKV
from adapters.wecom import RetryPolicy, WeComClient
from config import Secret
from scrm.sandbox import SandboxConfig, SandboxState, create_sandbox_app

CORP_ID = "wwclienttest0001"
CONTACT_SECRET = "contact-secret-VERYSECRET"
AGENT_SECRET = "agent-secret-VERYSECRET"


@pytest.fixture
def config() -> SandboxConfig:
    return SandboxConfig(
        corp_id=CORP_ID,
        contact_secret=Secret(CONTACT_SECRET),
        agent_secret=Secret(AGENT_SECRET),
        hang_seconds=5.0,
    )


@pytest.fixture
def state(config: SandboxConfig) -> SandboxState:
    return SandboxState(config)


@pytest.fixture
async def server(aiohttp_server: Any, config: SandboxConfig, state: SandboxState) -> TestServer:
    return await aiohttp_server(create_sandbox_app(config, state))


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def kv() -> MemoryKV:
    return MemoryKV()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def retry(sleeps: list[float]) -> RetryPolicy:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    return RetryPolicy(tries=3, base=0.5, cap=8.0, jitter=0.0, sleep=sleep)


@pytest.fixture
def make_client(
    session: aiohttp.ClientSession, kv: MemoryKV, server: TestServer, retry: RetryPolicy
) -> Callable[..., WeComClient]:
    def make(**overrides: Any) -> WeComClient:
        options: dict[str, Any] = {
            "corp_id": CORP_ID,
            "secret": Secret(CONTACT_SECRET),
            "api_base": str(server.make_url("")),
            "timeout": 2.0,
            "retry": retry,
        }
        options.update(overrides)
        return WeComClient(options.pop("session", session), options.pop("kv", kv), **options)

    return make


@pytest.fixture
def client(make_client: Callable[..., WeComClient]) -> WeComClient:
    return make_client()
