"""The session-archive pull on ``msgaudit_notify``: GetChatData → chat.message inbox events.

Order per batch (PROTOCOL §5.2): pull and decrypt; commit the decrypted messages to the
inbox (deduped on msgid, so a re-pull is harmless); then, in one transaction, park the
undecryptable items in ``archive_pull_retries`` and move the seq cursor. A crash anywhere
before that commit re-pulls the same batch; nothing is skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tortoise.transactions import in_transaction

from adapters.backoff import backoff_delay
from archive.pull.batch import Failure, FinanceClient, decrypt_item, pull_batch
from archive.pull.rsa_keys import RsaKeyRing
from archive.pull.sdk import MAX_LIMIT, ChatDataItem
from archive.pull.sdk_worker import FinanceWorkerClient
from archive.runtime import ArchiveRuntime
from archive.store.bulk import insert_rows
from config import Settings
from scrm.chat import ChatMessageError, parse_chat_message
from scrm.events.inbox import IncomingEvent
from scrm.logsafe import loggable

log = logging.getLogger(__name__)
SOURCE = "msgaudit"
CURSOR_ID = 1
MAX_BATCHES = 50  # per notification; the next notification (or retry) continues
Enqueue = Callable[[Sequence[IncomingEvent]], Awaitable[list[bool]]]


@dataclass
class Puller:
    """What the pull needs besides the runtime: the SDK worker, RSA keys, the inbox."""

    client: FinanceClient
    rsa_keys: RsaKeyRing
    enqueue: Enqueue  # Inbox.store_many
    limit: int = MAX_LIMIT
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def to_events(messages: list[dict[str, Any]]) -> list[IncomingEvent]:
    """Valid messages as chat.message events; others (e.g. ``switch``) are skipped, logged."""
    events = []
    for message in messages:
        message = {key: value for key, value in message.items() if key != "seq"}
        try:
            events.append(parse_chat_message(message).to_event(SOURCE))
        except ChatMessageError as exc:
            log.info("session-archive record skipped: %s", loggable(exc.field))
    return events


async def read_cursor(runtime: ArchiveRuntime) -> int:
    rows = await runtime.db.fetch("SELECT seq FROM archive_pull_cursor")
    return int(rows[0]["seq"]) if rows else 0


async def _commit(
    runtime: ArchiveRuntime, failures: list[Failure], old_seq: int, new_seq: int
) -> None:
    db, now = runtime.db, runtime.clock()
    rows = [
        (f.seq, f.msgid, f.item.publickey_ver, f.item.encrypt_random_key,
         f.item.encrypt_chat_msg, f.reason[:255], 0, now, now)
        for f in failures if f.item is not None
    ]  # fmt: skip
    async with in_transaction() as conn:
        await insert_rows(
            db, conn, "archive_pull_retries",
            ("seq", "msgid", "publickey_ver", "encrypt_random_key", "encrypt_chat_msg", "error",
             "attempts", "next_attempt_at", "created_at"),
            ("bigint", "text", "int", "text", "text", "text", "int", "float8", "float8"),
            rows, suffix="ON CONFLICT (seq) DO NOTHING",
        )  # fmt: skip
        marks = db.placeholders(3)
        await conn.execute_query(
            f"INSERT INTO archive_pull_cursor (id, seq, updated_at) VALUES ({','.join(marks)}) "
            "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
            [CURSOR_ID, max(new_seq, old_seq), now],
        )


async def pull_new(runtime: ArchiveRuntime, puller: Puller) -> int:
    """Pull every batch WeCom has after the cursor; return how many messages were new."""
    fresh = 0
    async with puller.lock:  # one pull per process; across processes re-pulls are idempotent
        for _ in range(MAX_BATCHES):
            seq = await read_cursor(runtime)
            result = await pull_batch(puller.client, puller.rsa_keys, seq, puller.limit)
            events = to_events(result.messages)
            if events:
                fresh += sum(await puller.enqueue(events))  # durable before the cursor moves
            await _commit(runtime, result.failures, seq, result.max_seq)
            if result.max_seq == seq or len(result.messages) + len(result.failures) < puller.limit:
                break
    return fresh


def backoff(attempts: int) -> float:
    """Seconds before retrying a parked item after its `attempts`-th failure: 2 min doubling
    up to 6 h."""
    return backoff_delay(attempts, base=120.0, cap=6 * 3600.0)


async def retry_parked(runtime: ArchiveRuntime, puller: Puller, now: float) -> int:
    """Try the parked items that are due again; return how many were decrypted."""
    db = runtime.db
    rows = await db.fetch(
        "SELECT id, seq, msgid, publickey_ver, encrypt_random_key, encrypt_chat_msg, attempts "
        f"FROM archive_pull_retries WHERE next_attempt_at <= {db.placeholders(1)[0]} "
        "ORDER BY seq LIMIT 100",
        [now],
    )
    done = 0
    for row in rows:
        item = ChatDataItem(
            row["seq"], row["msgid"], row["publickey_ver"],
            row["encrypt_random_key"], row["encrypt_chat_msg"],
        )  # fmt: skip
        marks = db.placeholders(4)
        try:
            message = await decrypt_item(puller.client, puller.rsa_keys, item)
        except Exception as exc:  # every SDK/worker/key error: park again, later
            attempts = row["attempts"] + 1
            await db.connection().execute_query(
                f"UPDATE archive_pull_retries SET attempts = {marks[0]}, "
                f"next_attempt_at = {marks[1]}, error = {marks[2]} WHERE id = {marks[3]}",
                [attempts, now + backoff(attempts), type(exc).__name__, row["id"]],
            )
            continue
        await puller.enqueue(to_events([message]))
        await db.connection().execute_query(
            f"DELETE FROM archive_pull_retries WHERE id = {marks[0]}", [row["id"]]
        )
        done += 1
    return done


def attach_puller(runtime: ArchiveRuntime, settings: Settings, enqueue: Enqueue) -> Puller | None:
    """Give the runtime a puller when the finance SDK is configured (call once at start)."""
    archive = settings.archive
    if not archive.finance_sdk_path:
        return None
    rsa_keys = RsaKeyRing.from_spec(archive.rsa_keys or "")
    client = FinanceWorkerClient(
        archive.finance_sdk_path, settings.wecom.corp_id, archive.finance_secret
    )
    runtime.puller = Puller(client, rsa_keys, enqueue)
    return runtime.puller


async def catch_up(runtime: ArchiveRuntime, now: float) -> int:
    """The periodic pull (every 60 s): new records even when no msgaudit_notify arrived (a
    lost or late notification), then the parked items that are due. 0 without a puller."""
    if runtime.puller is None:
        return 0
    fresh = await pull_new(runtime, runtime.puller)
    return fresh + await retry_parked(runtime, runtime.puller, now)
