"""A small LRU cache of unwrapped data keys, so a query over one month unwraps once."""

from __future__ import annotations

from collections import OrderedDict

from archive.keys.envelope import WrappedKey, unwrap_data_key
from archive.keys.ring import KeyRing


class DataKeyCache:
    """Unwrap on first use and keep at most `max_entries` plaintext data keys in memory."""

    def __init__(self, ring: KeyRing, max_entries: int = 64) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self._ring = ring
        self._max = max_entries
        self._keys: OrderedDict[tuple[str, str, bytes], bytes] = OrderedDict()

    def __repr__(self) -> str:
        return f"DataKeyCache(entries={len(self._keys)}, max_entries={self._max})"

    def get(self, wrapped: WrappedKey, partition: str) -> bytes:
        """Return the data key, unwrapping it (and checking its binding) on a miss."""
        slot = (partition, wrapped.kek_id, wrapped.blob)
        dek = self._keys.get(slot)
        if dek is None:
            dek = unwrap_data_key(self._ring, wrapped, partition)
            self._keys[slot] = dek
            if len(self._keys) > self._max:
                self._keys.popitem(last=False)
        else:
            self._keys.move_to_end(slot)
        return dek

    def clear(self) -> None:
        """Forget every cached key, e.g. after a KEK was retired."""
        self._keys.clear()
