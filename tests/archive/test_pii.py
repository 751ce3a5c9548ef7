"""archive.keys.pii: personal fields sealed under a ring-derived key, found by a keyed hash."""

from __future__ import annotations

from typing import Any

import pytest

from archive.errors import IntegrityError
from archive.keys.pii import FieldSeal
from archive.runtime import ArchiveRuntime
from tests.archive.keys import make_ring


def seal_with(active: str = "kek1") -> FieldSeal:
    db: Any = None  # the seal never touches the database
    return FieldSeal(ArchiveRuntime(db, make_ring(active), corp_id="corp"))


def test_seal_round_trip_hides_the_value() -> None:
    seal = seal_with()
    sealed = seal.seal("13812345678", field="phone")
    assert sealed.startswith("1:kek1:")
    assert "13812345678" not in sealed
    assert seal.seal("13812345678", field="phone") != sealed  # a fresh nonce each time
    assert seal.unseal(sealed, field="phone") == "13812345678"


def test_a_value_moved_to_another_field_or_altered_does_not_open() -> None:
    seal = seal_with()
    sealed = seal.seal("13812345678", field="phone")
    with pytest.raises(IntegrityError):
        seal.unseal(sealed, field="name")
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(IntegrityError):
        seal.unseal(tampered, field="phone")
    with pytest.raises(IntegrityError):
        seal.unseal("13812345678", field="phone")


def test_values_sealed_before_a_kek_rotation_still_open() -> None:
    old = seal_with("kek1").seal("13812345678", field="phone")
    rotated = seal_with("kek2")
    assert rotated.seal("x", field="phone").startswith("1:kek2:")
    assert rotated.unseal(old, field="phone") == "13812345678"


def test_lookup_hash_is_keyed_stable_across_rotation_and_per_field() -> None:
    one, two = seal_with("kek1"), seal_with("kek2")
    digest = one.lookup_hash("phone", "13812345678")
    assert len(digest) == 64
    assert digest == two.lookup_hash("phone", "13812345678")  # the index key does not rotate
    assert digest != one.lookup_hash("phone", "13812345679")
    assert digest != one.lookup_hash("name", "13812345678")
    import hashlib

    assert digest != hashlib.sha256(b"13812345678").hexdigest()  # not a bare hash
