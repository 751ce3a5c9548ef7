"""The archive's RSA private keys, by `publickey_ver`, and the unwrapping of `encrypt_random_key`.

Every time an admin uploads a new public key in the WeCom console, `publickey_ver` goes up, and
records already pulled keep the old version: so keep every key ever uploaded (PROTOCOL §5.3).

``SCRM_ARCHIVE_RSA_KEYS`` is either

* a directory: each ``v<N>.pem`` in it is the private key of ``publickey_ver`` N
  (other files are ignored), e.g. ``/etc/scrm/archive-keys`` holding ``v1.pem``, ``v2.pem``; or
* a comma-separated list of ``N:path`` pairs, e.g. ``1:/keys/old.pem,2:/keys/new.pem``.

Keys are unencrypted PEM RSA-2048 private keys (PKCS#1 or PKCS#8). Nothing here prints,
logs or reprs key material or the unwrapped random key.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from archive.errors import ArchiveCryptoError
from archive.pull.errors import FinanceKeyError

ENV_NAME = "SCRM_ARCHIVE_RSA_KEYS"
KEY_BITS = 2048
_FILE_NAME = re.compile(r"^v(\d+)\.pem$")
_PAIR = re.compile(r"^\s*(\d+)\s*:\s*(\S.*?)\s*$")
# The unwrapped random key is a short ASCII string handed to DecryptData as-is.
_RANDOM_KEY = re.compile(rb"^[\x21-\x7e]{1,256}$")


class RsaKeyConfigError(ArchiveCryptoError, ValueError):
    """The key setting is unusable; raised at start so the service does not run half-blind."""


class RsaKeyRing:
    """Private keys by `publickey_ver`; unwraps each record's random key."""

    def __init__(self, keys: Mapping[int, rsa.RSAPrivateKey]) -> None:
        self._keys = dict(keys)

    def __repr__(self) -> str:
        return f"RsaKeyRing(versions={list(self.versions)})"

    @property
    def versions(self) -> tuple[int, ...]:
        return tuple(sorted(self._keys))

    @classmethod
    def from_spec(cls, spec: str) -> RsaKeyRing:
        """Load the keys a ``SCRM_ARCHIVE_RSA_KEYS`` value names (directory or ``N:path`` list)."""
        spec = spec.strip()
        if not spec:
            raise RsaKeyConfigError(f"{ENV_NAME} is empty: name a key directory or N:path pairs")
        paths = _scan_directory(Path(spec)) if Path(spec).is_dir() else _parse_pairs(spec)
        return cls({version: _load_key(version, path) for version, path in paths.items()})

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> RsaKeyRing:
        """Load from ``SCRM_ARCHIVE_RSA_KEYS``; the composition root calls this once at start."""
        environ = os.environ if environ is None else environ
        return cls.from_spec(environ.get(ENV_NAME, ""))

    def decrypt_random_key(self, publickey_ver: int, encrypt_random_key: str) -> str:
        """Base64-decode, then RSA PKCS#1 v1.5 decrypt with the key of `publickey_ver`."""
        key = self._keys.get(publickey_ver)
        if key is None:
            have = ", ".join(map(str, self.versions)) or "none"
            raise FinanceKeyError(
                10007,
                f"no private key for publickey_ver={publickey_ver} (have: {have}); "
                f"add it to {ENV_NAME}",
            )
        try:
            wrapped = base64.b64decode(encrypt_random_key, validate=True)
        except (binascii.Error, ValueError):
            raise FinanceKeyError(10008, "encrypt_random_key is not base64") from None
        if len(wrapped) != key.key_size // 8:
            raise FinanceKeyError(10008, f"encrypt_random_key has {len(wrapped)} bytes")
        try:
            random_key = key.decrypt(wrapped, padding.PKCS1v15())
        except ValueError:
            random_key = b""
        # OpenSSL ≥3.2 answers a wrong key with random bytes instead of an error ("implicit
        # rejection"), so the only sign of a mismatched key is output that is not a short ASCII key.
        if not _RANDOM_KEY.match(random_key):
            raise FinanceKeyError(
                10006, f"the publickey_ver={publickey_ver} key does not decrypt this random key"
            )
        return random_key.decode("ascii")


def _scan_directory(directory: Path) -> dict[int, Path]:
    paths = {}
    for path in directory.iterdir():
        match = _FILE_NAME.match(path.name)
        if match:
            paths[int(match.group(1))] = path
    if not paths:
        raise RsaKeyConfigError(f"{ENV_NAME}: no v<N>.pem files in {directory}")
    return paths


def _parse_pairs(spec: str) -> dict[int, Path]:
    paths: dict[int, Path] = {}
    for part in spec.split(","):
        match = _PAIR.match(part)
        if not match:
            raise RsaKeyConfigError(
                f"{ENV_NAME}: {part.strip()!r} is neither a directory nor an N:path pair"
            )
        version = int(match.group(1))
        if version in paths:
            raise RsaKeyConfigError(f"{ENV_NAME}: publickey_ver {version} is listed twice")
        paths[version] = Path(match.group(2))
    return paths


def _load_key(version: int, path: Path) -> rsa.RSAPrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RsaKeyConfigError(
            f"{ENV_NAME}: cannot read key v{version} at {path}: {exc.strerror}"
        ) from None
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError):  # never chain: the message must not quote the file
        raise RsaKeyConfigError(
            f"{ENV_NAME}: {path} is not an unencrypted PEM private key"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != KEY_BITS:
        raise RsaKeyConfigError(f"{ENV_NAME}: {path} is not an RSA-{KEY_BITS} private key")
    return key
