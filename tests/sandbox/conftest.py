"""A sandbox per test on a real port, with a hand-driven clock and a known corp."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from config import Secret
from scrm.sandbox import SandboxConfig, SandboxState, create_sandbox_app

CORP_ID = "wwsandbox00000001"
CONTACT_SECRET = "contact-secret-for-tests"
AGENT_SECRET = "agent-secret-for-tests"
TOKEN = "TokenV1abc"
AES_KEY = "ABEiM0RVZneImaq7zN3uAwARIjNEVWZ3iJmqu8zd7v8"


class Clock:
    """Time that only moves when a test says so."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def config(clock: Clock) -> SandboxConfig:
    return SandboxConfig(
        corp_id=CORP_ID,
        contact_secret=Secret(CONTACT_SECRET),
        agent_id=1000002,
        agent_secret=Secret(AGENT_SECRET),
        callback_token=Secret(TOKEN),
        callback_aes_key=Secret(AES_KEY),
        clock=clock,
        hang_seconds=5.0,
    )


@pytest.fixture
def state(config: SandboxConfig) -> SandboxState:
    return SandboxState(config)


@pytest.fixture
async def sandbox(aiohttp_client: Any, config: SandboxConfig, state: SandboxState) -> TestClient:
    return await aiohttp_client(create_sandbox_app(config, state))


async def get_token(sandbox: TestClient, secret: str = CONTACT_SECRET) -> str:
    resp = await sandbox.get("/cgi-bin/gettoken", params={"corpid": CORP_ID, "corpsecret": secret})
    data = await resp.json()
    assert data["errcode"] == 0, data
    return str(data["access_token"])


async def call(
    sandbox: TestClient, method: str, path: str, *, token: str | None = None, **kwargs: Any
) -> dict[str, Any]:
    """Call an API path with a fresh contact token (or ``token``) and return the JSON answer."""
    params = dict(kwargs.pop("params", {}))
    params["access_token"] = token if token is not None else await get_token(sandbox)
    resp = await sandbox.request(method, path, params=params, **kwargs)
    assert resp.status == 200
    data: dict[str, Any] = await resp.json()
    return data
