"""What chain verification reports: one `Problem` per altered, missing or misplaced record."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ProblemKind(StrEnum):
    """The ways a hash chain can be damaged; each names what an operator should look for."""

    ALTERED = "altered"  # content no longer matches the record's hash
    MISSING = "missing"  # a position has no record (deleted)
    SWAPPED = "swapped"  # two records exchanged positions
    REORDERED = "reordered"  # a record sits at a position other than the one it was chained at
    INSERTED = "inserted"  # a record that is not part of the chain
    BROKEN_LINK = "broken_link"  # a link that fits none of the above
    TRUNCATED = "truncated"  # the chain ends before a signed checkpoint's head
    DIVERGED = "diverged"  # the record at a checkpoint's head position has another hash


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding; `record_id` is None when the record is absent (missing, truncated)."""

    kind: ProblemKind
    position: int
    record_id: str | int | None = None
    chain: str = ""
    detail: str = ""
