"""Verify one conversation's hash chain and name each damaged record precisely.

Positions are reconstructed from the stored links, not trusted: from the genesis hash,
follow ``prev_hash`` → record. A record whose predecessor is gone (deleted) starts a new
segment at the position its own hash verifies at. Then each record is judged: not linked
in (forked off, made-up link) → inserted; content does not hash → altered; chained at
another position than stored → swapped (two records traded places) or reordered; a
position no record was chained at → missing. Deleting the newest records leaves a valid
shorter chain: only a signed checkpoint (`archive.integrity.checkpoint`) catches that.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from archive.integrity.message_chain import ChainRecord, genesis_hash
from archive.integrity.problems import Problem, ProblemKind


class Linked(Protocol):
    """What verification needs of a chained row (a message record, an audit entry)."""

    @property
    def record_id(self) -> str | int: ...
    @property
    def position(self) -> int: ...
    @property
    def prev_hash(self) -> bytes: ...
    @property
    def record_hash(self) -> bytes: ...
    def verifies_at(self, position: int) -> bool: ...


def verify_chain(conversation: str, records: Sequence[ChainRecord]) -> list[Problem]:
    """Name every altered, missing, swapped, reordered and inserted record of one chain."""
    return verify_links(genesis_hash(conversation), records, conversation)


def verify_links(genesis: bytes, records: Sequence[Linked], chain: str) -> list[Problem]:
    """Verify any hash chain that starts at `genesis`; problems are tagged with `chain`."""
    problems = _Reconstruction(genesis, records).problems()
    return [replace(problem, chain=chain) for problem in problems]


class _Reconstruction:
    """Where each stored record was chained, recovered from the links alone."""

    def __init__(self, genesis: bytes, records: Sequence[Linked]) -> None:
        self.genesis = genesis
        self.ordered = sorted(records, key=lambda record: record.position)
        self.children: dict[bytes, list[int]] = defaultdict(list)
        for index, record in enumerate(self.ordered):
            self.children[record.prev_hash].append(index)
        self.truth: dict[int, int] = {}  # index in `ordered` -> position it was chained at
        self.inserted: set[int] = set()
        self.unplaced: set[int] = set()  # orphans whose hash verifies at no position
        self.orphans: set[int] = set()
        self._walk(self.genesis, 0)
        self._place_orphans()
        self.inserted.update(i for i in range(len(self.ordered)) if i not in self.truth)

    def _walk(self, start: bytes, position: int) -> None:
        """Follow links down from `start`; at a fork the branch that goes on is genuine."""
        pending = [(start, position)]
        while pending:
            parent, at = pending.pop()
            kids = [i for i in self.children.get(parent, []) if i not in self.truth]
            kids = [i for i in kids if i not in self.inserted]
            if not kids:
                continue
            chosen = max(kids, key=lambda i: self._genuineness(i, at + 1))
            self.inserted.update(i for i in kids if i != chosen)
            self.truth[chosen] = at + 1
            pending.append((self.ordered[chosen].record_hash, at + 1))

    def _genuineness(self, index: int, position: int) -> tuple[bool, bool, int]:
        record = self.ordered[index]
        return record.verifies_at(position), bool(self.children.get(record.record_hash)), -index

    def _place_orphans(self) -> None:
        """Start a segment at each record whose predecessor is not stored at all."""
        known = {record.record_hash for record in self.ordered} | {self.genesis}
        limit = (self.ordered[-1].position if self.ordered else 0) + len(self.ordered)
        for index, record in enumerate(self.ordered):
            if index in self.truth or index in self.inserted or record.prev_hash in known:
                continue  # reached, forked off, or hanging below another record
            candidates = (record.position, *range(1, limit + 1))
            at = next((p for p in candidates if record.verifies_at(p)), None)
            if at is not None and at in self.truth.values():
                self.inserted.add(index)  # its position is taken by a linked record
                continue
            if at is None:
                self.unplaced.add(index)
            self.orphans.add(index)
            self.truth[index] = record.position if at is None else at
            self._walk(record.record_hash, self.truth[index])

    def problems(self) -> list[Problem]:
        """Judge every record and every position once."""
        placed = {self.truth[i]: i for i in self.truth if i not in self.inserted}
        problems = [self._judge(i, placed) for i in range(len(self.ordered))]
        found = [problem for problem in problems if problem is not None]
        for position in range(1, max(placed, default=0) + 1):
            if position not in placed:
                found.append(Problem(ProblemKind.MISSING, position, detail="no record"))
        return sorted(found, key=lambda p: (p.position, p.kind, str(p.record_id)))

    def _judge(self, index: int, placed: dict[int, int]) -> Problem | None:
        record = self.ordered[index]
        rid, stored = record.record_id, record.position
        if index in self.inserted:
            return Problem(ProblemKind.INSERTED, stored, rid, detail="not linked into the chain")
        at = self.truth[index]
        if index in self.unplaced:
            detail = "predecessor not stored and content does not verify"
            return Problem(ProblemKind.BROKEN_LINK, stored, rid, detail=detail)
        if not record.verifies_at(at):
            return Problem(ProblemKind.ALTERED, stored, rid, detail="content does not match")
        if index in self.orphans and (at == 1 or at - 1 in placed):
            before = "genesis" if at == 1 else f"record {self.ordered[placed[at - 1]].record_id}"
            detail = f"its predecessor at {at - 1} is not {before}"
            return Problem(ProblemKind.BROKEN_LINK, stored, rid, detail=detail)
        if at != stored:
            swapped = stored in placed and self.ordered[placed[stored]].position == at
            kind = ProblemKind.SWAPPED if swapped else ProblemKind.REORDERED
            return Problem(kind, stored, rid, detail=f"stored at {stored}, chained at {at}")
        return None
