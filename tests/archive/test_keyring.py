from __future__ import annotations

import pickle

import pytest

from archive.errors import KeyRingError, MissingKeyError
from archive.keys.ring import KeyRing, format_key_string, parse_key_string
from tests.archive.keys import INDEX_KEY, KEK1, KEK2, SIGNING_SEED, b64, key_string, make_ring

ALL_SECRETS = (KEK1, KEK2, INDEX_KEY, SIGNING_SEED)


def _leaks(text: str) -> list[str]:
    """Return every secret that shows up in `text` as raw, hex or base64."""
    forms = [(s.hex(), b64(s), repr(s)) for s in ALL_SECRETS]
    return [form for group in forms for form in group if form in text]


def test_parse_key_string_reads_every_part() -> None:
    ring = parse_key_string(key_string())
    assert ring.kek_ids == ("kek1", "kek2")
    assert ring.active_kek_id == "kek2"
    assert ring.kek("kek1") == KEK1
    assert ring.kek("kek2") == KEK2
    assert ring.index_key == INDEX_KEY


def test_key_string_round_trips() -> None:
    ring = parse_key_string(key_string())
    again = parse_key_string(format_key_string(ring))
    assert again.kek_ids == ("kek1", "kek2")
    assert again.kek("kek2") == KEK2
    assert format_key_string(again) == format_key_string(ring)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (f"kek1:{b64(KEK1)};active=kek1;index={b64(INDEX_KEY)}", "lacks signing"),
        (f"active=kek1;index={b64(INDEX_KEY)};signing={b64(SIGNING_SEED)}", "lacks id:base64"),
        (
            f"kek1:{b64(KEK1)};active=kek9;index={b64(INDEX_KEY)};signing={b64(SIGNING_SEED)}",
            "active key 'kek9' is not among the keys ['kek1']",
        ),
        (
            f"kek1:{b64(KEK1[:16])};active=kek1;index={b64(INDEX_KEY)};signing={b64(SIGNING_SEED)}",
            "key 'kek1' must be 32 bytes, got 16",
        ),
        (
            f"kek1:not*base64;active=kek1;index={b64(INDEX_KEY)};signing={b64(SIGNING_SEED)}",
            "key 'kek1' is not valid base64",
        ),
        (f"kek1:{b64(KEK1)},kek1:{b64(KEK2)};active=kek1;index=x;signing=y", "appears twice"),
        (
            f"{b64(KEK1)};active=kek1;index={b64(INDEX_KEY)};signing={b64(SIGNING_SEED)}",
            "part 1: expected 'id:base64' pairs",
        ),
        (
            f"bad id:{b64(KEK1)};active=bad id;index={b64(INDEX_KEY)};signing={b64(SIGNING_SEED)}",
            "invalid key id 'bad id'",
        ),
    ],
)
def test_bad_key_strings_are_refused_clearly(value: str, message: str) -> None:
    with pytest.raises(KeyRingError) as caught:
        parse_key_string(value)
    assert message in str(caught.value)
    assert _leaks(str(caught.value)) == []


def test_key_material_never_in_repr_or_str() -> None:
    ring = parse_key_string(key_string())
    assert repr(ring) == "KeyRing(active='kek2', kek_ids=['kek1', 'kek2'])"
    assert str(ring) == repr(ring)
    assert _leaks(repr(ring) + str(ring)) == []


def test_ring_cannot_be_pickled() -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(make_ring())


def test_require_names_the_missing_key() -> None:
    ring = make_ring()
    ring.require("kek1")
    with pytest.raises(MissingKeyError) as caught:
        ring.require("kek7")
    assert caught.value.kek_id == "kek7"
    assert str(caught.value).startswith("archive key 'kek7' is not in the key ring")


def test_rotation_adds_active_key_and_retire_removes_old() -> None:
    ring = make_ring().with_kek("kek2", KEK2)
    assert (ring.active_kek_id, ring.kek_ids) == ("kek2", ("kek1", "kek2"))
    retired = ring.retire("kek1")
    assert retired.kek_ids == ("kek2",)
    with pytest.raises(MissingKeyError):
        retired.kek("kek1")
    with pytest.raises(KeyRingError, match="cannot retire the active key 'kek2'"):
        retired.retire("kek2")


def test_signing_key_is_the_stored_seed() -> None:
    ring = make_ring()
    expected = KeyRing({"x": KEK2}, "x", INDEX_KEY, SIGNING_SEED).verify_key.public_bytes_raw()
    assert ring.verify_key.public_bytes_raw() == expected
    signature = ring.signing_key.sign(b"m")
    ring.verify_key.verify(signature, b"m")
