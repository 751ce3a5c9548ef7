from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import date

import pytest

from archive.integrity.audit_chain import (
    AUDIT_GENESIS,
    AuditEntry,
    audit_head,
    audit_links,
    entry_hash,
    next_entry,
    verify_audit_chain,
)
from archive.integrity.checkpoint import compare_with_checkpoint, sign_checkpoint
from archive.integrity.problems import ProblemKind
from tests.archive.keys import make_ring

K = ProblemKind
DAY = date(2026, 11, 5)


def _log(count: int) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    for number in range(1, count + 1):
        fields = {
            "reviewer": f"auditor{number}",
            "at": f"2026-11-05T10:0{number}:00Z",
            "reason": "工单 #42 投诉复核",
            "filter": {"customer": "h:ab12", "keyword_tokens": 2},
            "results": number * 10,
        }
        entries.append(next_entry(entries[-1] if entries else None, fields))
    return entries


def _found(entries: list[AuditEntry]) -> list[tuple[str, int, object]]:
    return [(p.kind.value, p.position, p.record_id) for p in verify_audit_chain(entries)]


def test_entry_hash_is_canonical_json_and_exact() -> None:
    fields = {"b": 1, "a": "审计", "c": [1, 2]}
    payload = (
        b"scrm.archive.audit.v1\x00"
        + b"p" * 64
        + b'\x00{"a":"\xe5\xae\xa1\xe8\xae\xa1","b":1,"c":[1,2]}'
    )
    assert entry_hash("p" * 64, fields) == hashlib.sha256(payload).hexdigest()
    assert entry_hash("p" * 64, {"c": [1, 2], "a": "审计", "b": 1}) == entry_hash("p" * 64, fields)


def test_entry_hash_refuses_values_json_cannot_hold_exactly() -> None:
    with pytest.raises(ValueError, match="not canonical-JSON encodable"):
        entry_hash(AUDIT_GENESIS, {"results": float("nan")})
    with pytest.raises(ValueError, match="not canonical-JSON encodable"):
        entry_hash(AUDIT_GENESIS, {"at": object()})


def test_intact_log_verifies() -> None:
    entries = _log(4)
    assert entries[0].prev_hash == AUDIT_GENESIS
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    assert entries[2].prev_hash == entries[1].hash
    assert entries[1].hash == entry_hash(entries[0].hash, {**entries[1].fields, "seq": 2})
    assert verify_audit_chain(entries) == []


def test_seq_cannot_be_passed_in() -> None:
    with pytest.raises(ValueError, match="'seq' is assigned by the chain"):
        next_entry(None, {"seq": 9})


def test_altered_entry_is_named() -> None:
    entries = _log(4)
    entries[1] = replace(entries[1], fields={**entries[1].fields, "results": 0})
    problems = verify_audit_chain(entries)
    assert [(p.kind, p.position, p.record_id, p.chain) for p in problems] == [
        (K.ALTERED, 2, 2, "audit")
    ]


def test_deleted_entry_is_missing() -> None:
    entries = _log(5)
    del entries[2]
    assert _found(entries) == [("missing", 3, None)]


def test_swapped_entries_are_named() -> None:
    entries = _log(4)
    first, second = entries[1], entries[2]
    entries[1], entries[2] = replace(second, seq=2), replace(first, seq=3)
    assert _found(entries) == [("swapped", 2, 2), ("swapped", 3, 3)]


def test_inserted_entry_is_named() -> None:
    entries = _log(4)
    forged = next_entry(entries[1], {"reviewer": "ghost", "reason": "cover-up", "results": 0})
    assert forged.seq == 3
    assert _found([*entries, forged]) == [("inserted", 3, 3)]


def test_truncated_log_is_caught_by_a_signed_anchor() -> None:
    entries = _log(3)
    assert verify_audit_chain(entries[:2]) == []  # the shorter log is a valid chain
    ring = make_ring()
    checkpoint = sign_checkpoint(
        ring.signing_key, "ww1:2026-11", DAY, {"audit": audit_head(entries)}
    )
    assert audit_head(entries) == (3, bytes.fromhex(entries[2].hash))
    good = {"audit": audit_links(entries)}
    assert compare_with_checkpoint(ring.verify_key, checkpoint, good) == []
    cut = {"audit": audit_links(entries[:2])}
    problems = compare_with_checkpoint(ring.verify_key, checkpoint, cut)
    assert [(p.kind, p.position, p.chain) for p in problems] == [(K.TRUNCATED, 3, "audit")]


def test_tampered_link_value_is_reported() -> None:
    entries = _log(3)
    entries[1] = replace(entries[1], prev_hash="zz")
    assert _found(entries) == [("broken_link", 2, 2)]
