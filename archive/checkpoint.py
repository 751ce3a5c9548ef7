"""Signed daily checkpoints: the chain heads of one partition, signed with Ed25519.

The signature covers the canonical JSON of ``{"format", "partition", "day", "signer",
"heads": {conversation: [position, hex hash]}}``. ``signer`` is the first 16 bytes of
SHA-256 of the raw public key, in hex, so checkpoints survive a signing-key rotation: keep
old public keys and pick one by fingerprint. A chain that ends before its checkpointed
head (truncated) or holds another record there (rebuilt) is reported by
`compare_with_checkpoint`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from archive.canonical import canonical_json
from archive.chain_verify import Linked
from archive.errors import IntegrityError
from archive.problems import Problem, ProblemKind

FORMAT = "scrm-archive-checkpoint/1"
Heads = Mapping[str, tuple[int, bytes]]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The signed heads of every conversation chain of one partition at the end of a day."""

    partition: str
    day: date
    heads: Heads
    signer: str
    signature: bytes

    def payload(self) -> bytes:
        """Return the exact bytes that are signed."""
        heads = {conv: [pos, digest.hex()] for conv, (pos, digest) in self.heads.items()}
        document = {
            "format": FORMAT,
            "partition": self.partition,
            "day": self.day.isoformat(),
            "signer": self.signer,
            "heads": heads,
        }
        return canonical_json(document)

    def to_json(self) -> str:
        """Serialise for storage: the signed payload plus the signature."""
        return json.dumps(
            {"payload": self.payload().decode("utf-8"), "signature": self.signature.hex()},
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        """Parse what `to_json` stored; the signature is checked by `verify_checkpoint`."""
        outer = json.loads(text)
        document = json.loads(outer["payload"])
        if document.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} document")
        heads = {
            conv: (int(pos), bytes.fromhex(digest))
            for conv, (pos, digest) in document["heads"].items()
        }
        return cls(
            document["partition"],
            date.fromisoformat(document["day"]),
            heads,
            document["signer"],
            bytes.fromhex(outer["signature"]),
        )


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """Name a signing key by the first 16 bytes of SHA-256 of its raw public key."""
    return hashlib.sha256(public_key.public_bytes_raw()).hexdigest()[:32]


def sign_checkpoint(
    signing_key: Ed25519PrivateKey, partition: str, day: date, chain_heads: Heads
) -> Checkpoint:
    """Sign the heads (position, hash) of every conversation chain of `partition` on `day`."""
    unsigned = Checkpoint(
        partition, day, dict(chain_heads), fingerprint(signing_key.public_key()), b""
    )
    signature = signing_key.sign(unsigned.payload())
    return Checkpoint(partition, day, unsigned.heads, unsigned.signer, signature)


def verify_checkpoint(public_key: Ed25519PublicKey, checkpoint: Checkpoint) -> None:
    """Raise `IntegrityError` unless `public_key` signed exactly this checkpoint."""
    where = f"checkpoint {checkpoint.partition} {checkpoint.day.isoformat()}"
    if checkpoint.signer != fingerprint(public_key):
        raise IntegrityError(f"{where}: signed by key {checkpoint.signer}, not this key")
    try:
        public_key.verify(checkpoint.signature, checkpoint.payload())
    except InvalidSignature:
        raise IntegrityError(f"{where}: signature does not match its content") from None


def compare_with_checkpoint(
    public_key: Ed25519PublicKey,
    checkpoint: Checkpoint,
    chains: Mapping[str, Sequence[Linked]],
) -> list[Problem]:
    """Check the signature, then report chains that are behind or differ at a signed head."""
    verify_checkpoint(public_key, checkpoint)
    problems: list[Problem] = []
    for conversation, (position, digest) in sorted(checkpoint.heads.items()):
        records = chains.get(conversation, ())
        if position == 0:
            continue  # an empty chain at checkpoint time: nothing to lose yet
        last = max((record.position for record in records), default=0)
        at_head = [record for record in records if record.position == position]
        if last < position:
            detail = f"chain ends at {last}, checkpoint {checkpoint.day.isoformat()} has {position}"
            problems.append(Problem(ProblemKind.TRUNCATED, position, None, conversation, detail))
        elif not any(record.record_hash == digest for record in at_head):
            rid = at_head[0].record_id if at_head else None
            detail = f"hash at position {position} differs from checkpoint"
            problems.append(Problem(ProblemKind.DIVERGED, position, rid, conversation, detail))
    return problems
