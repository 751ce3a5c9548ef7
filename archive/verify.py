"""`archive verify`: re-check every chain, GCM tag and signed checkpoint; name each problem."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date

from archive.audit import read_audit
from archive.audit_chain import audit_links, verify_audit_chain
from archive.chain import ChainRecord
from archive.chain_verify import verify_chain
from archive.checkpoint import Checkpoint, compare_with_checkpoint
from archive.checkpoints import AUDIT_CHECKPOINT
from archive.envelope import decrypt_message
from archive.errors import ArchiveCryptoError, IntegrityError
from archive.partitions import load_partition
from archive.problems import Problem
from archive.runtime import ArchiveRuntime


def _month_overlaps(name: str, start: date | None, end: date | None) -> bool:
    year, month = (int(part) for part in name.rsplit(":", 1)[1].split("-"))
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return (end is None or first <= end) and (start is None or following > start)


def _line(where: str, problem: Problem, msgids: dict[int | str, str]) -> str:
    record = ""
    if problem.record_id is not None:
        record = f" record {problem.record_id} (msgid {msgids.get(problem.record_id, '?')})"
    chain = f" conversation {problem.chain[:16]}" if problem.chain else ""
    return f"{where}{chain} position {problem.position}: {problem.kind}{record}: {problem.detail}"


async def _checkpoints(
    runtime: ArchiveRuntime, name: str, start: date | None, end: date | None
) -> list[tuple[str, Checkpoint | None]]:
    db = runtime.db
    rows = await db.fetch(
        f"SELECT day, body FROM archive_checkpoints WHERE partition = {db.placeholders(1)[0]} "
        "ORDER BY day",
        [name],
    )
    found: list[tuple[str, Checkpoint | None]] = []
    for row in rows:
        day = date.fromisoformat(row["day"])
        if (start and day < start) or (end and day > end):
            continue
        try:
            found.append((row["day"], Checkpoint.from_json(row["body"])))
        except (ValueError, KeyError, TypeError, json.JSONDecodeError):
            found.append((row["day"], None))
    return found


def _check_signed(runtime: ArchiveRuntime, name: str, cps: list, chains: dict) -> list[str]:
    out: list[str] = []
    for day, checkpoint in cps:
        if checkpoint is None or checkpoint.partition != name:
            out.append(f"{name} checkpoint {day}: unreadable or filed under another partition")
            continue
        try:
            problems = compare_with_checkpoint(runtime.ring.verify_key, checkpoint, chains)
        except IntegrityError as exc:
            out.append(f"{name} bad checkpoint {day}: {exc}")
            continue
        out += [f"{name} checkpoint {day}: " + _line("", p, {}).strip() for p in problems]
    return out


async def verify_partition(
    runtime: ArchiveRuntime, pid: int, name: str, start: date | None, end: date | None
) -> list[str]:
    """Chains, tags and checkpoints of one partition."""
    db = runtime.db
    partition = await load_partition(runtime, pid)
    rows = await db.fetch(
        "SELECT id, msgid, conversation, position, prev_hash, record_hash, ciphertext "
        f"FROM archive_records WHERE partition_id = {db.placeholders(1)[0]} ORDER BY id",
        [pid],
    )
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
        try:
            assert partition.dek is not None
            decrypt_message(
                partition.dek, ciphertext, msgid=row["msgid"], partition=name,
                position=row["position"],
            )  # fmt: skip
        except IntegrityError:
            out.append(
                f"{name} conversation {row['conversation'][:16]} position {row['position']}: "
                f"altered record {row['id']} (msgid {row['msgid']}): GCM tag does not verify"
            )
    for conversation, records in sorted(chains.items()):
        out += [_line(name, p, msgids) for p in verify_chain(conversation, records)]
    heads = await db.fetch(
        "SELECT conversation, position FROM archive_chain_heads "
        f"WHERE partition_id = {db.placeholders(1)[0]}",
        [pid],
    )
    for head in heads:
        last = max((r.position for r in chains.get(head["conversation"], ())), default=0)
        if last < head["position"]:
            out.append(
                f"{name} conversation {head['conversation'][:16]} position {head['position']}: "
                f"truncated: chain ends at {last}, its head row says {head['position']}"
            )
    return out + _check_signed(runtime, name, await _checkpoints(runtime, name, start, end), chains)


async def verify_archive(
    runtime: ArchiveRuntime, start: date | None = None, end: date | None = None
) -> list[str]:
    """Every problem in the partitions overlapping [start, end] and in the audit log."""
    partitions = await runtime.db.fetch(
        "SELECT id, name FROM archive_partitions "
        "WHERE wrapped_key IS NOT NULL AND month_end IS NOT NULL ORDER BY name"
    )
    out: list[str] = []
    for partition in partitions:
        if _month_overlaps(partition["name"], start, end):
            try:
                out += await verify_partition(
                    runtime, partition["id"], partition["name"], start, end
                )
            except ArchiveCryptoError as exc:
                out.append(f"{partition['name']}: data key cannot be opened: {exc}")
    entries = await read_audit(runtime)
    out += [_line("audit log", p, {}) for p in verify_audit_chain(entries)]
    cps = await _checkpoints(runtime, AUDIT_CHECKPOINT, start, end)
    out += _check_signed(runtime, AUDIT_CHECKPOINT, cps, {AUDIT_CHECKPOINT: audit_links(entries)})
    return out
