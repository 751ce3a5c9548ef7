"""The archive as the service holds it: key ring, data-key cache, blind index, database."""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from archive.errors import ArchiveCryptoError, MissingKeyError
from archive.keys.blind_index import BlindIndex, hash_filter_value, index_grams, query_grams
from archive.keys.dek_cache import DataKeyCache
from archive.keys.envelope import WrappedKey
from archive.keys.key_file import load_key_file
from archive.keys.loading import check_stored_keks, load_ring
from archive.keys.ring import KeyRing
from config import Settings
from scrm.db import Database

if TYPE_CHECKING:
    from archive.pull.puller import Puller

log = logging.getLogger(__name__)
# 8-byte tokens stored as BIGINT: index lookups on integers are much faster than on bytea,
# and every candidate is decrypted and confirmed, so a rare collision only costs time.
TOKEN_BYTES = 8
GRAM_CACHE = 500_000
FILTER_KEY_CACHE = 100_000


def as_int64(digest: bytes) -> int:
    """Read the first 8 bytes of a digest as a signed 64-bit integer (a BIGINT column)."""
    return int(struct.unpack(">q", digest[:8])[0])


class _TokenCache(dict[str, int]):
    """gram → token, computed on a miss: a hit is one C-level dict lookup.

    Hashing dominated ingest CPU; grams are Zipf-distributed, so a bounded cache holds almost
    every gram a message uses. When full it is simply emptied (O(1), rare).
    """

    def __init__(self, index: BlindIndex, size: int) -> None:
        super().__init__()
        self._index = index
        self._size = size

    def __missing__(self, gram: str) -> int:
        if len(self) >= self._size:
            self.clear()
        token = self[gram] = as_int64(self._index.gram_token(gram))
        return token


class ArchiveRuntime:
    """Everything archive code needs at run time; its repr shows no key material."""

    def __init__(
        self,
        db: Database,
        ring: KeyRing,
        *,
        corp_id: str,
        retention_days: int = 0,
        key_file: Path | None = None,
        admin_token: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.corp_id = corp_id or "corp"
        self.retention_days = retention_days
        self.key_file = key_file
        self.admin_token = admin_token
        self.clock = clock
        self.puller: Puller | None = None  # set by archive.pull.puller.attach_puller
        self._file_stamp = self._stamp()
        self._use(ring)

    def __repr__(self) -> str:
        return f"ArchiveRuntime(corp_id={self.corp_id!r}, ring={self.ring!r})"

    def _use(self, ring: KeyRing) -> None:
        self.ring = ring
        self.deks = DataKeyCache(ring, max_entries=256)
        self.index = BlindIndex(ring.index_key, token_bytes=TOKEN_BYTES)
        self._tokens = _TokenCache(self.index, GRAM_CACHE)
        self._filter_keys: dict[tuple[str, str], int] = {}  # (kind, id) → hashed id

    def reload_ring(self) -> bool:
        """Re-read the key file (after `rotate-kek` added a KEK); False if not file-backed."""
        if self.key_file is None:
            return False
        stamp = self._stamp()
        self._use(load_key_file(self.key_file))
        self._file_stamp = stamp
        log.info("archive key ring reloaded: %r", self.ring)
        return True

    def current_ring(self) -> KeyRing:
        """The ring to seal new values with: re-read first when the key file was replaced.

        Sealers call this so that, once `rotate-kek` (in another process) wrote a new active
        KEK, nothing new is sealed under the old one; one ``stat`` per call. A file that does
        not load keeps the ring in use (logged once per change of the file).
        """
        if self.key_file is not None and self._stamp() != self._file_stamp:
            try:
                self.reload_ring()
            except ArchiveCryptoError as exc:
                self._file_stamp = self._stamp()
                log.error("archive key file changed but does not load, keeping the ring: %s", exc)
        return self.ring

    def _stamp(self) -> tuple[int, int, int] | None:
        """What tells a replaced key file apart (`write_key_file` renames a new file over it)."""
        if self.key_file is None:
            return None
        try:
            info = self.key_file.stat()
        except OSError:
            return None
        return (info.st_ino, info.st_mtime_ns, info.st_size)

    def data_key(self, partition: str, kek_id: str, blob: bytes) -> bytes:
        """Unwrap a partition's data key (cached); reload the ring once on an unknown KEK."""
        wrapped = WrappedKey(kek_id, blob)
        try:
            return self.deks.get(wrapped, partition)
        except MissingKeyError:
            if not self.reload_ring():
                raise
            return self.deks.get(wrapped, partition)

    def filter_key(self, kind: str, value: str) -> int:
        """The stored form of a customer, staff or room id: a keyed hash, never the id."""
        key = self._filter_keys.get((kind, value))
        if key is None:
            if len(self._filter_keys) >= FILTER_KEY_CACHE:
                self._filter_keys.clear()
            key = as_int64(hash_filter_value(self.ring.index_key, kind, value))
            self._filter_keys[(kind, value)] = key
        return key

    def text_tokens(self, text: str) -> set[int]:
        """Blind-index tokens of a message text, as stored."""
        return set(map(self._tokens.__getitem__, index_grams(text)))

    def query_tokens(self, keyword: str) -> set[int]:
        """Tokens every message containing `keyword` has (ValueError if it normalises empty)."""
        return set(map(self._tokens.__getitem__, query_grams(keyword)))

    async def close(self) -> None:
        """Stop the finance SDK worker and forget unwrapped data keys."""
        if self.puller is not None:
            close = getattr(self.puller.client, "close", None)
            if close is not None:
                await close()
        self.deks.clear()


async def open_archive(settings: Settings, db: Database) -> ArchiveRuntime:
    """Load the ring, refuse to start if a stored data key's KEK is missing, build the runtime."""
    ring, key_file = load_ring(settings)
    await check_stored_keks(db, ring)
    return ArchiveRuntime(
        db,
        ring,
        corp_id=settings.wecom.corp_id,
        retention_days=settings.archive.retention_days,
        key_file=key_file,
        admin_token=settings.admin_token.value,
    )
