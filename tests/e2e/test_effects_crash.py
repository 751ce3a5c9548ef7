"""200 customers × 2 matching messages, 4 workers a process, one process SIGKILLed mid-stream:
exactly one mark_tag per (customer, tag) reaches WeCom (the sandbox's call log).

PostgreSQL + Redis runs two service processes and kills one; SQLite (one process, the
in-process KV) kills its only process and starts it again.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from scrm.db import close_database, open_database
from scrm.models import Customer, FollowRelation
from scrm.sandbox.app import SandboxServer
from tests.e2e.processes import dev_corp, free_port, service_env, start_service, wait_ready

pytestmark = pytest.mark.slow

CUSTOMERS = 200
RULE = {
    "name": "过敏预警",
    "keywords_any": ["过敏"],
    "actions": [{"type": "add_tag", "tag": "过敏风险", "group": "服务"}],
}


def messages(customers: list[str]) -> list[dict[str, Any]]:
    now = int(time.time() * 1000)
    return [
        {
            "msgid": f"{customer}-{n}",
            "action": "send",
            "from": customer,
            "tolist": ["zhangsan"],
            "roomid": "",
            "msgtime": now + n,
            "msgtype": "text",
            "text": {"content": f"孩子又过敏了 {n}"},
        }
        for customer in customers
        for n in range(2)
    ]


async def seed(database_url: str, customers: list[str]) -> None:
    """The customers as their add events would have stored them (zhangsan follows each)."""
    await open_database(database_url)
    try:
        now = time.time()
        await Customer.bulk_create(
            [Customer(external_userid=c, name="客户", updated_at=now) for c in customers]
        )
        stored = await Customer.all()
        await FollowRelation.bulk_create(
            [FollowRelation(customer=c, userid="zhangsan", updated_at=now) for c in stored]
        )
    finally:
        await close_database()


class Service:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env | {"SCRM_PORT": str(self.port)}
        self.log = log
        self.process = start_service(self.env, log)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def restart(self) -> None:
        self.process = start_service(self.env, self.log)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)


async def test_two_processes_on_postgres_and_redis(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    await sigkill_mid_stream(tmp_path, postgres_url, redis_url)


async def test_one_process_on_sqlite_killed_and_restarted(tmp_path: Path) -> None:
    await sigkill_mid_stream(tmp_path, f"sqlite://{tmp_path}/scrm.db", None)


async def sigkill_mid_stream(tmp_path: Path, database_url: str, redis_url: str | None) -> None:
    """Exactly one mark_tag per (customer, tag) reaches WeCom, whatever the kill interrupted."""
    creds, config = dev_corp()
    env = service_env(
        creds,
        tmp_path,
        SCRM_WORKER_CONCURRENCY="4",
        SCRM_WORKER_POLL_INTERVAL="0.2",
        SCRM_WORKER_LEASE_SECONDS="3",
        SCRM_LOG_LEVEL="WARNING",
    )
    env["SCRM_DATABASE_URL"] = database_url
    if redis_url is not None:
        env["SCRM_REDIS_URL"] = redis_url
    customers = [f"wmKX{n:028d}" for n in range(CUSTOMERS)]
    await seed(database_url, customers)
    headers = {"Authorization": f"Bearer {creds['admin_token']}"}
    batch = messages(customers)
    first, second = batch[: len(batch) // 2], batch[len(batch) // 2 :]

    async with SandboxServer(config) as sandbox, aiohttp.ClientSession(headers=headers) as http:
        for customer in customers:
            sandbox.state.add_relation("zhangsan", customer)
        env["SCRM_WECOM_API_BASE"] = sandbox.url
        services = [Service(env, tmp_path / "a.log")]
        if redis_url is not None:  # a shared KV: a second process can work alongside
            services.append(Service(env, tmp_path / "b.log"))
        victim, survivor = services[0], services[-1]
        try:
            for service in services:
                await wait_ready(http, service.url)
            async with http.post(survivor.url + "/api/v1/tag-rules", json=RULE) as r:
                assert r.status == 201, await r.text()
            chunks = len(services) * 2  # every process takes messages, then one is killed
            for n in range(chunks):
                part = first[n * len(first) // chunks : (n + 1) * len(first) // chunks]
                service = services[n % len(services)]
                async with http.post(service.url + "/api/v1/messages", json=part) as r:
                    assert r.status == 200, await r.text()
            deadline = time.monotonic() + 30
            while len(sandbox.state.calls.find("mark_tag")) < 20:  # mid-stream
                assert time.monotonic() < deadline, "no tags were marked"
                await asyncio.sleep(0.01)
            victim.kill()
            if victim is survivor:
                victim.restart()
                await wait_ready(http, survivor.url)
            async with http.post(survivor.url + "/api/v1/messages", json=second) as r:
                assert r.status == 200, await r.text()
            runs = await settled(database_url, len(batch))
        finally:
            for service in services:
                service.stop()

        calls = sandbox.state.calls.find("mark_tag")
        created = sandbox.state.calls.find("add_corp_tag", errcode=0)
    assert set(runs) == {"done"}, runs
    assert len(created) == 1
    tag_id = sandbox_tag_id(sandbox)
    counts = Counter(
        (call.json["external_userid"], tag)
        for call in calls
        if call.errcode == 0
        for tag in call.json["add_tag"]
    )
    twice = {customer for (customer, _), n in counts.items() if n > 1}
    assert not twice, f"{len(twice)} customers were marked more than once"
    assert counts == {(customer, tag_id): 1 for customer in customers}


def sandbox_tag_id(sandbox: SandboxServer) -> str:
    [tag] = [t for g in sandbox.state.tag_groups.values() for t in g.tags if t.name == "过敏风险"]
    return tag.id


async def settled(database_url: str, messages: int) -> dict[str, int]:
    """Wait until every run of every message has finished; return the runs by status."""
    deadline = time.monotonic() + 60
    while True:
        events, runs = await counts(database_url)
        if events >= messages and not runs.get("pending") and not runs.get("running"):
            return runs
        assert time.monotonic() < deadline, f"runs did not finish: {runs}"
        await asyncio.sleep(0.2)


async def counts(database_url: str) -> tuple[int, dict[str, int]]:
    """Events stored and handler runs by status, read straight from the database."""
    events_sql = "SELECT COUNT(*) FROM events"
    runs_sql = "SELECT status, COUNT(*) FROM handler_runs GROUP BY status"
    if database_url.startswith("sqlite://"):
        with sqlite3.connect(database_url.removeprefix("sqlite://"), timeout=30) as db:
            events = db.execute(events_sql).fetchone()[0]
            runs = dict(db.execute(runs_sql).fetchall())
        return int(events), runs
    conn = await asyncpg.connect(database_url)
    try:
        events = await conn.fetchval(events_sql)
        runs = {row[0]: row[1] for row in await conn.fetch(runs_sql)}
    finally:
        await conn.close()
    return int(events), runs
