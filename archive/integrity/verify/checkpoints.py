"""The checkpoints themselves: signatures, their chain, complete signing runs, the anchor.

Checkpoints are a hash chain (seq and ``prev``), and every signing run says how many it
signed, so deleting any checkpoint shows. Deleting whole newest runs does not: the newest
checkpoint, noted outside the database, is checked later as the ``--anchor``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from archive.errors import IntegrityError
from archive.integrity.checkpoint import (
    CHECKPOINT_GENESIS,
    Checkpoint,
    CheckpointLink,
    read_checkpoint,
    verify_checkpoint,
)
from archive.integrity.links import verify_links
from archive.runtime import ArchiveRuntime


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


async def load_checkpoints(runtime: ArchiveRuntime) -> list[StoredCheckpoint]:
    rows = await runtime.db.fetch(
        "SELECT seq, partition, day, body FROM archive_checkpoints ORDER BY id"
    )
    return [
        StoredCheckpoint(
            None if row["seq"] is None else int(row["seq"]),
            row["partition"],
            row["day"],
            read_checkpoint(row["body"]),
        )
        for row in rows
    ]


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


def check_anchor(stored: Sequence[StoredCheckpoint], seq: int, digest: bytes) -> list[str]:
    """A checkpoint noted outside the database (`--anchor SEQ:DIGEST`) is still there."""
    for row in stored:
        if row.checkpoint is not None and row.checkpoint.seq == seq:
            if row.checkpoint.digest() == digest:
                return []
            return [f"checkpoint #{seq}: its digest differs from the anchor"]
    return [f"checkpoint #{seq}: the anchored checkpoint is gone (newest checkpoints deleted)"]


async def newest_checkpoint(runtime: ArchiveRuntime) -> Checkpoint | None:
    """The newest chained checkpoint: keep its seq and digest outside the database."""
    stored = await load_checkpoints(runtime)
    chained = [row.checkpoint for row in stored if row.checkpoint and row.checkpoint.seq]
    return max(chained, key=lambda c: c.seq, default=None)
