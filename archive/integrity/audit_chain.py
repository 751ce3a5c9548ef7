"""The reviewer audit log as an append-only hash chain.

``hash = SHA-256("scrm.archive.audit.v1" NUL prev_hash NUL canonical_json(fields))`` in
hex, where ``fields`` include ``seq`` (1, 2, ...); the first entry's ``prev_hash`` is
`AUDIT_GENESIS`. Each entry records who, when, why, which filter and how many results;
the writer passes the time in. Verification follows the links like a message chain, so it
names altered, missing, swapped/reordered and inserted entries alike. Deleting the newest
entries leaves a valid chain: anchor the head in the daily signed checkpoint (for
instance as the chain ``"audit"``) to catch that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from archive.integrity.canonical import canonical_json
from archive.integrity.links import verify_links
from archive.integrity.problems import Problem

AUDIT_GENESIS = hashlib.sha256(b"scrm.archive.audit.genesis.v1").hexdigest()
_LABEL = b"scrm.archive.audit.v1\x00"


def entry_hash(prev_hash: str, entry_fields: Mapping[str, Any]) -> str:
    """Hash one entry onto its predecessor over canonical JSON (sorted keys, UTF-8)."""
    payload = _LABEL + prev_hash.encode("utf-8") + b"\x00" + canonical_json(dict(entry_fields))
    return hashlib.sha256(payload).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One stored audit row: its sequence number, content (without seq) and links."""

    seq: int
    fields: Mapping[str, Any] = field(hash=False)
    prev_hash: str
    hash: str

    def verifies_at(self, position: int) -> bool:
        """Tell whether the content hashes to `hash` when chained at sequence `position`."""
        return entry_hash(self.prev_hash, {**self.fields, "seq": position}) == self.hash


def next_entry(previous: AuditEntry | None, fields: Mapping[str, Any]) -> AuditEntry:
    """Build the entry that follows `previous` (None for the first entry of the log)."""
    if "seq" in fields:
        raise ValueError("'seq' is assigned by the chain, not passed in fields")
    seq = 1 if previous is None else previous.seq + 1
    prev_hash = AUDIT_GENESIS if previous is None else previous.hash
    return AuditEntry(seq, dict(fields), prev_hash, entry_hash(prev_hash, {**fields, "seq": seq}))


class AuditLink:
    """The `links.Linked` view of an entry: seq is its id and position."""

    __slots__ = ("entry",)

    def __init__(self, entry: AuditEntry) -> None:
        self.entry = entry

    @property
    def record_id(self) -> int:
        return self.entry.seq

    @property
    def position(self) -> int:
        return self.entry.seq

    @property
    def prev_hash(self) -> bytes:
        return _digest(self.entry.prev_hash)

    @property
    def record_hash(self) -> bytes:
        return _digest(self.entry.hash)

    def verifies_at(self, position: int) -> bool:
        return self.entry.verifies_at(position)


def _digest(hex_hash: str) -> bytes:
    """Turn a stored hex hash into bytes; a non-hex (tampered) value stays distinct."""
    try:
        return bytes.fromhex(hex_hash)
    except ValueError:
        return b"not-hex:" + hex_hash.encode("utf-8")


def audit_links(entries: Sequence[AuditEntry]) -> list[AuditLink]:
    """View entries as chain links, e.g. for `checkpoint.compare_with_checkpoint`."""
    return [AuditLink(entry) for entry in entries]


def audit_head(entries: Sequence[AuditEntry]) -> tuple[int, bytes]:
    """Return (seq, hash) of the newest entry, to anchor in a signed checkpoint."""
    if not entries:
        return 0, bytes.fromhex(AUDIT_GENESIS)
    newest = max(entries, key=lambda entry: entry.seq)
    return newest.seq, bytes.fromhex(newest.hash)


def verify_audit_chain(entries: Sequence[AuditEntry]) -> list[Problem]:
    """Name every altered, missing, swapped, reordered or inserted entry of the audit log."""
    return verify_links(bytes.fromhex(AUDIT_GENESIS), audit_links(entries), "audit")
