"""Customer calls carry the self-built app's token unless a 客户联系 secret is set; a missing
客户联系 permission is reported at start and on /readyz, and the service starts anyway."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from config import load_settings
from run import build_app
from scrm.sandbox.app import SandboxServer
from scrm.sandbox.config import SandboxConfig

FOLLOW = "get_follow_user_list"


@asynccontextmanager
async def service(
    tmp_path: Path, *, permission: bool, **env: str
) -> AsyncIterator[tuple[TestServer, SandboxServer]]:
    settings = load_settings(
        {
            "SCRM_VAR_DIR": str(tmp_path / "var"),
            "SCRM_DATABASE_URL": f"sqlite://{tmp_path}/scrm.db",
            "SCRM_WORKER_CONCURRENCY": "0",
            **env,
        }
    )
    config = SandboxConfig.from_settings(settings.wecom, agent_customer_permission=permission)
    async with SandboxServer(config) as sandbox:
        wecom = dataclasses.replace(settings.wecom, api_base=sandbox.url)
        server = TestServer(build_app(dataclasses.replace(settings, wecom=wecom)))
        await server.start_server()
        try:
            yield server, sandbox
        finally:
            await server.close()


async def readyz(server: TestServer) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(str(server.make_url("/readyz"))) as response,
    ):
        return response.status, await response.json()


def token_kinds(sandbox: SandboxServer) -> set[str]:
    return {token.kind for token in sandbox.state.tokens.values()}


async def test_missing_customer_permission_is_an_error_at_start_and_on_readyz(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with service(tmp_path, permission=False) as (server, sandbox):
        [check] = sandbox.state.calls.find(FOLLOW)
        assert check.errcode == 48002
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert any("可调用接口的应用" in e and "agentid 1000002" in e for e in errors), errors
        status, body = await readyz(server)  # the service is up and says what is wrong
        assert status == 200 and body["status"] == "degraded"
        assert body["checks"] == {
            "database": "ok",
            "kv": "ok",
            "wecom_customer_api": "permission_missing",
        }
        [problem] = body["problems"]
        assert problem["errcode"] == 48002 and "客户联系" in problem["message"]


async def test_customer_calls_default_to_the_self_built_app(tmp_path: Path) -> None:
    async with service(tmp_path, permission=True) as (server, sandbox):
        assert [c.errcode for c in sandbox.state.calls.find(FOLLOW)] == [0]
        assert token_kinds(sandbox) == {"agent"}
        status, body = await readyz(server)
        assert status == 200 and body["status"] == "ready"
        assert body["checks"]["wecom_customer_api"] == "ok" and "problems" not in body


async def test_a_contact_secret_when_set_carries_customer_calls(tmp_path: Path) -> None:
    """An older corp's system secret still works, even where the app was never granted."""
    legacy = {"SCRM_CONTACT_SECRET": "system-contact-secret"}
    async with service(tmp_path, permission=False, **legacy) as (server, sandbox):
        assert [c.errcode for c in sandbox.state.calls.find(FOLLOW)] == [0]
        assert token_kinds(sandbox) == {"contact"}
        assert (await readyz(server))[1]["status"] == "ready"
