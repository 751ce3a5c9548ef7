"""Per-conversation hash chains over archived ciphertexts, and their verification.

``record_hash = SHA-256(prev_hash || position(8, big-endian) || SHA-256(msgid) ||
SHA-256(ciphertext))``; the first record has position 1 and ``prev_hash`` is the
conversation's genesis hash (position 0). Rows store ``prev_hash`` as well as
``record_hash``, so links can be followed independently of the stored positions: that is
what lets `archive.integrity.links.verify_chain` tell an altered record from a deleted, moved
or inserted one.

The chain is unkeyed: someone with write access can rebuild a whole chain. Signed daily
checkpoints (`archive.integrity.checkpoint`) pin the heads, so rebuilt or truncated chains show too.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

_GENESIS_LABEL = b"scrm.archive.chain.genesis.v1\x00"
_MSGID_LABEL = b"scrm.archive.chain.msgid.v1\x00"


def genesis_hash(conversation: str) -> bytes:
    """Return the hash a conversation's chain starts from (so chains cannot be spliced)."""
    return hashlib.sha256(_GENESIS_LABEL + conversation.encode("utf-8")).digest()


def record_hash(prev_hash: bytes, position: int, msgid: str, ciphertext: bytes) -> bytes:
    """Hash one record onto its predecessor."""
    msgid_digest = hashlib.sha256(_MSGID_LABEL + msgid.encode("utf-8")).digest()
    body = hashlib.sha256(ciphertext).digest()
    return hashlib.sha256(prev_hash + struct.pack(">Q", position) + msgid_digest + body).digest()


@dataclass(frozen=True, slots=True)
class ChainRecord:
    """The chain-relevant columns of one archived message row."""

    record_id: str | int
    position: int
    msgid: str
    ciphertext: bytes
    prev_hash: bytes
    record_hash: bytes

    @classmethod
    def link(
        cls, record_id: str | int, msgid: str, ciphertext: bytes, head: tuple[int, bytes]
    ) -> ChainRecord:
        """Build the record that follows `head` = (position, hash) of the chain."""
        position = head[0] + 1
        return cls(
            record_id,
            position,
            msgid,
            ciphertext,
            head[1],
            record_hash(head[1], position, msgid, ciphertext),
        )

    def verifies_at(self, position: int) -> bool:
        """Tell whether content and link hash to `record_hash` at `position`."""
        return (
            record_hash(self.prev_hash, position, self.msgid, self.ciphertext) == self.record_hash
        )


def genesis_head(conversation: str) -> tuple[int, bytes]:
    """Return the head of an empty chain: position 0 and the genesis hash."""
    return 0, genesis_hash(conversation)
