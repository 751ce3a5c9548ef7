"""A whole scrm service against the in-process WeCom sandbox, on SQLite and PostgreSQL.

Workers are off in the app (concurrency 0); tests call `stack.drain()` so processing is
deterministic and nothing sleeps.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from callbacks.crypto import CallbackCrypto
from config import Settings, load_settings
from run import build_app
from scrm.appkeys import DISPATCHER, SERVICES
from scrm.events.worker import Worker
from scrm.sandbox.app import SandboxServer
from scrm.sandbox.config import SandboxConfig
from scrm.sandbox.sender import CallbackSender


@dataclass
class Stack:
    settings: Settings
    server: TestServer
    sandbox: SandboxServer
    http: aiohttp.ClientSession
    sender: CallbackSender
    crypto: CallbackCrypto

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def corp_id(self) -> str:
        return self.settings.wecom.corp_id

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.admin_token.value}"}

    async def drain(self) -> int:
        app = self.server.app
        services = app[SERVICES]
        worker = Worker(services.db, app[DISPATCHER], services, self.settings.worker)
        return await worker.drain()

    async def api(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        headers = kwargs.pop("headers", self.auth)
        async with self.http.request(method, self.url + path, headers=headers, **kwargs) as r:
            body = await r.json() if r.content_type == "application/json" else await r.read()
            return r.status, body

    async def post_callback(self, params: dict[str, str], body: bytes | str) -> tuple[int, bytes]:
        data = body.encode() if isinstance(body, str) else body
        async with self.http.post(self.url + "/wecom/callback", params=params, data=data) as r:
            return r.status, await r.read()

    def sandbox_calls(self, path_suffix: str) -> list[Any]:
        return list(self.sandbox.state.calls.find(path_suffix))

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        value = self.server.app[SERVICES].metrics.registry.get_sample_value(name, labels or {})
        return value or 0.0


@pytest.fixture
async def stack(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Stack]:
    """SQLite runs with the in-process KV, PostgreSQL with Redis: the two real deployments.

    The service listens on the port its settings name, so `SCRM_PUBLIC_URL` (the links in
    notices, the staff login's redirect_uri) points at it. The socket is bound first and
    handed to the server: a port looked up free and bound later can be taken in between (by
    another test run, or by an outgoing connection's ephemeral port).
    """
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("127.0.0.1", 0))
    env = {
        "SCRM_PORT": str(listening.getsockname()[1]),
        "SCRM_VAR_DIR": str(tmp_path / "var"),
        "SCRM_DATABASE_URL": database_url,
        "SCRM_WORKER_CONCURRENCY": "0",
    }
    if database_url.startswith("postgres"):
        env["SCRM_REDIS_URL"] = request.getfixturevalue("redis_url")
    if marker := request.node.get_closest_marker("stack_env"):  # a test's own settings
        env.update(marker.kwargs)
    settings = load_settings(env)
    sandbox = SandboxServer(SandboxConfig.from_settings(settings.wecom, callback_retry_delay=0.0))
    await sandbox.start()
    settings = dataclasses.replace(
        settings, wecom=dataclasses.replace(settings.wecom, api_base=sandbox.url)
    )
    server = TestServer(
        build_app(settings),
        host="127.0.0.1",
        port=settings.port,
        socket_factory=lambda host, port, family: listening,
    )
    await server.start_server()
    url = str(server.make_url("/wecom/callback"))
    sandbox.state.callback_url = url
    wecom = settings.wecom
    async with aiohttp.ClientSession() as http:
        sender = CallbackSender(
            http,
            url,
            wecom.callback_token,
            wecom.callback_aes_key,
            wecom.corp_id,
            retry_delay=0.0,
        )
        crypto = CallbackCrypto(
            wecom.callback_token.value, wecom.callback_aes_key.value, wecom.corp_id
        )
        try:
            yield Stack(settings, server, sandbox, http, sender, crypto)
        finally:
            await server.close()
            await sandbox.stop()
