"""`archive verify`: prove the archive is whole, not only that what is present is intact.

One line per problem, naming the partition, conversation, position, record and what is wrong:

* checkpoints: every signature, the checkpoint chain (seq and ``prev`` links) and every
  signing run complete, so a deleted checkpoint shows;
* partitions: every partition a checkpoint names still exists; one without its data key was
  shredded by a retention run the audit log names; ``month_end`` is the one its name implies;
  no record points at a partition row that is gone;
* records: GCM tags, hash chains, chain head rows, and the newest signed head of each chain;
* the index: conversation, hour, msgtype, participants and blind-index tokens (PostgreSQL's
  ``tokens`` column, SQLite's ``archive_postings``) recomputed from each decrypted message,
  so a missing or altered index row — which would hide the record from searches — shows;
* the audit log: its chain, its head row and its signed heads.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from archive.errors import ArchiveCryptoError, IntegrityError
from archive.integrity.audit_chain import AuditEntry, audit_links, verify_audit_chain
from archive.integrity.checkpoint import (
    CHECKPOINT_GENESIS,
    Checkpoint,
    CheckpointLink,
    verify_checkpoint,
)
from archive.integrity.links import Linked, verify_chain, verify_links
from archive.integrity.message_chain import ChainRecord
from archive.integrity.problems import Problem, ProblemKind
from archive.integrity.signing import AUDIT_CHECKPOINT
from archive.keys.envelope import decrypt_message
from archive.review.audit_log import read_audit
from archive.runtime import ArchiveRuntime
from archive.store.partitions import load_partition, month_end
from archive.store.write import IndexEntry, index_entry
from scrm.chat import parse_chat_message


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """One row of archive_checkpoints; `checkpoint` is None when its body is unreadable."""

    seq: int | None
    partition: str
    day: str
    checkpoint: Checkpoint | None

    @property
    def label(self) -> str:
        number = f"#{self.seq} " if self.seq is not None else ""
        return f"checkpoint {number}{self.day} ({self.partition})"


def _month(name: str) -> date | None:
    """The month of a "<corp>:YYYY-MM" partition name, None for any other name."""
    try:
        year, month = (int(part) for part in name.rsplit(":", 1)[1].split("-"))
        return date(year, month, 1)
    except (IndexError, ValueError):
        return None


def _month_overlaps(month: date, start: date | None, end: date | None) -> bool:
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return (end is None or month <= end) and (start is None or following > start)


def _line(where: str, problem: Problem, msgids: Mapping[int | str, str]) -> str:
    record = ""
    if problem.record_id is not None:
        record = f" record {problem.record_id} (msgid {msgids.get(problem.record_id, '?')})"
    chain = f" conversation {problem.chain[:16]}" if problem.chain else ""
    return f"{where}{chain} position {problem.position}: {problem.kind}{record}: {problem.detail}"


async def _load_checkpoints(runtime: ArchiveRuntime) -> list[StoredCheckpoint]:
    rows = await runtime.db.fetch(
        "SELECT seq, partition, day, body FROM archive_checkpoints ORDER BY id"
    )
    stored = []
    for row in rows:
        try:
            checkpoint: Checkpoint | None = Checkpoint.from_json(row["body"])
        except (ValueError, KeyError, TypeError, json.JSONDecodeError):
            checkpoint = None
        seq = None if row["seq"] is None else int(row["seq"])
        stored.append(StoredCheckpoint(seq, row["partition"], row["day"], checkpoint))
    return stored


def verify_checkpoints(
    runtime: ArchiveRuntime, stored: Sequence[StoredCheckpoint]
) -> tuple[list[str], list[Checkpoint]]:
    """Check signatures, the checkpoint chain and run completeness; return (problems, good)."""
    out: list[str] = []
    good: list[Checkpoint] = []
    links: list[CheckpointLink] = []
    runs: dict[int, tuple[int, set[int], str]] = {}
    for row in stored:
        checkpoint = row.checkpoint
        if checkpoint is None or checkpoint.partition != row.partition:
            out.append(f"{row.label}: unreadable or filed under another partition")
            continue
        if checkpoint.seq != (row.seq or 0):
            out.append(f"{row.label}: its seq column differs from its signed seq {checkpoint.seq}")
        try:
            verify_checkpoint(runtime.ring.verify_key, checkpoint)
        except IntegrityError as exc:
            out.append(f"{row.partition} bad checkpoint {row.day}: {exc}")
        else:
            good.append(checkpoint)
        if checkpoint.seq:
            links.append(CheckpointLink(checkpoint))
            first, size = checkpoint.run
            known = runs.get(first, (0, set(), row.day))
            runs[first] = (max(size, known[0]), known[1] | {checkpoint.seq}, known[2])
    for problem in verify_links(CHECKPOINT_GENESIS, links, "checkpoints"):
        detail = "deleted: the chain of checkpoints has a gap" if problem.kind == "missing" else ""
        out.append(
            f"checkpoint chain #{problem.position}: {problem.kind}: {detail or problem.detail}"
        )
    for first, (size, present, day) in sorted(runs.items()):
        gone = sorted(set(range(first, first + size)) - present)
        if gone:
            names = ", ".join(f"#{seq}" for seq in gone)
            out.append(
                f"checkpoint run #{first} ({day}): {len(gone)} of its {size} checkpoints "
                f"are gone: {names}"
            )
    return out, good


def _newest_signed(
    checkpoints: Iterable[Checkpoint],
) -> dict[str, tuple[int, bytes, Checkpoint]]:
    """Per chain, the highest signed head (position, hash) and the checkpoint that signed it."""
    signed: dict[str, tuple[int, bytes, Checkpoint]] = {}
    for checkpoint in sorted(checkpoints, key=lambda c: (c.seq, c.day)):
        for chain, (position, digest) in checkpoint.heads.items():
            if chain not in signed or position >= signed[chain][0]:
                signed[chain] = (position, digest, checkpoint)
    return signed


def _compare_signed(
    name: str,
    signed: Mapping[str, tuple[int, bytes, Checkpoint]],
    chains: Mapping[str, Sequence[Linked]],
) -> list[str]:
    """Every chain a checkpoint signed still reaches its signed head with the signed hash."""
    out: list[str] = []
    for chain, (position, digest, checkpoint) in sorted(signed.items()):
        if position == 0:
            continue
        records = chains.get(chain, ())
        last = max((record.position for record in records), default=0)
        at_head = [record for record in records if record.position == position]
        where = f"{name} checkpoint {checkpoint.day.isoformat()}"
        if checkpoint.seq:
            where += f" #{checkpoint.seq}"
        if last < position:
            detail = f"chain ends at {last}, checkpoint {checkpoint.day.isoformat()} has {position}"
            problem = Problem(ProblemKind.TRUNCATED, position, None, chain, detail)
            out.append(_line(where + ":", problem, {}))
        elif not any(record.record_hash == digest for record in at_head):
            rid = at_head[0].record_id if at_head else None
            detail = f"hash at position {position} differs from checkpoint"
            problem = Problem(ProblemKind.DIVERGED, position, rid, chain, detail)
            out.append(_line(where + ":", problem, {}))
    return out


def _index_problems(
    expected: IndexEntry, row: Mapping[str, Any], stored: _StoredIndex
) -> list[str]:
    """What the stored index says differently from the message itself."""
    found: list[str] = []
    if row["conversation"] != expected.conversation:
        found.append("conversation column differs from the message's conversation")
    if row["hour"] != expected.hour:
        found.append(f"hour column is {row['hour']}, the message's hour is {expected.hour}")
    if row["msgtype"] != expected.msgtype:
        found.append(f"msgtype column is {row['msgtype']!r}, the message's is {expected.msgtype!r}")
    for what, have, want in (
        ("archive_participants", stored.participants.get(row["id"], set()), expected.participants),
        (stored.token_table, stored.tokens_of(row), set(expected.tokens)),
    ):
        if have != want:
            found.append(
                f"{what}: {len(want - have)} index rows missing, {len(have - want)} unexpected "
                "(searches would miss or misfile this record)"
            )
    return found


class _StoredIndex:
    """One partition's participant keys and tokens, by record id, as stored."""

    def __init__(self, is_postgres: bool) -> None:
        self.is_postgres = is_postgres
        self.participants: dict[int, set[int]] = defaultdict(set)
        self.postings: dict[int, set[int]] = defaultdict(set)
        self.token_table = "archive_records.tokens" if is_postgres else "archive_postings"

    async def load(self, runtime: ArchiveRuntime, pid: int) -> None:
        db = runtime.db
        mark = db.placeholders(1)[0]
        tables = [("archive_participants", "key", self.participants)]
        if not self.is_postgres:
            tables.append(("archive_postings", "token", self.postings))
        for table, column, into in tables:
            rows = await db.fetch(
                f"SELECT t.record_id, t.{column} AS value FROM {table} t "
                f"JOIN archive_records r ON r.id = t.record_id WHERE r.partition_id = {mark}",
                [pid],
            )
            for row in rows:
                into[row["record_id"]].add(row["value"])

    def tokens_of(self, row: Mapping[str, Any]) -> set[int]:
        if self.is_postgres:
            return set(row["tokens"] or ())
        return self.postings.get(row["id"], set())


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
    index = _StoredIndex(db.is_postgres)
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
            for what in _index_problems(expected, row, index)
        ]
    for conversation, records in sorted(chains.items()):
        out += [_line(name, p, msgids) for p in verify_chain(conversation, records)]
    out += await _check_heads(runtime, pid, name, chains)
    return out + _compare_signed(name, _newest_signed(checkpoints), chains)


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


async def _orphan_records(runtime: ArchiveRuntime, partition_ids: set[int]) -> list[str]:
    rows = await runtime.db.fetch(
        "SELECT partition_id, COUNT(*) AS n FROM archive_records GROUP BY partition_id"
    )
    return [
        f"partition id {row['partition_id']}: {row['n']} records whose partition row is gone"
        for row in rows
        if row["partition_id"] not in partition_ids
    ]


def _shredded_by_retention(entries: Sequence[AuditEntry]) -> set[str]:
    """Partitions a retention run of the audit log says it crypto-shredded."""
    names: set[str] = set()
    for entry in entries:
        filters = entry.fields.get("filters")
        if entry.fields.get("action") == "retention" and isinstance(filters, dict):
            names.update(str(name) for name in filters.get("partitions") or ())
    return names


async def _verify_audit(
    runtime: ArchiveRuntime, entries: Sequence[AuditEntry], checkpoints: Sequence[Checkpoint]
) -> list[str]:
    out = [_line("audit log", p, {}) for p in verify_audit_chain(entries)]
    head = await runtime.db.fetch("SELECT seq, hash FROM archive_audit_head")
    newest = max(entries, key=lambda entry: entry.seq, default=None)
    if newest is not None and not head:
        out.append(f"audit log position {newest.seq}: the audit head row is gone")
    elif head and newest is not None and int(head[0]["seq"]) < newest.seq:
        out.append(
            f"audit log position {head[0]['seq']}: head row is behind: the log ends at {newest.seq}"
        )
    elif (
        head
        and int(head[0]["seq"])
        and (newest is None or (int(head[0]["seq"]), head[0]["hash"]) != (newest.seq, newest.hash))
    ):
        end = newest.seq if newest else 0
        out.append(
            f"audit log position {head[0]['seq']}: truncated: the log ends at {end}, "
            f"its head row says {head[0]['seq']}"
            if end < int(head[0]["seq"])
            else f"audit log position {end}: head row hash differs from entry {end}'s"
        )
    audit = [c for c in checkpoints if c.partition == AUDIT_CHECKPOINT]
    return out + _compare_signed(
        "audit log", _newest_signed(audit), {AUDIT_CHECKPOINT: audit_links(entries)}
    )


async def verify_archive(
    runtime: ArchiveRuntime,
    start: date | None = None,
    end: date | None = None,
    anchor: tuple[int, bytes] | None = None,
) -> list[str]:
    """Every problem in the partitions overlapping [start, end], the checkpoints and the
    audit log; `anchor` is a (seq, digest) of a checkpoint that must still be there."""
    stored = await _load_checkpoints(runtime)
    out, checkpoints = verify_checkpoints(runtime, stored)
    if anchor is not None:
        out += check_anchor(stored, *anchor)
    by_partition: dict[str, list[Checkpoint]] = defaultdict(list)
    for checkpoint in checkpoints:
        by_partition[checkpoint.partition].append(checkpoint)
    entries = await read_audit(runtime)
    shredded = _shredded_by_retention(entries)
    partitions = await runtime.db.fetch(
        "SELECT id, name, wrapped_key, month_end FROM archive_partitions ORDER BY name"
    )
    out += await _orphan_records(runtime, {row["id"] for row in partitions})
    names = {row["name"] for row in partitions}
    for name in sorted(set(by_partition) - names - {AUDIT_CHECKPOINT}):
        month = _month(name)
        if month is None or _month_overlaps(month, start, end):
            newest = max(by_partition[name], key=lambda c: (c.seq, c.day))
            out.append(
                f"{name}: signed in checkpoint {newest.day.isoformat()} #{newest.seq} "
                f"({len(newest.heads)} chains), but the partition row is gone"
            )
    for row in partitions:
        name = row["name"]
        if name == f"{runtime.corp_id}:audit":
            continue
        month = _month(name)
        if month is None:
            out.append(f"{name}: not a month partition name")
            continue
        if not _month_overlaps(month, start, end):
            continue
        if row["month_end"] is None or row["month_end"] != month_end(month):
            out.append(
                f"{name}: month_end is {row['month_end']}, the month ends at {month_end(month)} "
                "(retention and signing rely on it)"
            )
        if row["wrapped_key"] is None:
            if name not in shredded:
                out.append(f"{name}: data key destroyed, but no retention entry names it")
            continue
        try:
            out += await verify_partition(runtime, row["id"], name, by_partition.get(name, ()))
        except ArchiveCryptoError as exc:
            out.append(f"{name}: data key cannot be opened: {exc}")
    return out + await _verify_audit(runtime, entries, checkpoints)


async def newest_checkpoint(runtime: ArchiveRuntime) -> Checkpoint | None:
    """The newest chained checkpoint: keep its seq and digest outside the database."""
    stored = await _load_checkpoints(runtime)
    chained = [row.checkpoint for row in stored if row.checkpoint and row.checkpoint.seq]
    return max(chained, key=lambda c: c.seq, default=None)


def check_anchor(stored: Sequence[StoredCheckpoint], seq: int, digest: bytes) -> list[str]:
    """A checkpoint noted outside the database (`--anchor SEQ:DIGEST`) is still there."""
    for row in stored:
        if row.checkpoint is not None and row.checkpoint.seq == seq:
            if row.checkpoint.digest() == digest:
                return []
            return [f"checkpoint #{seq}: its digest differs from the anchor"]
    return [f"checkpoint #{seq}: the anchored checkpoint is gone (newest checkpoints deleted)"]
