"""Deterministic test keys: fixed bytes so tests can assert exact values."""

from __future__ import annotations

from base64 import b64encode

from archive.keys.ring import KeyRing

KEK1 = bytes(range(32))
KEK2 = bytes(range(32, 64))
INDEX_KEY = b"\x11" * 32
SIGNING_SEED = b"\x22" * 32


def b64(material: bytes) -> str:
    return b64encode(material).decode("ascii")


def make_ring(active: str = "kek1") -> KeyRing:
    keks = {"kek1": KEK1, "kek2": KEK2} if active == "kek2" else {"kek1": KEK1}
    return KeyRing(keks, active, INDEX_KEY, SIGNING_SEED)


def key_string() -> str:
    return (
        f"kek1:{b64(KEK1)}, kek2:{b64(KEK2)};active=kek2;"
        f"index={b64(INDEX_KEY)};signing={b64(SIGNING_SEED)}"
    )
