"""The archive key ring: KEKs that wrap data keys, the blind-index key and the checkpoint key.

Key-string format (``SCRM_ARCHIVE_KEYS``), parts separated by ``;``, in any order::

    kek1:<base64>,kek2:<base64>;active=kek2;index=<base64>;signing=<base64>

* the part without ``=`` prefix lists the KEKs as ``id:base64`` pairs separated by ``,``;
  ids match ``[A-Za-z0-9][A-Za-z0-9_.-]{0,31}``; every key is 32 bytes in standard base64;
* ``active=<id>`` names the KEK that wraps new data keys; the others only unwrap;
* ``index=`` is the HMAC key of the blind index and hashed filter columns;
* ``signing=`` is the 32-byte Ed25519 private key (seed) that signs chain checkpoints.

The key file (JSON, mode 0600) holds the same: ``{"format": "scrm-archive-keys/1",
"active": id, "keks": {id: base64}, "index": base64, "signing": base64}``.

The index and signing keys are *stored*, not derived from a KEK: KEKs rotate, while a
changed index key orphans every stored index token and a changed signing key needs the old
public key kept to verify old checkpoints. Retiring a KEK means removing it from the ring,
after every data key wrapped under it was rewrapped (``envelope.rewrap``).
"""

from __future__ import annotations

import binascii
import re
from base64 import b64decode, b64encode
from collections.abc import Mapping
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from archive.errors import KeyRingError, MissingKeyError

KEY_BYTES: Final = 32
ENV_VAR: Final = "SCRM_ARCHIVE_KEYS"
FORMAT_HINT: Final = "kek1:<base64>,kek2:<base64>;active=kek2;index=<base64>;signing=<base64>"
_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")


def show_id(kek_id: str) -> str:
    """Quote a key id for an error, unless it is too long to be one (a misplaced key?)."""
    return repr(kek_id) if len(kek_id) <= 32 else f"<{len(kek_id)} characters, not shown>"


def decode_key(value: str, what: str) -> bytes:
    """Decode one base64 key; the error names the key, never its value."""
    try:
        material = b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyRingError(f"{what} is not valid base64") from None
    if len(material) != KEY_BYTES:
        raise KeyRingError(f"{what} must be {KEY_BYTES} bytes, got {len(material)}")
    return material


def encode_key(material: bytes) -> str:
    """Encode key bytes for the key string or key file."""
    return b64encode(material).decode("ascii")


class KeyRing:
    """Holds the archive's keys; its repr names key ids only, never material."""

    __slots__ = ("_active", "_index", "_keks", "_signing")

    def __init__(
        self, keks: Mapping[str, bytes], active: str, index_key: bytes, signing_seed: bytes
    ) -> None:
        for kek_id, material in keks.items():
            if not _ID_RE.fullmatch(kek_id):
                raise KeyRingError(f"invalid key id {show_id(kek_id)}: use letters, digits, _ . -")
            if len(material) != KEY_BYTES:
                raise KeyRingError(f"key {kek_id!r} must be {KEY_BYTES} bytes")
        if active not in keks:
            raise KeyRingError(f"active key {active!r} is not among the keys {sorted(keks)}")
        for name, material in (("index key", index_key), ("signing key", signing_seed)):
            if len(material) != KEY_BYTES:
                raise KeyRingError(f"{name} must be {KEY_BYTES} bytes")
        self._keks = dict(keks)
        self._active = active
        self._index = bytes(index_key)
        self._signing = Ed25519PrivateKey.from_private_bytes(signing_seed)

    def __repr__(self) -> str:
        return f"KeyRing(active={self._active!r}, kek_ids={sorted(self._keks)!r})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("KeyRing cannot be pickled: key material stays in this process")

    @property
    def active_kek_id(self) -> str:
        """The KEK that wraps new data keys."""
        return self._active

    @property
    def kek_ids(self) -> tuple[str, ...]:
        """Every KEK id the ring can unwrap with, sorted."""
        return tuple(sorted(self._keks))

    def require(self, kek_id: str) -> None:
        """Fail with `MissingKeyError` when `kek_id` is not in the ring (a start-up check)."""
        if kek_id not in self._keks:
            raise MissingKeyError(kek_id)

    def kek(self, kek_id: str) -> bytes:
        """Return one KEK's material, for `archive.keys.envelope` only."""
        self.require(kek_id)
        return self._keks[kek_id]

    @property
    def index_key(self) -> bytes:
        """The HMAC key of the blind index and the hashed filter columns."""
        return self._index

    @property
    def signing_key(self) -> Ed25519PrivateKey:
        """The Ed25519 key that signs chain checkpoints."""
        return self._signing

    @property
    def verify_key(self) -> Ed25519PublicKey:
        """The public half of `signing_key`, to verify checkpoints."""
        return self._signing.public_key()

    def with_kek(self, kek_id: str, material: bytes, *, activate: bool = True) -> KeyRing:
        """Return a ring with one more KEK, by default made active (the rotation step)."""
        if kek_id in self._keks:
            raise KeyRingError(f"key id {show_id(kek_id)} is already in the ring")
        keks = {**self._keks, kek_id: material}
        return KeyRing(keks, kek_id if activate else self._active, self._index, self._seed())

    def retire(self, kek_id: str) -> KeyRing:
        """Return a ring without `kek_id`; data keys still wrapped under it become unreadable."""
        self.require(kek_id)
        if kek_id == self._active:
            raise KeyRingError(f"cannot retire the active key {kek_id!r}; activate another first")
        keks = {key: value for key, value in self._keks.items() if key != kek_id}
        return KeyRing(keks, self._active, self._index, self._seed())

    def _seed(self) -> bytes:
        return self._signing.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def to_document(self) -> dict[str, object]:
        """Return the key-file document (contains secrets: write it only with `write_key_file`)."""
        return {
            "format": "scrm-archive-keys/1",
            "active": self._active,
            "keks": {kek_id: encode_key(value) for kek_id, value in sorted(self._keks.items())},
            "index": encode_key(self._index),
            "signing": encode_key(self._seed()),
        }


def format_key_string(ring: KeyRing) -> str:
    """Render a ring in the ``SCRM_ARCHIVE_KEYS`` format (contains secrets)."""
    document = ring.to_document()
    keks: dict[str, str] = document["keks"]  # type: ignore[assignment]
    pairs = ",".join(f"{kek_id}:{value}" for kek_id, value in keks.items())
    options = ";".join(f"{name}={document[name]}" for name in ("active", "index", "signing"))
    return f"{pairs};{options}"


def parse_key_string(value: str) -> KeyRing:
    """Build a ring from the ``SCRM_ARCHIVE_KEYS`` format described in the module docstring."""
    keks: dict[str, bytes] = {}
    options: dict[str, str] = {}
    for number, part in enumerate(value.split(";"), start=1):
        part = part.strip()
        name, sep, rest = part.partition("=")
        if sep and name.strip() in {"active", "index", "signing"}:
            if name.strip() in options:
                raise KeyRingError(f"{ENV_VAR}: {name.strip()}= appears twice")
            options[name.strip()] = rest.strip()
            continue
        for pair in filter(None, (item.strip() for item in part.split(","))):
            kek_id, colon, encoded = pair.partition(":")
            if not colon:
                raise KeyRingError(f"{ENV_VAR} part {number}: expected 'id:base64' pairs")
            if kek_id in keks:
                raise KeyRingError(f"{ENV_VAR}: key id {show_id(kek_id)} appears twice")
            keks[kek_id] = decode_key(encoded, f"{ENV_VAR} key {show_id(kek_id)}")
    missing = [name for name in ("active", "index", "signing") if name not in options]
    if missing or not keks:
        wanted = ", ".join([*(["id:base64 keys"] if not keks else []), *missing])
        raise KeyRingError(f"{ENV_VAR} lacks {wanted}; format: {FORMAT_HINT}")
    return KeyRing(
        keks,
        options["active"],
        decode_key(options["index"], f"{ENV_VAR} index="),
        decode_key(options["signing"], f"{ENV_VAR} signing="),
    )
