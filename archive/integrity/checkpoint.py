"""Signed daily checkpoints: the chain heads of one partition, signed with Ed25519.

The signature covers the canonical JSON of ``{"format", "partition", "day", "signer",
"heads": {conversation: [position, hex hash]}, "seq", "prev", "run": [first, size]}``.
``signer`` is the first 16 bytes of SHA-256 of the raw public key, in hex, so checkpoints
survive a signing-key rotation: keep old public keys and pick one by fingerprint. A chain
that ends before its checkpointed head (truncated) or holds another record there (rebuilt)
is reported by `compare_with_checkpoint`.

Checkpoints are themselves a hash chain (format 2): ``seq`` numbers every checkpoint ever
signed, ``prev`` is the `Checkpoint.digest` of checkpoint ``seq - 1`` (`CHECKPOINT_GENESIS`
for the first), and ``run`` names the first seq and the size of the signing run it belongs
to, so deleting any checkpoint — even the newest ones of a run — is detected. Only deleting
whole newest runs is not; `archive verify` prints the newest checkpoint so that it can be
kept outside the database. Format 1 checkpoints (no chain) still verify on their own.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from archive.errors import IntegrityError
from archive.integrity.canonical import canonical_json
from archive.integrity.links import Linked
from archive.integrity.problems import Problem, ProblemKind

FORMAT_V1 = "scrm-archive-checkpoint/1"
FORMAT = "scrm-archive-checkpoint/2"
CHECKPOINT_GENESIS = hashlib.sha256(b"scrm.archive.checkpoint.genesis.v2").digest()
_DIGEST_LABEL = b"scrm.archive.checkpoint.v2\x00"
Heads = Mapping[str, tuple[int, bytes]]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The signed heads of every conversation chain of one partition at the end of a day."""

    partition: str
    day: date
    heads: Heads
    signer: str
    signature: bytes
    seq: int = 0  # 0: a format 1 checkpoint, outside the checkpoint chain
    prev: bytes = b""
    run: tuple[int, int] = (0, 0)  # (first seq, number of checkpoints) of its signing run

    def payload(self) -> bytes:
        """Return the exact bytes that are signed."""
        heads = {conv: [pos, digest.hex()] for conv, (pos, digest) in self.heads.items()}
        document: dict[str, object] = {
            "format": FORMAT if self.seq else FORMAT_V1,
            "partition": self.partition,
            "day": self.day.isoformat(),
            "signer": self.signer,
            "heads": heads,
        }
        if self.seq:
            document |= {"seq": self.seq, "prev": self.prev.hex(), "run": list(self.run)}
        return canonical_json(document)

    def digest(self) -> bytes:
        """The hash the next checkpoint's ``prev`` links to."""
        return hashlib.sha256(_DIGEST_LABEL + self.payload()).digest()

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
        if document.get("format") not in (FORMAT, FORMAT_V1):
            raise ValueError(f"not a {FORMAT} document")
        heads = {
            conv: (int(pos), bytes.fromhex(digest))
            for conv, (pos, digest) in document["heads"].items()
        }
        chained = document["format"] == FORMAT
        first, size = document["run"] if chained else (0, 0)
        return cls(
            document["partition"],
            date.fromisoformat(document["day"]),
            heads,
            document["signer"],
            bytes.fromhex(outer["signature"]),
            int(document["seq"]) if chained else 0,
            bytes.fromhex(document["prev"]) if chained else b"",
            (int(first), int(size)),
        )


def read_checkpoint(body: str) -> Checkpoint | None:
    """The checkpoint a stored body holds; None when the body is unreadable (tampered)."""
    try:
        return Checkpoint.from_json(body)
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        return None


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """Name a signing key by the first 16 bytes of SHA-256 of its raw public key."""
    return hashlib.sha256(public_key.public_bytes_raw()).hexdigest()[:32]


def sign_checkpoint(
    signing_key: Ed25519PrivateKey,
    partition: str,
    day: date,
    chain_heads: Heads,
    *,
    seq: int = 0,
    prev: bytes = b"",
    run: tuple[int, int] = (0, 0),
) -> Checkpoint:
    """Sign the heads (position, hash) of every conversation chain of `partition` on `day`.

    With `seq` (from 1) the checkpoint is chained: `prev` is the digest of checkpoint
    ``seq - 1`` and `run` is (first seq, size) of the signing run.
    """
    signer = fingerprint(signing_key.public_key())
    unsigned = Checkpoint(partition, day, dict(chain_heads), signer, b"", seq, prev, run)
    return dataclasses.replace(unsigned, signature=signing_key.sign(unsigned.payload()))


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
        problem = signed_head_problem(
            conversation, position, digest, checkpoint.day, chains.get(conversation, ())
        )
        if problem is not None:
            problems.append(problem)
    return problems


def signed_head_problem(
    chain: str, position: int, digest: bytes, day: date, records: Sequence[Linked]
) -> Problem | None:
    """A chain that ends before the head a checkpoint of ``day`` signed, or differs there."""
    if position == 0:
        return None  # an empty chain at checkpoint time: nothing to lose yet
    last = max((record.position for record in records), default=0)
    at_head = [record for record in records if record.position == position]
    if last < position:
        detail = f"chain ends at {last}, checkpoint {day.isoformat()} has {position}"
        return Problem(ProblemKind.TRUNCATED, position, None, chain, detail)
    if not any(record.record_hash == digest for record in at_head):
        rid = at_head[0].record_id if at_head else None
        detail = f"hash at position {position} differs from checkpoint"
        return Problem(ProblemKind.DIVERGED, position, rid, chain, detail)
    return None


class CheckpointLink:
    """The `links.Linked` view of a chained checkpoint: seq is its id and position."""

    __slots__ = ("checkpoint", "record_hash")

    def __init__(self, checkpoint: Checkpoint) -> None:
        self.checkpoint = checkpoint
        self.record_hash = checkpoint.digest()

    @property
    def record_id(self) -> int:
        return self.checkpoint.seq

    @property
    def position(self) -> int:
        return self.checkpoint.seq

    @property
    def prev_hash(self) -> bytes:
        return self.checkpoint.prev

    def verifies_at(self, position: int) -> bool:
        return position == self.checkpoint.seq
