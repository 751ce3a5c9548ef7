from __future__ import annotations

from datetime import date

import pytest

from archive.errors import IntegrityError, MissingKeyError
from archive.keys.dek_cache import DataKeyCache
from archive.keys.envelope import (
    WrappedKey,
    decrypt_message,
    encrypt_message,
    partition_id,
    rewrap,
    unwrap_data_key,
    wrap_data_key,
)
from tests.archive.keys import KEK2, make_ring

DEK = b"\x33" * 32
PART = "ww1:2026-11"
MESSAGE = '{"msgtype":"text","text":{"content":"退货 please"}}'.encode()


def _encrypt(**overrides: object) -> bytes:
    fields: dict = {"msgid": "m1", "partition": PART, "position": 7} | overrides
    return encrypt_message(DEK, MESSAGE, **fields)


def test_partition_id() -> None:
    assert partition_id("ww1", date(2026, 11, 30)) == "ww1:2026-11"
    with pytest.raises(ValueError, match="no ':'"):
        partition_id("a:b", date(2026, 1, 1))


def test_message_round_trip_and_format() -> None:
    blob = _encrypt()
    assert blob[0] == 1
    assert len(blob) == 1 + 12 + len(MESSAGE) + 16
    assert MESSAGE not in blob
    assert decrypt_message(DEK, blob, msgid="m1", partition=PART, position=7) == MESSAGE


def test_each_encryption_uses_a_fresh_nonce() -> None:
    assert _encrypt()[1:13] != _encrypt()[1:13]


@pytest.mark.parametrize(
    "moved",
    [
        {"msgid": "m2", "partition": PART, "position": 7},
        {"msgid": "m1", "partition": "ww1:2026-12", "position": 7},
        {"msgid": "m1", "partition": "ww2:2026-11", "position": 7},
        {"msgid": "m1", "partition": PART, "position": 8},
    ],
)
def test_ciphertext_moved_to_another_row_fails(moved: dict) -> None:
    with pytest.raises(IntegrityError, match="authentication failed"):
        decrypt_message(DEK, _encrypt(), **moved)


@pytest.mark.parametrize("index", [0, 1, 12, 13, 20, -1])
def test_any_flipped_bit_fails(index: int) -> None:
    blob = bytearray(_encrypt())
    blob[index] ^= 0x01
    with pytest.raises(IntegrityError):
        decrypt_message(DEK, bytes(blob), msgid="m1", partition=PART, position=7)


def test_truncated_blob_and_wrong_key_fail() -> None:
    with pytest.raises(IntegrityError, match="malformed"):
        decrypt_message(DEK, _encrypt()[:28], msgid="m1", partition=PART, position=7)
    with pytest.raises(IntegrityError, match="authentication failed"):
        decrypt_message(b"\x44" * 32, _encrypt(), msgid="m1", partition=PART, position=7)


def test_wrap_unwrap_round_trip() -> None:
    ring = make_ring()
    wrapped = wrap_data_key(ring, DEK, PART)
    assert wrapped.kek_id == "kek1"
    assert len(wrapped.blob) == 1 + 12 + 32 + 16
    assert DEK not in wrapped.blob
    assert unwrap_data_key(ring, wrapped, PART) == DEK


def test_unwrap_under_another_partition_fails() -> None:
    ring = make_ring()
    wrapped = wrap_data_key(ring, DEK, PART)
    with pytest.raises(IntegrityError) as caught:
        unwrap_data_key(ring, wrapped, "ww1:2026-12")
    assert str(caught.value) == (
        "data key of partition 'ww1:2026-12' (KEK 'kek1'): "
        "authentication failed (tampered, moved or wrong key)"
    )


def test_relabelled_kek_id_fails() -> None:
    ring = make_ring("kek2")
    wrapped = wrap_data_key(ring, DEK, PART, "kek1")
    with pytest.raises(IntegrityError):
        unwrap_data_key(ring, WrappedKey("kek2", wrapped.blob), PART)


def test_rotation_rewrap_then_retire() -> None:
    old_ring = make_ring()
    old = wrap_data_key(old_ring, DEK, PART)
    ring = old_ring.with_kek("kek2", KEK2)
    untouched = wrap_data_key(ring, b"\x55" * 32, "ww1:2026-10", "kek1")
    new = rewrap(ring, old, PART, "kek2")
    assert new.kek_id == "kek2"
    assert unwrap_data_key(ring, new, PART) == DEK
    assert unwrap_data_key(ring, old, PART) == DEK  # old KEK still unwraps until retired
    retired = ring.retire("kek1")
    assert unwrap_data_key(retired, new, PART) == DEK
    with pytest.raises(MissingKeyError) as caught:
        unwrap_data_key(retired, untouched, "ww1:2026-10")
    assert caught.value.kek_id == "kek1"


def test_data_key_cache_unwraps_once_and_evicts() -> None:
    ring = make_ring()
    cache = DataKeyCache(ring, max_entries=1)
    first = wrap_data_key(ring, DEK, PART)
    assert cache.get(first, PART) == DEK
    assert cache.get(first, PART) == DEK
    assert repr(cache) == "DataKeyCache(entries=1, max_entries=1)"
    with pytest.raises(IntegrityError):
        cache.get(first, "ww1:2026-12")
    second = wrap_data_key(ring, b"\x66" * 32, "ww1:2026-12")
    assert cache.get(second, "ww1:2026-12") == b"\x66" * 32
    assert repr(cache) == "DataKeyCache(entries=1, max_entries=1)"
    assert DEK.hex() not in repr(cache)
