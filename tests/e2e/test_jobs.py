"""The periodic jobs the scheduler runs, called directly as plain functions."""

from __future__ import annotations

import dataclasses
import time

from archive.models import ArchiveCheckpoint, ArchivePartition, ArchiveRecord
from scrm.appkeys import SERVICES
from scrm.jobs import archive_checkpoints, archive_retention
from tests.e2e.conftest import Stack

DAY_MS = 86_400_000


def chat(msgid: str, ms: int) -> dict[str, object]:
    return {
        "msgid": msgid,
        "action": "send",
        "from": "wmJOB",
        "tolist": ["zhangsan"],
        "roomid": "",
        "msgtime": ms,
        "msgtype": "text",
        "text": {"content": "旧消息"},
    }


async def test_checkpoint_job_signs_the_day(stack: Stack) -> None:
    await stack.api("POST", "/api/v1/messages", json=[chat("j1", int(time.time() * 1000))])
    await stack.drain()
    services = stack.server.app[SERVICES]
    await archive_checkpoints(services)
    assert await ArchiveCheckpoint.all().count() >= 1


async def test_retention_job_shreds_old_months_only(stack: Stack) -> None:
    now = int(time.time() * 1000)
    old = now - 400 * DAY_MS
    await stack.api("POST", "/api/v1/messages", json=[chat("old", old), chat("new", now)])
    await stack.drain()
    services = stack.server.app[SERVICES]
    assert services.archive is not None
    await archive_retention(services)  # retention off by default: nothing happens
    assert await ArchiveRecord.all().count() == 2
    settings = dataclasses.replace(
        services.settings,
        archive=dataclasses.replace(services.settings.archive, retention_days=180),
    )
    services.archive.retention_days = 180
    await archive_retention(dataclasses.replace(services, settings=settings))
    assert await ArchiveRecord.all().count() == 1
    assert await ArchivePartition.filter(wrapped_key=None).count() == 1  # the key is gone
