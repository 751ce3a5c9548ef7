from __future__ import annotations

import hashlib
import struct
from dataclasses import replace

from archive.integrity.links import verify_chain
from archive.integrity.message_chain import ChainRecord, genesis_hash, record_hash
from archive.integrity.problems import Problem, ProblemKind
from tests.archive.chains import CONV, build_chain

K = ProblemKind


def _found(records: list[ChainRecord]) -> list[tuple[str, int, str | int | None]]:
    return [(p.kind.value, p.position, p.record_id) for p in verify_chain(CONV, records)]


def test_record_hash_is_the_documented_formula() -> None:
    prev = b"\x00" * 32
    expected = hashlib.sha256(
        prev
        + struct.pack(">Q", 3)
        + hashlib.sha256(b"scrm.archive.chain.msgid.v1\x00m").digest()
        + hashlib.sha256(b"ct").digest()
    ).digest()
    assert record_hash(prev, 3, "m", b"ct") == expected
    assert genesis_hash("a") == hashlib.sha256(b"scrm.archive.chain.genesis.v1\x00a").digest()
    assert genesis_hash("a") != genesis_hash("b")


def test_intact_chain_has_no_problems() -> None:
    records = build_chain(5)
    assert [r.position for r in records] == [1, 2, 3, 4, 5]
    assert records[0].prev_hash == genesis_hash(CONV)
    assert records[3].prev_hash == records[2].record_hash
    assert verify_chain(CONV, records) == []
    assert verify_chain(CONV, list(reversed(records))) == []  # storage order does not matter
    assert verify_chain(CONV, []) == []


def test_chain_of_another_conversation_does_not_verify() -> None:
    problems = verify_chain(CONV, build_chain(2, "other"))
    assert [(p.kind, p.position, p.record_id) for p in problems] == [(K.BROKEN_LINK, 1, "r1")]


def test_altered_ciphertext_is_named() -> None:
    records = build_chain(5)
    records[2] = replace(records[2], ciphertext=b"ct3-edited")
    assert verify_chain(CONV, records) == [
        Problem(K.ALTERED, 3, "r3", CONV, "content does not match")
    ]


def test_altered_msgid_is_named() -> None:
    records = build_chain(3)
    records[0] = replace(records[0], msgid="msg-forged")
    assert _found(records) == [("altered", 1, "r1")]


def test_deleted_record_is_missing() -> None:
    records = build_chain(5)
    del records[2]
    assert verify_chain(CONV, records) == [Problem(K.MISSING, 3, None, CONV, "no record")]


def test_two_deleted_records() -> None:
    records = build_chain(6)
    del records[4]
    del records[1]
    assert _found(records) == [("missing", 2, None), ("missing", 5, None)]


def test_deleted_record_with_later_positions_renumbered() -> None:
    records = build_chain(5)
    del records[2]
    records[2:] = [replace(r, position=r.position - 1) for r in records[2:]]
    assert _found(records) == [("missing", 3, None), ("reordered", 3, "r4"), ("reordered", 4, "r5")]


def test_swapped_records_are_named() -> None:
    records = build_chain(5)
    records[1], records[3] = replace(records[1], position=4), replace(records[3], position=2)
    assert verify_chain(CONV, records) == [
        Problem(K.SWAPPED, 2, "r4", CONV, "stored at 2, chained at 4"),
        Problem(K.SWAPPED, 4, "r2", CONV, "stored at 4, chained at 2"),
    ]


def test_rotated_records_are_reordered() -> None:
    records = build_chain(4)
    records[0:3] = [
        replace(records[0], position=2),
        replace(records[1], position=3),
        replace(records[2], position=1),
    ]
    assert _found(records) == [
        ("reordered", 1, "r3"),
        ("reordered", 2, "r1"),
        ("reordered", 3, "r2"),
    ]


def test_inserted_record_sharing_a_position_is_named() -> None:
    records = build_chain(5)
    forged = ChainRecord.link("x1", "forged", b"forged", (2, records[1].record_hash))
    assert forged.position == 3
    assert _found([*records, forged]) == [("inserted", 3, "x1")]


def test_inserted_record_with_later_positions_shifted() -> None:
    records = build_chain(4)
    forged = ChainRecord.link("x1", "forged", b"forged", (2, records[1].record_hash))
    shifted = [replace(r, position=r.position + 1) for r in records[2:]]
    assert _found([*records[:2], forged, *shifted]) == [
        ("inserted", 3, "x1"),
        ("reordered", 4, "r3"),
        ("reordered", 5, "r4"),
    ]


def test_inserted_record_with_a_made_up_link() -> None:
    records = build_chain(3)
    forged = ChainRecord.link("x1", "forged", b"forged", (1, b"\x99" * 32))
    assert _found([*records, forged]) == [("inserted", 2, "x1")]


def test_duplicated_row_is_inserted() -> None:
    records = build_chain(3)
    copy = replace(records[1], record_id="r2-copy")
    assert _found([*records, copy]) == [("inserted", 2, "r2-copy")]


def test_altered_and_deleted_together() -> None:
    records = build_chain(6)
    records[4] = replace(records[4], ciphertext=b"edited")
    del records[1]
    assert _found(records) == [("missing", 2, None), ("altered", 5, "r5")]


def test_replaced_record_breaks_the_next_link() -> None:
    records = build_chain(4)
    forged = ChainRecord.link("x3", "forged", b"forged", (2, records[1].record_hash))
    problems = verify_chain(CONV, [*records[:2], forged, records[3]])
    assert [(p.kind, p.position, p.record_id, p.detail) for p in problems] == [
        (K.BROKEN_LINK, 4, "r4", "its predecessor at 3 is not record x3")
    ]
