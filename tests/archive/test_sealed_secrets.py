"""Sealed small secrets (a robot's webhook key): round trip, bound to purpose, tamper-evident."""

from __future__ import annotations

import os

import pytest

from archive.errors import IntegrityError, MissingKeyError
from archive.keys.ring import KeyRing
from archive.keys.sealed_secrets import open_secret, seal_secret

KEY = "693a91f6-7d3b-4bc4-97a0-0ec2a1f5aaaa"


def ring(*ids: str) -> KeyRing:
    return KeyRing({i: os.urandom(32) for i in ids}, ids[-1], os.urandom(32), os.urandom(32))


def test_round_trip_and_no_plaintext() -> None:
    keys = ring("k1")
    sealed = seal_secret(keys, "robot", KEY)
    assert KEY not in sealed and sealed.startswith("v1:k1:")
    assert open_secret(keys, "robot", sealed) == KEY
    assert seal_secret(keys, "robot", KEY) != sealed  # a fresh nonce each time


@pytest.mark.parametrize("change", ["purpose", "flip", "kek", "garbage"])
def test_a_moved_or_altered_value_does_not_open(change: str) -> None:
    keys = ring("k1")
    sealed = seal_secret(keys, "robot", KEY)
    purpose = "other" if change == "purpose" else "robot"
    if change == "flip":
        sealed = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
    if change == "kek":
        sealed = sealed.replace("v1:k1:", "v1:k2:")
    if change == "garbage":
        sealed = "v1:k1:***"
    with pytest.raises((IntegrityError, MissingKeyError)):
        open_secret(keys, purpose, sealed)


def test_the_kek_itself_does_not_open_a_sealed_secret() -> None:
    """A KEK only wraps data keys: a secret is sealed under a key derived for that purpose."""
    import base64

    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    keys = ring("k1")
    blob = base64.b64decode(seal_secret(keys, "robot", KEY).split(":", 2)[2])
    with pytest.raises(InvalidTag):
        AESGCM(keys.kek("k1")).decrypt(blob[:12], blob[12:], b"scrm.sealed-secret.v1:robot\x00k1")
