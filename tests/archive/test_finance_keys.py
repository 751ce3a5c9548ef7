"""The RSA step of the session archive: keys by publickey_ver, PKCS#1 v1.5, clear errors."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from archive.pull.errors import FinanceKeyError, FinanceSdkError
from archive.pull.rsa_keys import RsaKeyConfigError, RsaKeyRing
from tests.archive.finance_fake import pem, wrap_random_key, write_keys


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    return write_keys(tmp_path / "keys", (1, 2))


def test_directory_form_loads_every_version(key_dir: Path) -> None:
    (key_dir / "README.txt").write_text("not a key")
    ring = RsaKeyRing.from_spec(str(key_dir))
    assert ring.versions == (1, 2)


def test_pair_form_loads_named_versions(key_dir: Path) -> None:
    ring = RsaKeyRing.from_spec(f"2:{key_dir / 'v1.pem'}, 7:{key_dir / 'v2.pem'}")
    assert ring.versions == (2, 7)
    assert ring.decrypt_random_key(7, wrap_random_key("k" * 16, 2)) == "k" * 16


def test_from_environ_reads_the_documented_variable(key_dir: Path) -> None:
    ring = RsaKeyRing.from_environ({"SCRM_ARCHIVE_RSA_KEYS": str(key_dir)})
    assert ring.versions == (1, 2)


@pytest.mark.parametrize("version", [1, 2])
def test_each_version_unwraps_its_own_random_key(key_dir: Path, version: int) -> None:
    ring = RsaKeyRing.from_spec(str(key_dir))
    assert ring.decrypt_random_key(version, wrap_random_key("0123456789abcdef", version)) == (
        "0123456789abcdef"
    )


def test_missing_version_is_10007_and_names_what_exists(key_dir: Path) -> None:
    ring = RsaKeyRing.from_spec(str(key_dir))
    with pytest.raises(FinanceKeyError) as caught:
        ring.decrypt_random_key(3, wrap_random_key("abc", 1))
    assert isinstance(caught.value, FinanceSdkError)
    assert caught.value.code == 10007 and not caught.value.retryable
    assert "publickey_ver=3" in str(caught.value) and "have: 1, 2" in str(caught.value)


def test_wrong_version_key_is_a_decrypt_failure_not_garbage(key_dir: Path) -> None:
    # OpenSSL's implicit rejection returns random bytes here instead of raising.
    ring = RsaKeyRing.from_spec(str(key_dir))
    with pytest.raises(FinanceKeyError) as caught:
        ring.decrypt_random_key(2, wrap_random_key("0123456789abcdef", 1))
    assert caught.value.code == 10006


@pytest.mark.parametrize(
    "value", ["not base64!!", base64.b64encode(b"short").decode()], ids=["base64", "length"]
)
def test_malformed_encrypt_random_key_is_10008(key_dir: Path, value: str) -> None:
    ring = RsaKeyRing.from_spec(str(key_dir))
    with pytest.raises(FinanceKeyError) as caught:
        ring.decrypt_random_key(1, value)
    assert caught.value.code == 10008


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "is empty"),
        ("1:/nowhere/v1.pem", "cannot read key v1"),
        ("v1.pem", "neither a directory nor an N:path pair"),
    ],
)
def test_bad_settings_fail_at_start(spec: str, message: str) -> None:
    with pytest.raises(RsaKeyConfigError, match=message):
        RsaKeyRing.from_spec(spec)


def test_duplicate_version_is_rejected(key_dir: Path) -> None:
    with pytest.raises(RsaKeyConfigError, match="listed twice"):
        RsaKeyRing.from_spec(f"1:{key_dir / 'v1.pem'},1:{key_dir / 'v2.pem'}")


def test_empty_directory_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(RsaKeyConfigError, match=r"no v<N>\.pem"):
        RsaKeyRing.from_spec(str(tmp_path))


def _pem_of(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize(
    "content",
    [
        b"garbage",
        _pem_of(ec.generate_private_key(ec.SECP256R1())),
        _pem_of(rsa.generate_private_key(public_exponent=65537, key_size=1024)),  # noqa: S505 - must be refused
    ],
    ids=["not-pem", "not-rsa", "rsa-1024"],
)
def test_unusable_key_files_are_rejected_without_quoting_them(
    tmp_path: Path, content: bytes
) -> None:
    (tmp_path / "v1.pem").write_bytes(content)
    with pytest.raises(RsaKeyConfigError) as caught:
        RsaKeyRing.from_spec(str(tmp_path))
    assert content.decode(errors="replace")[:40] not in str(caught.value)
    error = caught.value
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def test_nothing_secret_in_repr_or_logs(key_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ring = RsaKeyRing.from_spec(str(key_dir))
    random_key = ring.decrypt_random_key(1, wrap_random_key("sekrit-random-key", 1))
    shown = repr(ring) + caplog.text
    assert repr(ring) == "RsaKeyRing(versions=[1, 2])"
    assert random_key not in shown and "PRIVATE KEY" not in shown
    assert pem(1).decode().splitlines()[1] not in shown
