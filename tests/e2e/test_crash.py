"""kill -9 while callbacks stream in: nothing acknowledged is lost, nothing runs twice to done."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from pathlib import Path

import aiohttp
import pytest

from scrm.sandbox import events as wecom_events
from scrm.sandbox.app import SandboxServer
from scrm.sandbox.sender import CallbackSender
from tests.e2e.processes import dev_corp, free_port, service_env, start_service, wait_ready

pytestmark = pytest.mark.slow


async def test_sigkill_loses_no_acknowledged_event(tmp_path: Path) -> None:
    creds, config = dev_corp()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    db_path = tmp_path / "scrm.db"
    env = service_env(
        creds,
        tmp_path,
        SCRM_PORT=str(port),
        SCRM_DATABASE_URL=f"sqlite://{db_path}",
        SCRM_WORKER_POLL_INTERVAL="0.2",
        SCRM_WORKER_LEASE_SECONDS="2",
    )
    log = tmp_path / "service.log"
    async with SandboxServer(config) as sandbox, aiohttp.ClientSession() as http:
        env["SCRM_WECOM_API_BASE"] = sandbox.url
        sender = CallbackSender(
            http,
            url + "/wecom/callback",
            config.callback_token,
            config.callback_aes_key,
            config.corp_id,
            retries=0,
            timeout=5.0,
        )
        service = start_service(env, log)
        await wait_ready(http, url)
        acked: list[str] = []
        stop = asyncio.Event()

        async def stream(lane: int) -> None:
            n = 0
            while not stop.is_set():
                external_userid = f"wm{lane:02d}{n:028d}"
                sandbox.state.add_relation("zhangsan", external_userid)
                xml = wecom_events.add_external_contact(config.corp_id, "zhangsan", external_userid)
                delivery = await sender.send(xml)
                if delivery.status == 200:
                    acked.append(external_userid)
                n += 1

        lanes = [asyncio.create_task(stream(lane)) for lane in range(8)]
        await asyncio.sleep(1.5)
        service.send_signal(signal.SIGKILL)
        service.wait()
        await asyncio.sleep(0.3)  # deliveries now fail: not acknowledged, WeCom would retry
        stop.set()
        await asyncio.gather(*lanes)
        assert len(acked) > 20, "the stream should have been acknowledged for a while"

        service = start_service(env, log)
        try:
            await wait_ready(http, url)
            headers = {"Authorization": f"Bearer {creds['admin_token']}"}
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                async with http.get(url + "/api/v1/events/stats", headers=headers) as r:
                    stats = await r.json()
                runs, received = stats["runs"], stats["events"]["received"]
                if runs["pending"] + runs["running"] == 0 and received >= len(acked):
                    break
                await asyncio.sleep(0.2)
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(timeout=30)

    with sqlite3.connect(db_path) as db:
        stored = {row[0] for row in db.execute("SELECT payload FROM events")}
        runs = db.execute("SELECT status, COUNT(*) FROM handler_runs GROUP BY status").fetchall()
        customers = {r[0] for r in db.execute("SELECT external_userid FROM customers")}
    # Each add has two runs: contacts.sync_added_contact and channels.on_add.
    assert dict(runs) == {"done": 2 * len(stored)}, f"every run finished exactly once: {runs}"
    missing = set(acked) - customers
    assert not missing, f"{len(missing)} acknowledged events were lost"
    assert len(stored) >= len(acked)
