"""The inbox seal: chat content waits for its handlers encrypted, under a key from the ring.

Every source of a content-carrying event (``chat.message`` from the API, the session-archive
pull, ``archive import``, simulate; ``message.*`` callbacks) reaches the inbox, which seals the
payload before its commit; the worker unseals it for the handler that loads it. The key never
leaves ``archive/``: the inbox and the worker only hold this object, injected at start.

Format: ``payload["_sealed"] = "1:<kek id>:<base64(nonce(12) || ciphertext || tag(16))>"``,
AES-256-GCM over the whole payload as JSON, next to the payload's routing metadata in clear
(`scrm.events.content.METADATA_KEYS`: who, when, which conversation — never what was said).

The key is derived per KEK with HKDF-SHA256 (its own label, so it is never the KEK itself nor
a data key), computed once per KEK and cached: sealing costs one AES-GCM pass, no unwrap and no
round trip. The KEK id travels with the ciphertext, so after ``rotate-kek`` new content is
sealed under the new KEK and content sealed before still opens while the old KEK is in the
ring; ``rotate-kek`` also re-seals the content still waiting (`inbox_walk`), so the old KEK
can be retired at once. The AAD binds the KEK id and the event's dedupe key: a sealed payload
copied onto another event does not open.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import struct
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from archive.errors import IntegrityError, MissingKeyError
from archive.keys.derived import DerivedCiphers, derive_key
from archive.keys.ring import KeyRing, show_id
from archive.keys.sealed_columns import RowWalk, like_literal
from archive.runtime import ArchiveRuntime
from scrm.db import Database
from scrm.events.content import SEALED_MARK, SealError, metadata_of

VERSION: Final = "1"
NONCE_BYTES: Final = 12
_LABEL: Final = b"scrm.inbox.seal.v1"


def derive_seal_key(kek: bytes) -> bytes:
    """The inbox key of one KEK: HKDF-SHA256 with the seal's own label."""
    return derive_key(kek, _LABEL)


def _aad(kek_id: str, bind: str) -> bytes:
    fields = (kek_id.encode("utf-8"), bind.encode("utf-8"))
    return _LABEL + b"".join(struct.pack(">I", len(field)) + field for field in fields)


class InboxSeal:
    """Seals and unseals inbox payloads with keys derived from the runtime's key ring."""

    def __init__(self, runtime: ArchiveRuntime) -> None:
        self._runtime = runtime
        self._cipher = DerivedCiphers(runtime, _LABEL)  # KEK id → its derived key

    def __repr__(self) -> str:
        return f"InboxSeal({self._cipher!r})"

    def seal(self, payload: dict[str, Any], *, bind: str) -> dict[str, Any]:
        """Metadata in clear, the whole payload encrypted and bound to `bind` (the dedupe key)."""
        kek_id = self._runtime.current_ring().active_kek_id
        plaintext = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        nonce = os.urandom(NONCE_BYTES)
        blob = nonce + self._cipher(kek_id).encrypt(nonce, plaintext, _aad(kek_id, bind))
        sealed = metadata_of(payload)
        sealed[SEALED_MARK] = f"{VERSION}:{kek_id}:{base64.b64encode(blob).decode('ascii')}"
        return sealed

    def unseal(self, payload: dict[str, Any], *, bind: str) -> dict[str, Any]:
        """The payload as sealed; `SealError` when its KEK is gone or it was altered or moved."""
        mark = payload.get(SEALED_MARK)
        version, _, rest = mark.partition(":") if isinstance(mark, str) else ("", "", "")
        kek_id, _, encoded = rest.partition(":")
        if version != VERSION or not kek_id or not encoded:
            raise SealError("sealed content is malformed or of an unknown version")
        try:
            blob = base64.b64decode(encoded, validate=True)
            cipher = self._cipher(kek_id)
            plaintext = cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(kek_id, bind))
        except MissingKeyError:
            needed = show_id(kek_id)
            raise SealError(f"sealed content needs archive key {needed}, not in the ring") from None
        except (binascii.Error, InvalidTag, ValueError):
            raise SealError("sealed content does not open (altered, moved or wrong key)") from None
        opened = json.loads(plaintext)
        if not isinstance(opened, dict):
            raise SealError("sealed content is not an object")
        return opened


async def count_sealed_under(db: Database, kek_id: str) -> int:
    """How many inbox payloads still wait sealed under `kek_id` (checked before retiring it)."""
    mark = db.placeholders(1)[0]
    rows = await db.fetch(
        f"SELECT COUNT(*) AS n FROM events WHERE payload LIKE {mark} ESCAPE '\\'", [_needle(kek_id)]
    )
    return int(rows[0]["n"])


def _needle(kek_id: str = "") -> str:
    """LIKE pattern of a payload sealed under ``kek_id`` (any KEK when empty)."""
    under = f"{kek_id}:" if kek_id else ""
    return "%" + like_literal(f'"{SEALED_MARK}":"{VERSION}:{under}') + "%"


def inbox_walk(ring: KeyRing, target: str) -> RowWalk:
    """How ``rotate-kek`` moves inbox content still waiting for handlers to ``target``.

    Only the sealed string inside the payload text is replaced (base64 and ids, nothing JSON
    escapes), so the clear metadata stays byte for byte; a worker that strips the payload
    meanwhile wins (the update is compare-and-set on the whole text).
    """
    ciphers: dict[str, AESGCM] = {}

    def cipher(kek_id: str) -> AESGCM:
        if kek_id not in ciphers:
            ciphers[kek_id] = AESGCM(derive_seal_key(ring.kek(kek_id)))
        return ciphers[kek_id]

    def reseal(text: str, bind: str) -> str:
        try:
            payload = json.loads(text)
        except ValueError:
            raise IntegrityError("inbox payload is not JSON") from None
        mark = payload.get(SEALED_MARK) if isinstance(payload, dict) else None
        if not isinstance(mark, str) or mark not in text:  # (base64 and ids: nothing to escape)
            raise IntegrityError("sealed content is malformed")
        version, _, rest = mark.partition(":")
        kek_id, _, encoded = rest.partition(":")
        if version != VERSION or not kek_id or not encoded:
            raise IntegrityError("sealed content is malformed or of an unknown version")
        try:
            blob = base64.b64decode(encoded, validate=True)
            plain = cipher(kek_id).decrypt(
                blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(kek_id, bind)
            )
        except (binascii.Error, InvalidTag, ValueError):
            raise IntegrityError("sealed content does not open") from None
        nonce = os.urandom(NONCE_BYTES)
        blob = nonce + cipher(target).encrypt(nonce, plain, _aad(target, bind))
        return text.replace(mark, f"{VERSION}:{target}:{base64.b64encode(blob).decode('ascii')}", 1)

    return RowWalk(
        "events.payload", "events", "payload", _needle(), _needle(target), reseal,
        bind_column="dedupe_key",
    )  # fmt: skip
