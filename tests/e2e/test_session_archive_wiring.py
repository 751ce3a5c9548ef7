"""The service wires the session-archive pull when the finance SDK is configured."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from archive.errors import ArchiveCryptoError
from archive.store.read import read_message
from config import load_settings
from run import build_app
from scrm.appkeys import DISPATCHER, SERVICES
from scrm.events.worker import Worker
from scrm.jobs import archive_pull
from scrm.models import Event
from tests.archive.finance_fake import SECRET, FakeArchive, compile_fake, write_keys


def env(database_url: str, tmp_path: Path, rsa_keys: str) -> dict[str, str]:
    return {
        "SCRM_VAR_DIR": str(tmp_path / "var"),
        "SCRM_DATABASE_URL": database_url,
        "SCRM_WORKER_CONCURRENCY": "0",
        "SCRM_FINANCE_SDK_PATH": str(compile_fake(tmp_path)),
        "SCRM_ARCHIVE_FINANCE_SECRET": SECRET,
        "SCRM_ARCHIVE_RSA_KEYS": rsa_keys,
    }


async def test_pull_job_reaches_the_archive_through_the_inbox(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "chatdata.tsv"
    monkeypatch.setenv("FAKE_FINANCE_SDK_DATA", str(data))
    keys = str(write_keys(tmp_path / "rsa", (1,)))
    settings = load_settings(env(database_url, tmp_path, keys))
    server = TestServer(build_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        services = server.app[SERVICES]
        assert services.archive is not None and services.archive.puller is not None
        msgid = FakeArchive(data).add(1, content="合同到期提醒")
        await archive_pull(services)  # the 60 s catch-up job, no msgaudit_notify needed
        assert await Event.filter(name="chat.message", source="msgaudit").count() == 1
        await Worker(services.db, server.app[DISPATCHER], services, settings.worker).drain()
        stored = await read_message(services.archive, msgid)
        assert stored is not None and stored["text"]["content"] == "合同到期提醒"
    finally:
        await server.close()


async def test_sdk_without_rsa_keys_refuses_to_start(database_url: str, tmp_path: Path) -> None:
    server = TestServer(build_app(load_settings(env(database_url, tmp_path, ""))))
    with pytest.raises(ArchiveCryptoError, match="SCRM_ARCHIVE_RSA_KEYS"):
        await server.start_server()
    await server.close()
