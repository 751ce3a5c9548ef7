"""Store messages: encrypt the whole JSON, chain it in its conversation, index it blindly.

The blind-index tokens of a message live where each engine searches them fastest: on
PostgreSQL in the record's own ``tokens bigint[]`` column under a GIN index (one row per
message; a B-tree posting table of one row per token made ingest 5× slower), on SQLite in
the ``archive_postings`` table (token, record_id). A batch is one transaction.
Chain heads are locked (``FOR UPDATE`` in id order on
PostgreSQL; SQLite has one writer) before positions are assigned, and msgids are checked
again under the lock, so concurrent workers and WeCom's duplicates store a message once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

from archive.integrity.message_chain import ChainRecord, genesis_hash
from archive.keys.blind_index import hash_filter_value
from archive.keys.envelope import encrypt_message
from archive.review.search import HOUR_MS  # the stored hour must be the one search filters by
from archive.runtime import ArchiveRuntime
from archive.store.bulk import insert_rows, select_in
from archive.store.partitions import Partition, message_partition, month_key
from scrm.chat import ChatMessage, parse_chat_message

log = logging.getLogger(__name__)
_SCRM_FIELDS = ("sender_kind",)  # added by scrm to the event; not part of WeCom's message


def wecom_json(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The message as WeCom sent it, without the fields scrm adds to the event."""
    return {key: value for key, value in payload.items() if key not in _SCRM_FIELDS}


def conversation_of(runtime: ArchiveRuntime, message: ChatMessage) -> str:
    """A keyed hash naming the conversation: the room, or the pair of a 1:1 chat."""
    who = (
        f"room:{message.roomid}"
        if message.roomid
        else "pair:" + "\x00".join(sorted({message.sender, *message.tolist}))
    )
    return hash_filter_value(runtime.ring.index_key, "conversation", who).hex()


def participant_keys(runtime: ArchiveRuntime, message: ChatMessage) -> set[int]:
    """Hashed customer, staff and room ids a filter can find this message by."""
    keys = {runtime.filter_key("customer", who) for who in message.customers}
    keys |= {runtime.filter_key("staff", who) for who in message.staff}
    if message.roomid:
        keys.add(runtime.filter_key("room", message.roomid))
    return keys


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """Every stored value derived from a message: what `archive verify` recomputes."""

    conversation: str
    participants: frozenset[int]
    tokens: list[int]  # blind-index tokens of the text (GIN and the posting table sort them)
    hour: int
    msgtype: str


def index_entry(runtime: ArchiveRuntime, message: ChatMessage) -> IndexEntry:
    """Hash ids and tokenise one message exactly as it is stored."""
    return IndexEntry(
        conversation_of(runtime, message),
        frozenset(participant_keys(runtime, message)),
        list(runtime.text_tokens(message.text)) if message.text else [],
        message.msgtime // HOUR_MS,
        message.msgtype[:32],
    )


@dataclass(frozen=True, slots=True)
class Prepared:
    """One message with everything that does not depend on its chain position."""

    message: ChatMessage
    plaintext: bytes  # the WeCom JSON, as encrypted
    index: IndexEntry

    @property
    def conversation(self) -> str:
        return self.index.conversation


def prepare(runtime: ArchiveRuntime, payload: Mapping[str, Any]) -> Prepared:
    """Parse, serialise, hash ids and tokenise one message: pure CPU, no I/O."""
    raw = wecom_json(payload)
    message = parse_chat_message(raw)
    return Prepared(
        message,
        json.dumps(raw, ensure_ascii=False, separators=(",", ":")).encode(),
        index_entry(runtime, message),
    )


async def store_messages(runtime: ArchiveRuntime, payloads: Iterable[Mapping[str, Any]]) -> int:
    """Store WeCom message JSONs (already valid); return how many were new.

    Everything that does not need the chain heads is prepared before the transaction opens,
    so the head locks are held for the writes only.
    """
    return await store_prepared(runtime, [prepare(runtime, payload) for payload in payloads])


class StorePipeline:
    """Store a stream of batches in order, preparing the next while the last one commits.

    Commits stay one at a time (chain positions follow arrival order), but the CPU half of
    the work — serialising, hashing, tokenising — of batch N+1 runs while PostgreSQL works on
    batch N (+30-40 % throughput). Preparing yields to the event loop after every message, so
    each answer of the running commit is read, and its next statement sent, within tens of
    microseconds: yielding only every 50 messages delayed each statement so much that the
    overlap gained nothing.

    A message that cannot be prepared, or a batch whose commit fails, never costs its
    neighbours: the batch is stored again one message at a time, and the messages that fail
    alone are listed in `failed` (msgid, reason) for the caller to report.
    """

    def __init__(self, runtime: ArchiveRuntime) -> None:
        self._runtime = runtime
        self._committing: asyncio.Task[int] | None = None
        self._in_flight: list[Prepared] = []
        self.failed: list[tuple[str, str]] = []

    async def submit(self, payloads: Sequence[Mapping[str, Any]]) -> int:
        """Prepare `payloads`, wait for the batch in flight, start this one's commit.

        Returns how many messages of the *previous* batch were new (0 for the first).
        """
        prepared = []
        for payload in payloads:
            try:
                prepared.append(prepare(self._runtime, payload))
            except Exception as exc:  # callers validate; this one fails alone regardless
                self.failed.append((str(payload.get("msgid", "")), type(exc).__name__))
            await asyncio.sleep(0)  # measured: after every message beats every 2 or 4
        return await self.submit_prepared(prepared)

    async def submit_prepared(self, prepared: list[Prepared]) -> int:
        """Wait for the batch in flight, start the commit of `prepared`; see `submit`."""
        stored = await self.finish()
        self._in_flight = prepared
        self._committing = asyncio.create_task(store_prepared(self._runtime, prepared))
        await asyncio.sleep(0)  # it sends its first statement before more is prepared
        return stored

    async def finish(self) -> int:
        """Wait for the batch in flight; return how many of its messages were new."""
        committing, self._committing = self._committing, None
        if committing is None:
            return 0
        try:
            return await committing
        except Exception as exc:
            batch, self._in_flight = self._in_flight, []
            if len(batch) == 1:
                self.failed.append((batch[0].message.msgid, type(exc).__name__))
                return 0
            # the type only: a driver's message can quote the statement's values (content)
            log.warning(
                "archive batch of %d failed (%s); storing one by one",
                len(batch),
                type(exc).__name__,
            )
            return await self._one_by_one(batch)

    async def _one_by_one(self, batch: list[Prepared]) -> int:
        stored, failed = 0, []
        for item in batch:
            try:
                stored += await store_prepared(self._runtime, [item])
            except Exception as exc:
                failed.append((item.message.msgid, exc))
        if len(failed) == len(batch):  # not one went in: the database failed, not the data
            raise failed[-1][1]
        self.failed += [(msgid, type(exc).__name__) for msgid, exc in failed]
        return stored

    async def close(self) -> None:
        """Abandon the batch in flight after an error (its transaction rolls back)."""
        if self._committing is not None:
            self._committing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._committing
            self._committing = None


async def store_prepared(runtime: ArchiveRuntime, prepared: Iterable[Prepared]) -> int:
    """Store prepared messages in one transaction; return how many were new."""
    batch: dict[str, Prepared] = {}
    for item in prepared:
        batch.setdefault(item.message.msgid, item)
    if not batch:
        return 0
    async with in_transaction() as conn:
        fresh = await _unseen(runtime, conn, list(batch))
        if not fresh:
            return 0
        placed: list[tuple[Prepared, Partition]] = []
        by_month: dict[int, Partition] = {}
        for item in (batch[msgid] for msgid in fresh):
            msgtime = item.message.msgtime
            month = month_key(msgtime)
            if month not in by_month:
                by_month[month] = await message_partition(runtime, conn, msgtime)
            part = by_month[month]
            if part.dek is None:
                log.warning("message for a shredded partition %s not stored", part.name)
                continue
            placed.append((item, part))
        heads = await _lock_heads(runtime, conn, {(p.id, i.conversation) for i, p in placed})
        changed: set[tuple[int, str]] = set()
        unseen = set(await _unseen(runtime, conn, [i.message.msgid for i, _ in placed]))
        rows: list[list[Any]] = []
        extras: list[tuple[str, frozenset[int], list[int]]] = []
        inline_tokens = runtime.db.is_postgres
        now = runtime.clock()
        for item, part in placed:
            message = item.message
            if message.msgid not in unseen:  # checked again under the head locks
                continue
            key = (part.id, item.conversation)
            position = heads[key][0] + 1
            assert part.dek is not None
            blob = encrypt_message(
                part.dek, item.plaintext, msgid=message.msgid, partition=part.name,
                position=position,
            )  # fmt: skip
            link = ChainRecord.link(0, message.msgid, blob, heads[key])
            heads[key] = (position, link.record_hash)
            changed.add(key)
            index = item.index
            rows.append([
                message.msgid, part.id, index.conversation, position, link.prev_hash,
                link.record_hash, blob, index.hour, index.msgtype, now,
            ])  # fmt: skip
            if inline_tokens:
                rows[-1].append(index.tokens)
            extras.append(
                (message.msgid, index.participants, [] if inline_tokens else index.tokens)
            )
        if not rows:
            return 0
        ids = await _insert_records(runtime, conn, rows)
        await _insert_pairs(
            runtime, conn, "archive_participants", "key",
            [(key, ids[msgid]) for msgid, keys, _ in extras for key in keys],
        )  # fmt: skip
        await _insert_pairs(
            runtime, conn, "archive_postings", "token",
            [(token, ids[msgid]) for msgid, _, tokens in extras for token in tokens],
        )  # fmt: skip
        await _save_heads(runtime, conn, {key: heads[key] for key in changed})
    return len(rows)


async def _unseen(runtime: ArchiveRuntime, conn: Any, msgids: Sequence[str]) -> list[str]:
    sql = "SELECT msgid FROM archive_records WHERE {in}"
    rows = await select_in(runtime.db, conn, sql, "msgid", "text", msgids)
    seen = {row["msgid"] for row in rows}
    return [msgid for msgid in msgids if msgid not in seen]


_HEAD_COLUMNS = ("partition_id", "conversation", "position", "head_hash")
_HEAD_TYPES = ("bigint", "text", "int", "bytea")


async def _lock_heads(
    runtime: ArchiveRuntime, conn: Any, wanted: set[tuple[int, str]]
) -> dict[tuple[int, str], tuple[int, bytes]]:
    """Create missing chain heads, then lock all of them in id order (no deadlocks)."""
    db = runtime.db
    ordered = sorted(wanted)
    await insert_rows(
        db, conn, "archive_chain_heads", _HEAD_COLUMNS, _HEAD_TYPES,
        [(pid, conv, 0, genesis_hash(conv)) for pid, conv in ordered],
        suffix="ON CONFLICT (partition_id, conversation) DO NOTHING",
    )  # fmt: skip
    heads: dict[tuple[int, str], tuple[int, bytes]] = {}
    lock = " FOR UPDATE" if db.is_postgres else ""
    sql = (
        "SELECT conversation, position, head_hash FROM archive_chain_heads "
        f"WHERE partition_id = {{}} AND {{in}} ORDER BY id{lock}"
    )
    for pid in sorted({pid for pid, _ in ordered}):
        convs = [conv for p, conv in ordered if p == pid]
        for row in await select_in(db, conn, sql, "conversation", "text", convs, [pid]):
            heads[(pid, row["conversation"])] = (row["position"], bytes(row["head_hash"]))
    return heads


_RECORD_COLUMNS = (
    "msgid", "partition_id", "conversation", "position", "prev_hash", "record_hash",
    "ciphertext", "hour", "msgtype", "created_at",
)  # fmt: skip
_RECORD_TYPES = (
    "text", "bigint", "text", "int", "bytea", "bytea", "bytea", "bigint", "text", "float8",
)  # fmt: skip


async def _insert_records(
    runtime: ArchiveRuntime, conn: Any, rows: list[list[Any]]
) -> dict[str, int]:
    columns: tuple[str, ...] = _RECORD_COLUMNS
    types: tuple[str, ...] = _RECORD_TYPES
    if runtime.db.is_postgres:
        columns, types = (*columns, "tokens"), (*types, "bigint[]")
    result = await insert_rows(
        runtime.db, conn, "archive_records", columns, types, rows, returning="id, msgid"
    )
    return {row["msgid"]: row["id"] for row in result}


async def _insert_pairs(
    runtime: ArchiveRuntime, conn: Any, table: str, column: str, pairs: list[tuple[int, int]]
) -> None:
    await insert_rows(runtime.db, conn, table, (column, "record_id"), ("bigint", "bigint"), pairs)


async def _save_heads(
    runtime: ArchiveRuntime, conn: Any, heads: dict[tuple[int, str], tuple[int, bytes]]
) -> None:
    """Move the locked heads forward (an upsert, the same on both engines)."""
    await insert_rows(
        runtime.db, conn, "archive_chain_heads", _HEAD_COLUMNS, _HEAD_TYPES,
        [(pid, conv, pos, digest) for (pid, conv), (pos, digest) in sorted(heads.items())],
        suffix="ON CONFLICT (partition_id, conversation) DO UPDATE "
        "SET position = excluded.position, head_hash = excluded.head_hash",
    )  # fmt: skip
