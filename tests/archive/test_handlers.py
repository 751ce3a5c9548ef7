"""The chat.message handler stores the message, once, and refuses invalid ones for good."""

from __future__ import annotations

from typing import Any

import pytest

from archive.handlers import pull_session_archive, router, store_chat_messages
from archive.runtime import ArchiveRuntime
from archive.store.read import read_message
from config import Settings
from scrm.events.errors import PermanentError, Retry
from scrm.events.router import EventRecord
from scrm.services import Services
from tests.archive.messages import text_message


def services(runtime: ArchiveRuntime | None) -> Services:
    db = runtime.db if runtime else None
    return Services(Settings(), db, None, None, None, archive=runtime)  # type: ignore[arg-type]


def event(payload: dict[str, Any]) -> EventRecord:
    return EventRecord(1, "chat.message", "api", payload, payload.get("msgtime", 0) // 1000)


def test_router_handles_chat_message() -> None:
    assert [name for name, _ in router.routes["chat.message"]] == ["archive.store"]


async def test_handler_stores_and_is_idempotent(runtime: ArchiveRuntime) -> None:
    message = text_message("m1", "hello there")
    await store_chat_messages([event({**message, "sender_kind": "staff"})], services(runtime))
    await store_chat_messages([event(message)], services(runtime))
    assert await read_message(runtime, "m1") == message


async def test_invalid_message_is_permanent(runtime: ArchiveRuntime) -> None:
    with pytest.raises(PermanentError):
        await store_chat_messages([event({"msgid": "x"})], services(runtime))


async def test_no_archive_yet_retries() -> None:
    with pytest.raises(Retry):
        await store_chat_messages([event(text_message("m1", "x"))], services(None))


async def test_msgaudit_notify_without_sdk_is_a_no_op(runtime: ArchiveRuntime) -> None:
    assert [name for name, _ in router.routes["msgaudit_notify"]] == ["archive.pull"]
    await pull_session_archive(event({"Event": "msgaudit_notify"}), services(runtime))
    with pytest.raises(Retry):
        await pull_session_archive(event({"Event": "msgaudit_notify"}), services(None))


async def test_a_batch_is_stored_in_one_call(runtime: ArchiveRuntime) -> None:
    first, second = text_message("m1", "hello"), text_message("m2", "there")
    await store_chat_messages([event(first), event(second), event(first)], services(runtime))
    assert await read_message(runtime, "m1") == first
    assert await read_message(runtime, "m2") == second
