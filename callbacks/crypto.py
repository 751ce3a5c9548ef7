"""WeCom callback crypto: msg_signature check and the AES envelope (PROTOCOL §1.4, §1.5).

wechatpy's ``PrpCrypto._decrypt`` trusts the plaintext framing (it slices with whatever
length and pad byte it finds), so the framing is checked here, strictly and in the order
PROTOCOL §1.5 lists; only the AES-CBC step itself is delegated to ``cryptography``.
Every failure is a :class:`CallbackCryptoError` whose ``reason`` is a short, fixed code
that is safe to use as a metric label and never contains input data.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

RANDOM_PREFIX_BYTES = 16
_LENGTH = struct.Struct(">I")  # msg_len: 4 bytes, network order, counts BYTES (PROTOCOL §1.5)
_FRAME_HEADER = RANDOM_PREFIX_BYTES + _LENGTH.size  # 20
_PAD_BLOCK = 32  # WeCom pads PKCS#7-style to 32-byte blocks, not AES's 16 (PROTOCOL §1.5)
_AES_BLOCK = 16


class CallbackCryptoError(Exception):
    """A callback failed signature or envelope checks; ``reason`` is a metric-safe code."""

    reason = "crypto_error"

    def __init__(self, detail: str = "") -> None:
        super().__init__(f"{self.reason}: {detail}" if detail else self.reason)
        self.detail = detail


class SignatureError(CallbackCryptoError):
    """msg_signature does not match sha1(sorted[token, timestamp, nonce, encrypt])."""

    reason = "bad_signature"


class DecryptError(CallbackCryptoError):
    """The signed ciphertext is not a valid WeCom envelope (answer 400, not 403)."""

    reason = "decrypt_error"


class Base64Error(DecryptError):
    reason = "bad_base64"


class CiphertextLengthError(DecryptError):
    reason = "bad_length"


class PaddingError(DecryptError):
    reason = "bad_padding"


class FrameError(DecryptError):
    reason = "bad_frame"


class ReceiverMismatchError(DecryptError):
    """The trailer is not our corpid / suite_id (PROTOCOL §1.1 ReceiveId)."""

    reason = "wrong_receiver"


def aes_key_from_encoding_key(encoding_aes_key: str) -> bytes:
    """Decode the 43-character EncodingAESKey into the 32-byte AES key.

    WeCom keys are often NON-canonical base64 (the last character carries non-zero low
    bits, PROTOCOL §1.1), so the key is only decoded, never re-encoded and compared.
    """
    if len(encoding_aes_key) != 43:
        raise ValueError("EncodingAESKey must be 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("EncodingAESKey is not base64") from exc
    if len(key) != 32:  # pragma: no cover - 43 valid chars + "=" always give 32 bytes
        raise ValueError("EncodingAESKey must decode to 32 bytes")
    return key


class CallbackCrypto:
    """Sign, verify, encrypt and decrypt WeCom callbacks for one receiver."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        if not token:
            raise ValueError("token must not be empty")
        self._token = token
        self._key = aes_key_from_encoding_key(encoding_aes_key)
        self._receive_id = receive_id.encode("utf-8")
        # IV = key[:16] (PROTOCOL §1.1); the Cipher object is reusable, contexts are not.
        self._cipher = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:_AES_BLOCK]))

    def __repr__(self) -> str:
        return f"CallbackCrypto(receive_id={self._receive_id.decode('utf-8')!r})"

    def signature(self, timestamp: str, nonce: str, encrypt: str) -> str:
        """Return hex sha1 over the sorted, unseparated [token, timestamp, nonce, encrypt]."""
        parts = sorted([self._token, timestamp, nonce, encrypt])
        # surrogatepass: query strings may carry lone surrogates; never raise on them.
        return hashlib.sha1("".join(parts).encode("utf-8", "surrogatepass")).hexdigest()  # noqa: S324

    def verify_signature(
        self, msg_signature: str, timestamp: str, nonce: str, encrypt: str
    ) -> None:
        """Raise :class:`SignatureError` unless msg_signature matches, in constant time."""
        expected = self.signature(timestamp, nonce, encrypt).encode("ascii")
        # compare_digest refuses non-ASCII str, so compare bytes.
        given = msg_signature.encode("utf-8", "surrogatepass")
        if not hmac.compare_digest(expected, given):
            raise SignatureError()

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> bytes:
        """Check a GET URL-verification request and return the plaintext to answer.

        ``echostr`` must already be URL-decoded (PROTOCOL §1.2: a raw ``+`` turns into a
        space otherwise); the signature covers echostr itself.
        """
        self.verify_signature(msg_signature, timestamp, nonce, echostr)
        return self.decrypt(echostr)

    def decrypt(self, encrypt: str) -> bytes:
        """Return the inner message bytes of an ``Encrypt`` value, validating every layer."""
        try:
            ciphertext = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError) as exc:  # ValueError: non-ASCII str
            raise Base64Error() from exc
        if not ciphertext or len(ciphertext) % _AES_BLOCK:
            raise CiphertextLengthError(f"{len(ciphertext)} bytes")
        decryptor = self._cipher.decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadded = _unpad(padded)
        if len(unpadded) < _FRAME_HEADER:
            raise FrameError("shorter than the 20-byte header")
        (msg_len,) = _LENGTH.unpack_from(unpadded, RANDOM_PREFIX_BYTES)
        end = _FRAME_HEADER + msg_len
        if end > len(unpadded):
            raise FrameError("msg_len exceeds the data")
        if not hmac.compare_digest(unpadded[end:], self._receive_id):
            raise ReceiverMismatchError()
        return unpadded[_FRAME_HEADER:end]

    def encrypt(self, plaintext: bytes, random_prefix: bytes | None = None) -> str:
        """Return the base64 ``Encrypt`` value for ``plaintext``, as WeCom would send it.

        ``random_prefix`` (16 bytes) is for deterministic test vectors only.
        """
        if random_prefix is None:
            random_prefix = secrets.token_bytes(RANDOM_PREFIX_BYTES)
        if len(random_prefix) != RANDOM_PREFIX_BYTES:
            raise ValueError("random_prefix must be 16 bytes")
        if len(plaintext) > 0xFFFFFFFF:
            raise ValueError("plaintext too long for a 4-byte length")
        framed = random_prefix + _LENGTH.pack(len(plaintext)) + plaintext + self._receive_id
        encryptor = self._cipher.encryptor()
        ciphertext = encryptor.update(_pad(framed)) + encryptor.finalize()
        return base64.b64encode(ciphertext).decode("ascii")


def _pad(data: bytes) -> bytes:
    """PKCS#7 to 32-byte blocks: always 1..32 bytes, a full block when already aligned."""
    pad = _PAD_BLOCK - len(data) % _PAD_BLOCK
    return data + bytes([pad]) * pad


def _unpad(padded: bytes) -> bytes:
    """Strip 32-byte-block PKCS#7; a 16-byte-block unpadder would wrongly reject 17..32."""
    pad = padded[-1]
    if not 1 <= pad <= min(_PAD_BLOCK, len(padded)):
        raise PaddingError(f"pad byte {pad}")
    # Not constant time: the signature was already checked, so this is no padding oracle.
    if padded[-pad:] != bytes([pad]) * pad:
        raise PaddingError("unequal pad bytes")
    return padded[:-pad]
