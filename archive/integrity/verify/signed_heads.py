"""Every chain still reaches the newest head a valid checkpoint signed, with the signed hash.

A chain cut short and rebuilt is still a valid chain; only the signed head tells that
records were lost or replaced.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from archive.integrity.checkpoint import Checkpoint, signed_head_problem
from archive.integrity.links import Linked
from archive.integrity.verify.report import problem_line

SignedHeads = Mapping[str, tuple[int, bytes, Checkpoint]]


def newest_signed(checkpoints: Iterable[Checkpoint]) -> dict[str, tuple[int, bytes, Checkpoint]]:
    """Per chain, the highest signed head (position, hash) and the checkpoint that signed it."""
    signed: dict[str, tuple[int, bytes, Checkpoint]] = {}
    for checkpoint in sorted(checkpoints, key=lambda c: (c.seq, c.day)):
        for chain, (position, digest) in checkpoint.heads.items():
            if chain not in signed or position >= signed[chain][0]:
                signed[chain] = (position, digest, checkpoint)
    return signed


def compare_signed(
    name: str, signed: SignedHeads, chains: Mapping[str, Sequence[Linked]]
) -> list[str]:
    """Every chain a checkpoint signed still reaches its signed head with the signed hash."""
    out: list[str] = []
    for chain, (position, digest, checkpoint) in sorted(signed.items()):
        problem = signed_head_problem(
            chain, position, digest, checkpoint.day, chains.get(chain, ())
        )
        if problem is None:
            continue
        where = f"{name} checkpoint {checkpoint.day.isoformat()}"
        if checkpoint.seq:
            where += f" #{checkpoint.seq}"
        out.append(problem_line(where + ":", problem, {}))
    return out
