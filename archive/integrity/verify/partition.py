"""One partition: each record's GCM tag and index rows, its chains, head rows and signed heads."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence

from archive.errors import IntegrityError
from archive.integrity.checkpoint import Checkpoint
from archive.integrity.links import verify_chain
from archive.integrity.message_chain import ChainRecord
from archive.integrity.verify.index import StoredIndex, index_problems
from archive.integrity.verify.report import problem_line
from archive.integrity.verify.signed_heads import compare_signed, newest_signed
from archive.keys.envelope import decrypt_message
from archive.runtime import ArchiveRuntime
from archive.store.partitions import load_partition
from archive.store.write import index_entry
from scrm.chat import parse_chat_message


async def verify_partition(
    runtime: ArchiveRuntime, pid: int, name: str, checkpoints: Sequence[Checkpoint] = ()
) -> list[str]:
    """Chains, tags, index rows, head rows and signed heads of one partition."""
    db = runtime.db
    partition = await load_partition(runtime, pid)
    assert partition.dek is not None
    tokens = ", tokens" if db.is_postgres else ""
    rows = await db.fetch(
        "SELECT id, msgid, conversation, position, prev_hash, record_hash, ciphertext, hour, "
        f"msgtype{tokens} FROM archive_records WHERE partition_id = {db.placeholders(1)[0]} "
        "ORDER BY id",
        [pid],
    )
    index = StoredIndex(db.is_postgres)
    await index.load(runtime, pid)
    chains: dict[str, list[ChainRecord]] = defaultdict(list)
    msgids: dict[int | str, str] = {}
    out: list[str] = []
    for row in rows:
        ciphertext = bytes(row["ciphertext"])
        record = ChainRecord(
            row["id"], row["position"], row["msgid"], ciphertext,
            bytes(row["prev_hash"]), bytes(row["record_hash"]),
        )  # fmt: skip
        chains[row["conversation"]].append(record)
        msgids[row["id"]] = row["msgid"]
        where = f"{name} conversation {row['conversation'][:16]} position {row['position']}"
        try:
            plaintext = decrypt_message(
                partition.dek, ciphertext, msgid=row["msgid"], partition=name,
                position=row["position"],
            )  # fmt: skip
        except IntegrityError:
            out.append(
                f"{where}: altered record {row['id']} (msgid {row['msgid']}): "
                "GCM tag does not verify"
            )
            continue
        try:
            expected = index_entry(runtime, parse_chat_message(json.loads(plaintext)))
        except ValueError as exc:
            out.append(f"{where}: record {row['id']} (msgid {row['msgid']}) does not parse: {exc}")
            continue
        out += [
            f"{where}: index of record {row['id']} (msgid {row['msgid']}): {what}"
            for what in index_problems(expected, row, index)
        ]
    for conversation, records in sorted(chains.items()):
        out += [problem_line(name, p, msgids) for p in verify_chain(conversation, records)]
    out += await _check_heads(runtime, pid, name, chains)
    return out + compare_signed(name, newest_signed(checkpoints), chains)


async def _check_heads(
    runtime: ArchiveRuntime, pid: int, name: str, chains: Mapping[str, Sequence[ChainRecord]]
) -> list[str]:
    """Each chain's head row names its newest record; each chain has a head row."""
    db = runtime.db
    heads = await db.fetch(
        "SELECT conversation, position, head_hash FROM archive_chain_heads "
        f"WHERE partition_id = {db.placeholders(1)[0]}",
        [pid],
    )
    out: list[str] = []
    for head in heads:
        records = chains.get(head["conversation"], ())
        last = max(records, key=lambda record: record.position, default=None)
        end = last.position if last else 0
        where = f"{name} conversation {head['conversation'][:16]} position {head['position']}"
        if end < head["position"]:
            out.append(
                f"{where}: truncated: chain ends at {end}, its head row says {head['position']}"
            )
        elif end > head["position"]:
            out.append(f"{where}: head row is behind: the chain ends at {end}")
        elif last is not None and last.record_hash != bytes(head["head_hash"]):
            out.append(f"{where}: head row hash differs from record {last.record_id}'s")
    for conversation in sorted(set(chains) - {head["conversation"] for head in heads}):
        end = max(record.position for record in chains[conversation])
        out.append(
            f"{name} conversation {conversation[:16]} position {end}: chain head row is missing"
        )
    return out
