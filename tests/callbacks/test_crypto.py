"""CallbackCrypto against every PROTOCOL §2 vector, every pad value, and hostile ciphertexts."""

from __future__ import annotations

import base64
import contextlib
import struct
from dataclasses import replace
from urllib.parse import unquote

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from wechatpy.work.crypto import WeChatCrypto

from callbacks.crypto import (
    Base64Error,
    CallbackCrypto,
    CallbackCryptoError,
    CiphertextLengthError,
    DecryptError,
    FrameError,
    PaddingError,
    ReceiverMismatchError,
    SignatureError,
    aes_key_from_encoding_key,
)
from tests.callbacks.vectors import (
    B1,
    B1_ECHOSTR_ON_THE_WIRE,
    C1,
    C1_WRONG_NONCE,
    C3,
    DECRYPTABLE,
    DETERMINISTIC,
    OWN1,
    Vector,
    raw_padded,
)

ids = pytest.mark.parametrize("vector", DECRYPTABLE, ids=lambda v: v.name)


def crypto_for(vector: Vector) -> CallbackCrypto:
    return CallbackCrypto(vector.token, vector.encoding_aes_key, vector.receive_id)


# --- vectors -------------------------------------------------------------------------------


@ids
def test_aes_key_decodes_non_canonical_keys(vector: Vector) -> None:
    assert aes_key_from_encoding_key(vector.encoding_aes_key).hex() == vector.aes_key_hex


@ids
def test_signature_recomputes_vector(vector: Vector) -> None:
    crypto = crypto_for(vector)
    assert crypto.signature(vector.timestamp, vector.nonce, vector.encrypt) == vector.msg_signature
    crypto.verify_signature(vector.msg_signature, vector.timestamp, vector.nonce, vector.encrypt)


@ids
def test_decrypt_gives_exact_plaintext(vector: Vector) -> None:
    assert crypto_for(vector).decrypt(vector.encrypt) == vector.plaintext


@ids
def test_vector_framing_is_what_protocol_lists(vector: Vector) -> None:
    """Cross-check the listed random prefix and pad byte with an independent AES decoder."""
    padded = raw_padded(vector)
    if vector.random_prefix:
        assert padded[:16] == vector.random_prefix
    if vector.pad:
        assert padded[-1] == vector.pad
        assert padded[-vector.pad :] == bytes([vector.pad]) * vector.pad
    assert struct.unpack(">I", padded[16:20])[0] == len(vector.plaintext)


@pytest.mark.parametrize("vector", [v for v in DECRYPTABLE if v.is_url_check], ids=lambda v: v.name)
def test_verify_url_returns_echostr_plaintext(vector: Vector) -> None:
    echo = crypto_for(vector).verify_url(
        vector.msg_signature, vector.timestamp, vector.nonce, vector.encrypt
    )
    assert echo == vector.plaintext


def test_verify_url_needs_the_url_decoded_echostr() -> None:
    """PROTOCOL §1.2: echostr must be URL-decoded; the raw query value fails the signature."""
    assert unquote(B1_ECHOSTR_ON_THE_WIRE) == B1.encrypt
    with pytest.raises(SignatureError):
        crypto_for(B1).verify_url(B1.msg_signature, B1.timestamp, B1.nonce, B1_ECHOSTR_ON_THE_WIRE)
    # A framework that decodes "+" as space breaks it too.
    with pytest.raises(SignatureError):
        crypto_for(B1).verify_url(
            B1.msg_signature, B1.timestamp, B1.nonce, B1.encrypt.replace("+", " ")
        )


def test_verify_url_wrong_nonce_fails_c1() -> None:
    with pytest.raises(SignatureError) as caught:
        crypto_for(C1).verify_url(C1.msg_signature, C1.timestamp, C1_WRONG_NONCE, C1.encrypt)
    assert caught.value.reason == "bad_signature"


@pytest.mark.parametrize("vector", DETERMINISTIC, ids=lambda v: v.name)
def test_encrypt_with_fixed_prefix_reproduces_vector(vector: Vector) -> None:
    crypto = crypto_for(vector)
    encrypt = crypto.encrypt(vector.plaintext, random_prefix=vector.random_prefix)
    assert encrypt == vector.encrypt
    assert crypto.signature(vector.timestamp, vector.nonce, encrypt) == vector.msg_signature


def test_c3_expected_signature() -> None:
    assert crypto_for(C3).signature(C3.timestamp, C3.nonce, C3.encrypt) == (
        "407518b7649e86ef23978113f92d27afa9296533"
    )


def test_wechatpy_reads_what_we_encrypt() -> None:
    """Interop: the reference implementation accepts our (random-prefix) output."""
    crypto = crypto_for(OWN1)
    encrypt = crypto.encrypt(OWN1.plaintext)
    assert encrypt != OWN1.encrypt  # fresh random prefix
    signature = crypto.signature("1700000000", "1", encrypt)
    body = f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    reference = WeChatCrypto(OWN1.token, OWN1.encoding_aes_key, OWN1.receive_id)
    assert reference.decrypt_message(body, signature, "1700000000", "1") == OWN1.plaintext.decode()


def test_default_random_prefix_is_fresh_per_call() -> None:
    crypto = crypto_for(OWN1)
    first, second = crypto.encrypt(b"same"), crypto.encrypt(b"same")
    assert first != second
    assert crypto.decrypt(first) == crypto.decrypt(second) == b"same"


# --- padding to 32-byte blocks ---------------------------------------------------------------

FRAME_OVERHEAD = 16 + 4 + len(OWN1.receive_id)  # prefix + msg_len + trailer = 38


@pytest.mark.parametrize("pad", range(1, 33))
def test_round_trip_for_every_pad_value(pad: int) -> None:
    crypto = crypto_for(OWN1)
    # Choose msg_len so that (38 + msg_len) % 32 == 32 - pad (mod 32).
    msg_len = (32 - pad - FRAME_OVERHEAD) % 32 + 32
    message = bytes(range(65, 65 + 26)) * 3
    message = message[:msg_len]
    encrypt = crypto.encrypt(message, random_prefix=b"P" * 16)
    padded = raw_padded(_with_encrypt(OWN1, encrypt))
    assert padded[-1] == pad
    assert padded[-pad:] == bytes([pad]) * pad
    assert len(padded) % 32 == 0
    assert crypto.decrypt(encrypt) == message


def test_empty_message_round_trips() -> None:
    crypto = crypto_for(OWN1)
    assert crypto.decrypt(crypto.encrypt(b"")) == b""


def test_empty_receive_id_round_trips() -> None:
    """Third-party apps owned by an individual use an empty receiveid (PROTOCOL §1.1)."""
    crypto = CallbackCrypto("t", OWN1.encoding_aes_key, "")
    assert crypto.decrypt(crypto.encrypt(b"hello")) == b"hello"


# --- hostile input ---------------------------------------------------------------------------


def _with_encrypt(vector: Vector, encrypt: str) -> Vector:
    return replace(vector, encrypt=encrypt)


def _forge(vector: Vector, padded: bytes) -> str:
    """Encrypt arbitrary already-padded bytes with the vector's key: frames WeCom never sends."""
    key = bytes.fromhex(vector.aes_key_hex)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


def _frame(msg: bytes, receive_id: bytes, msg_len: int | None = None) -> bytes:
    length = len(msg) if msg_len is None else msg_len
    return b"R" * 16 + struct.pack(">I", length) + msg + receive_id


def _pad32(data: bytes) -> bytes:
    pad = 32 - len(data) % 32
    return data + bytes([pad]) * pad


RID = OWN1.receive_id.encode()


def test_tampered_signature_is_rejected() -> None:
    crypto = crypto_for(OWN1)
    tampered = OWN1.msg_signature[:-1] + ("0" if OWN1.msg_signature[-1] != "0" else "1")
    with pytest.raises(SignatureError) as caught:
        crypto.verify_signature(tampered, OWN1.timestamp, OWN1.nonce, OWN1.encrypt)
    assert caught.value.reason == "bad_signature"


@pytest.mark.parametrize(
    "given",
    ["", OWN1.msg_signature.upper(), OWN1.msg_signature + "0", "签名", "\udcff"],
    ids=["empty", "uppercase", "too_long", "non_ascii", "lone_surrogate"],
)
def test_malformed_signatures_are_rejected_without_other_errors(given: str) -> None:
    with pytest.raises(SignatureError):
        crypto_for(OWN1).verify_signature(given, OWN1.timestamp, OWN1.nonce, OWN1.encrypt)


def test_signature_over_tampered_encrypt_fails() -> None:
    tampered = "A" + OWN1.encrypt[1:]
    with pytest.raises(SignatureError):
        crypto_for(OWN1).verify_signature(OWN1.msg_signature, OWN1.timestamp, OWN1.nonce, tampered)


def test_signature_sorts_without_separator() -> None:
    crypto = CallbackCrypto("b", OWN1.encoding_aes_key, "x")
    assert (
        crypto.signature("c", "a", "d") == "81fe8bfe87576c3ecb22426f8e57847382917acf"
    )  # sha1("abcd")


CASES: list[tuple[str, str, type[DecryptError], str]] = [
    ("non_base64_chars", "!!!!" + OWN1.encrypt[4:], Base64Error, "bad_base64"),
    ("embedded_newline", OWN1.encrypt[:40] + "\n" + OWN1.encrypt[40:], Base64Error, "bad_base64"),
    ("space_for_plus", OWN1.encrypt.replace("+", " "), Base64Error, "bad_base64"),
    ("missing_padding", OWN1.encrypt.rstrip("="), Base64Error, "bad_base64"),
    ("non_ascii", "你好" + OWN1.encrypt, Base64Error, "bad_base64"),
    ("empty", "", CiphertextLengthError, "bad_length"),
    (
        "not_multiple_of_16",
        base64.b64encode(b"x" * 33).decode(),
        CiphertextLengthError,
        "bad_length",
    ),
    ("truncated_block", base64.b64encode(b"x" * 15).decode(), CiphertextLengthError, "bad_length"),
]


@pytest.mark.parametrize(
    ("encrypt", "error", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_ciphertext_maps_to_reason(
    encrypt: str, error: type[DecryptError], reason: str
) -> None:
    with pytest.raises(error) as caught:
        crypto_for(OWN1).decrypt(encrypt)
    assert caught.value.reason == reason
    assert isinstance(caught.value, CallbackCryptoError)


FRAMES: list[tuple[str, bytes, type[DecryptError], str]] = [
    ("pad_byte_0", _frame(b"hi", RID).ljust(63, b"\x00") + b"\x00", PaddingError, "bad_padding"),
    ("pad_byte_33", _frame(b"hi", RID).ljust(63, b"!") + b"!", PaddingError, "bad_padding"),
    ("pad_byte_255", _frame(b"hi", RID).ljust(63, b"\xff") + b"\xff", PaddingError, "bad_padding"),
    (
        "pad_bytes_unequal",
        _pad32(_frame(b"hi", RID))[:-3] + b"\x01" + _pad32(_frame(b"hi", RID))[-2:],
        PaddingError,
        "bad_padding",
    ),
    ("pad_larger_than_data", bytes([32]) * 16, PaddingError, "bad_padding"),
    ("shorter_than_header", _pad32(b"R" * 16 + b"\x00\x00"), FrameError, "bad_frame"),
    ("msg_len_past_end", _pad32(_frame(b"hi", RID, msg_len=500)), FrameError, "bad_frame"),
    ("msg_len_huge", _pad32(_frame(b"hi", RID, msg_len=0xFFFFFFFF)), FrameError, "bad_frame"),
    ("msg_len_one_too_many", _pad32(_frame(b"hi", b"", msg_len=3)), FrameError, "bad_frame"),
    (
        "wrong_receive_id",
        _pad32(_frame(b"hi", b"ww0000000000000002")),
        ReceiverMismatchError,
        "wrong_receiver",
    ),
    ("receive_id_prefix", _pad32(_frame(b"hi", RID[:-1])), ReceiverMismatchError, "wrong_receiver"),
    (
        "receive_id_extended",
        _pad32(_frame(b"hi", RID + b"x")),
        ReceiverMismatchError,
        "wrong_receiver",
    ),
    (
        "msg_len_too_short",
        _pad32(_frame(b"hi", RID, msg_len=1)),
        ReceiverMismatchError,
        "wrong_receiver",
    ),
    ("garbage_plaintext", _pad32(b"\xde\xad\xbe\xef" * 20), FrameError, "bad_frame"),
]


@pytest.mark.parametrize(
    ("padded", "error", "reason"), [f[1:] for f in FRAMES], ids=[f[0] for f in FRAMES]
)
def test_bad_frame_maps_to_reason(padded: bytes, error: type[DecryptError], reason: str) -> None:
    assert len(padded) % 16 == 0
    with pytest.raises(error) as caught:
        crypto_for(OWN1).decrypt(_forge(OWN1, padded))
    assert caught.value.reason == reason


def test_well_formed_forged_frame_decrypts() -> None:
    """Control for the table above: the same forging path with a correct frame succeeds."""
    assert crypto_for(OWN1).decrypt(_forge(OWN1, _pad32(_frame(b"hi", RID)))) == b"hi"


def test_16_byte_padding_is_accepted() -> None:
    """Pad values 1..16 in a 16-aligned (not 32-aligned) ciphertext still frame correctly."""
    framed = _frame(b"hello", RID)  # 16 + 4 + 5 + 18 = 43
    padded = framed + bytes([5]) * 5  # 48 bytes: 16-aligned only
    assert crypto_for(OWN1).decrypt(_forge(OWN1, padded)) == b"hello"


def test_wrong_key_is_a_decrypt_error() -> None:
    other = CallbackCrypto(OWN1.token, OWN1.encoding_aes_key[:-1] + "A", OWN1.receive_id)
    with pytest.raises(DecryptError):
        other.decrypt(OWN1.encrypt)


def test_other_receiver_rejects_valid_vector() -> None:
    crypto = CallbackCrypto(OWN1.token, OWN1.encoding_aes_key, "ww0000000000000002")
    with pytest.raises(ReceiverMismatchError):
        crypto.decrypt(OWN1.encrypt)


def test_every_single_byte_flip_is_a_typed_error_or_clean() -> None:
    """No struct/Unicode/ValueError escapes, whatever byte of the ciphertext is corrupted."""
    crypto = crypto_for(OWN1)
    raw = bytearray(base64.b64decode(OWN1.encrypt))
    for index in range(len(raw)):
        flipped = bytearray(raw)
        flipped[index] ^= 0x80
        with contextlib.suppress(DecryptError):
            crypto.decrypt(base64.b64encode(bytes(flipped)).decode())


@pytest.mark.parametrize(
    "key",
    ["", "short", OWN1.encoding_aes_key + "A", OWN1.encoding_aes_key[:-1] + "!"],
    ids=["empty", "short", "44_chars", "bad_char"],
)
def test_bad_encoding_aes_key_is_a_config_error(key: str) -> None:
    with pytest.raises(ValueError, match="EncodingAESKey"):
        CallbackCrypto("token", key, "corp")


def test_prefix_must_be_16_bytes() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        crypto_for(OWN1).encrypt(b"x", random_prefix=b"short")


def test_repr_hides_secrets() -> None:
    text = repr(crypto_for(OWN1))
    assert OWN1.token not in text
    assert OWN1.encoding_aes_key not in text
    assert OWN1.receive_id in text
