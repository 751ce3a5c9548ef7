"""Two service processes on PostgreSQL + Redis sweeping SLAs: each breach is notified once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp

from scrm.db import close_database, open_database
from scrm.sandbox.app import SandboxServer
from scrm.tickets.notices import BREACH
from tests.e2e.processes import dev_corp, free_port, service_env, start_service, wait_ready

TICKETS = 8


async def post(http: aiohttp.ClientSession, url: str, body: Any) -> Any:
    async with http.post(url, json=body) as r:
        assert r.status == 201, await r.text()
        return await r.json()


async def test_each_breach_is_notified_once_by_two_processes(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    creds, config = dev_corp()
    env = service_env(
        creds,
        tmp_path,
        SCRM_DATABASE_URL=postgres_url,
        SCRM_REDIS_URL=redis_url,
        SCRM_SLA_SWEEP_SECONDS="0.2",
        SCRM_LOG_LEVEL="WARNING",
    )
    await open_database(postgres_url)  # migrated once, before two processes start
    await close_database()
    headers = {"Authorization": f"Bearer {creds['admin_token']}"}
    async with SandboxServer(config) as sandbox, aiohttp.ClientSession(headers=headers) as http:
        env["SCRM_WECOM_API_BASE"] = sandbox.url
        robot = sandbox.state.add_robot()
        processes, urls = [], []
        for name in ("a", "b"):
            port = free_port()
            processes.append(start_service(env | {"SCRM_PORT": str(port)}, tmp_path / name))
            urls.append(f"http://127.0.0.1:{port}")
        try:
            for url in urls:
                await wait_ready(http, url)
            api = urls[0] + "/api/v1"
            body = {"name": "群", "kind": "robot", "webhook_key": robot}
            channel = (await post(http, api + "/group-channels", body))["id"]
            await post(
                http, api + "/routes", {"name": "all", "default": True, "channels": [channel]}
            )
            policy = {"priority": "P2", "first_response_seconds": 1, "resolution_seconds": 3600}
            await post(http, api + "/sla-policies", policy)
            numbers = []
            for n in range(TICKETS):
                ticket = {"title": f"t{n}", "category": "c", "priority": "P2"}
                numbers.append(
                    (await post(http, urls[n % 2] + "/api/v1/tickets", ticket))["number"]
                )
            deadline = time.monotonic() + 60
            while True:  # every breach notified (merged messages count), then a few sweeps more
                texts = [s["markdown"]["content"] for s in sandbox.state.sent["robot"]]
                lines = [line for text in texts for line in text.splitlines() if BREACH in line]
                if all(any(number in line for line in lines) for number in numbers):
                    break
                assert time.monotonic() < deadline, "breaches were not all notified"
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)  # five more sweep periods on each process
            texts = [s["markdown"]["content"] for s in sandbox.state.sent["robot"]]
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=30)
    lines = [line for text in texts for line in text.splitlines() if BREACH in line]
    for number in numbers:
        assert sum(number in line for line in lines) == 1, number
    assert all(s["key"] == robot for s in sandbox.state.sent["robot"])
