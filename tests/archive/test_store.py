"""Storage: messages go in encrypted and chained, come back decrypted, and leave no plaintext."""

from __future__ import annotations

import asyncio

from archive.integrity.links import verify_chain
from archive.integrity.message_chain import ChainRecord
from archive.integrity.verify import verify_archive
from archive.runtime import ArchiveRuntime
from archive.store.read import read_message
from archive.store.write import StorePipeline, store_messages
from scrm.db import Database
from tests.archive.dump import dump_database
from tests.archive.messages import NOV_2025, text_message

PHRASE = "退款申请编号HX9921"


async def test_store_then_read_back_decrypts(runtime: ArchiveRuntime) -> None:
    message = text_message("m1", f"您好，{PHRASE}已收到")
    assert await store_messages(runtime, [{**message, "sender_kind": "staff"}]) == 1
    assert await read_message(runtime, "m1") == message  # scrm's sender_kind is not archived


async def test_store_is_idempotent_on_msgid(runtime: ArchiveRuntime, database: Database) -> None:
    message = text_message("m1", "hello")
    assert await store_messages(runtime, [message, message]) == 1
    assert await store_messages(runtime, [message]) == 0
    rows = await database.fetch("SELECT COUNT(*) AS n FROM archive_records")
    assert rows[0]["n"] == 1


async def test_conversation_is_a_verifiable_chain(
    runtime: ArchiveRuntime, database: Database
) -> None:
    batch = [text_message(f"m{i}", f"line {i}", msgtime=NOV_2025 + i) for i in range(5)]
    await store_messages(runtime, batch[:2])
    await store_messages(runtime, batch[2:])
    await store_messages(runtime, [text_message("other", "x", to="wmCustomerB")])
    rows = await database.fetch(
        "SELECT id, msgid, conversation, position, ciphertext, prev_hash, record_hash "
        "FROM archive_records ORDER BY id"
    )
    conversations = {row["conversation"] for row in rows}
    assert len(conversations) == 2
    first = [row for row in rows if row["msgid"] != "other"]
    assert [row["position"] for row in first] == [1, 2, 3, 4, 5]
    records = [
        ChainRecord(
            r["id"], r["position"], r["msgid"], bytes(r["ciphertext"]),
            bytes(r["prev_hash"]), bytes(r["record_hash"]),
        )
        for r in first
    ]  # fmt: skip
    assert verify_chain(first[0]["conversation"], records) == []


async def test_no_plaintext_at_rest(
    runtime: ArchiveRuntime, database: Database, database_url: str
) -> None:
    await store_messages(runtime, [text_message("msgid-visible-1", f"客户说：{PHRASE}")])
    needles = [PHRASE.encode(), b"HX9921", b"wmCustomerA", b"zhangsan"]
    dumped = await dump_database(database, database_url)
    assert b"msgid-visible-1" in dumped  # the dump does see the stored rows
    for needle in needles:
        assert needle not in dumped, needle


async def test_concurrent_stores_keep_one_chain(runtime: ArchiveRuntime) -> None:
    messages = [text_message(f"c{i}", f"并发 {i}", msgtime=NOV_2025 + i) for i in range(12)]
    batches = [[m] for m in messages] + [[messages[0], messages[5]], [messages[3]]]
    counts = await asyncio.gather(*(store_messages(runtime, batch) for batch in batches))
    assert sum(counts) == 12
    assert await verify_archive(runtime) == []


async def test_pipeline_commits_in_order_and_counts_each_batch(
    runtime: ArchiveRuntime, database: Database
) -> None:
    batches = [
        [text_message(f"p{b}-{i}", f"batch {b} line {i}", msgtime=NOV_2025 + b * 10 + i)
         for i in range(3)]
        for b in range(3)
    ]  # fmt: skip
    pipeline = StorePipeline(runtime)
    counts = [await pipeline.submit(batch) for batch in batches]
    counts.append(await pipeline.finish())
    assert counts == [0, 3, 3, 3]  # each submit reports the batch before it
    assert await pipeline.submit(batches[0]) == 0 and await pipeline.finish() == 0  # duplicates
    await pipeline.close()
    rows = await database.fetch("SELECT msgid, position FROM archive_records ORDER BY id")
    assert [r["msgid"] for r in rows] == [m["msgid"] for batch in batches for m in batch]
    assert [r["position"] for r in rows] == list(range(1, 10))  # one chain, arrival order
    assert await verify_archive(runtime) == []
