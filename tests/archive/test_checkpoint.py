from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from archive.errors import IntegrityError
from archive.integrity.checkpoint import (
    CHECKPOINT_GENESIS,
    Checkpoint,
    CheckpointLink,
    compare_with_checkpoint,
    fingerprint,
    sign_checkpoint,
    verify_checkpoint,
)
from archive.integrity.links import verify_chain, verify_links
from archive.integrity.message_chain import ChainRecord
from archive.integrity.problems import Problem, ProblemKind
from tests.archive.chains import CONV, build_chain
from tests.archive.keys import make_ring

PART = "ww1:2026-11"
DAY = date(2026, 11, 5)
OTHER = "ww1:wmABC:external2"


def _signed() -> tuple[Checkpoint, dict]:
    ring = make_ring()
    chains = {CONV: build_chain(5), OTHER: build_chain(2, OTHER)}
    heads = {conv: (rs[-1].position, rs[-1].record_hash) for conv, rs in chains.items()}
    return sign_checkpoint(ring.signing_key, PART, DAY, heads), chains


def test_payload_is_canonical_json() -> None:
    checkpoint, chains = _signed()
    head = chains[OTHER][-1].record_hash.hex()
    assert checkpoint.payload().startswith(
        b'{"day":"2026-11-05","format":"scrm-archive-checkpoint/1","heads":{'
        b'"ww1:wmABC:external1":[5,"' + chains[CONV][-1].record_hash.hex().encode() + b'"],'
        b'"ww1:wmABC:external2":[2,"' + head.encode() + b'"]},"partition":"ww1:2026-11",'
    )
    assert checkpoint.signer == fingerprint(make_ring().verify_key)
    assert len(checkpoint.signer) == 32
    assert len(checkpoint.signature) == 64


def test_valid_checkpoint_verifies_and_matches_chains() -> None:
    checkpoint, chains = _signed()
    verify_checkpoint(make_ring().verify_key, checkpoint)
    assert compare_with_checkpoint(make_ring().verify_key, checkpoint, chains) == []


def test_checkpoint_survives_storage() -> None:
    checkpoint, _ = _signed()
    loaded = Checkpoint.from_json(checkpoint.to_json())
    assert loaded == checkpoint
    verify_checkpoint(make_ring().verify_key, loaded)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c: replace(c, day=date(2026, 11, 6)),
        lambda c: replace(c, partition="ww2:2026-11"),
        lambda c: replace(c, heads={**c.heads, CONV: (4, c.heads[CONV][1])}),
        lambda c: replace(c, heads={CONV: c.heads[CONV]}),
        lambda c: replace(c, signature=bytes([c.signature[0] ^ 1]) + c.signature[1:]),
    ],
    ids=["day", "partition", "head-position", "head-dropped", "signature-bit"],
)
def test_tampered_checkpoint_is_refused(tamper) -> None:
    checkpoint, chains = _signed()
    bad = tamper(checkpoint)
    with pytest.raises(IntegrityError) as caught:
        verify_checkpoint(make_ring().verify_key, bad)
    assert str(caught.value) == (
        f"checkpoint {bad.partition} {bad.day.isoformat()}: signature does not match its content"
    )
    with pytest.raises(IntegrityError):
        compare_with_checkpoint(make_ring().verify_key, bad, chains)


def test_checkpoint_of_another_key_is_refused() -> None:
    checkpoint, _ = _signed()
    stranger = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32).public_key()
    with pytest.raises(IntegrityError, match=f"signed by key {checkpoint.signer}, not this key"):
        verify_checkpoint(stranger, checkpoint)


def test_truncated_chain_is_detected() -> None:
    checkpoint, chains = _signed()
    chains[CONV] = chains[CONV][:3]  # the two newest records deleted: the chain itself is valid
    assert compare_with_checkpoint(make_ring().verify_key, checkpoint, chains) == [
        Problem(
            ProblemKind.TRUNCATED, 5, None, CONV, "chain ends at 3, checkpoint 2026-11-05 has 5"
        )
    ]


def test_vanished_conversation_is_truncated() -> None:
    checkpoint, chains = _signed()
    del chains[OTHER]
    problems = compare_with_checkpoint(make_ring().verify_key, checkpoint, chains)
    assert [(p.kind, p.position, p.chain) for p in problems] == [(ProblemKind.TRUNCATED, 2, OTHER)]


def test_rebuilt_chain_diverges_from_checkpoint() -> None:
    checkpoint, chains = _signed()
    rebuilt = chains[CONV][:2]
    for number in (3, 4, 5):  # record 3 rewritten, the rest re-hashed: a valid chain again
        head = (rebuilt[-1].position, rebuilt[-1].record_hash)
        ciphertext = b"rewritten" if number == 3 else f"ct{number}".encode()
        rebuilt.append(ChainRecord.link(f"r{number}", f"msg{number}", ciphertext, head))
    chains[CONV] = rebuilt
    assert verify_chain(CONV, rebuilt) == []
    problems = compare_with_checkpoint(make_ring().verify_key, checkpoint, chains)
    assert [(p.kind, p.position, p.record_id) for p in problems] == [
        (ProblemKind.DIVERGED, 5, "r5")
    ]


def test_chain_grown_after_checkpoint_is_fine() -> None:
    checkpoint, chains = _signed()
    chains[CONV] = build_chain(9)
    assert compare_with_checkpoint(make_ring().verify_key, checkpoint, chains) == []


def test_chained_checkpoints_sign_their_link_and_run() -> None:
    ring = make_ring()
    heads = {CONV: (5, build_chain(5)[-1].record_hash)}
    first = sign_checkpoint(
        ring.signing_key, PART, DAY, heads, seq=1, prev=CHECKPOINT_GENESIS, run=(1, 2)
    )
    second = sign_checkpoint(
        ring.signing_key, "audit", DAY, heads, seq=2, prev=first.digest(), run=(1, 2)
    )
    assert b'"format":"scrm-archive-checkpoint/2"' in second.payload()
    assert b'"run":[1,2],"seq":2' in second.payload()
    loaded = Checkpoint.from_json(second.to_json())
    assert loaded == second and loaded.digest() == second.digest()
    verify_checkpoint(ring.verify_key, loaded)
    links = [CheckpointLink(first), CheckpointLink(second)]
    assert verify_links(CHECKPOINT_GENESIS, links, "checkpoints") == []
    assert [p.kind for p in verify_links(CHECKPOINT_GENESIS, links[1:], "c")] == ["missing"]
    for forged in (replace(second, prev=b"\0" * 32), replace(second, run=(2, 1))):
        with pytest.raises(IntegrityError, match="signature does not match"):
            verify_checkpoint(ring.verify_key, forged)
