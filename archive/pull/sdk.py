"""ctypes binding to Tencent's closed ``libWeWorkFinanceSdk_C.so`` (会话内容存档, PROTOCOL §5.1).

The library can crash the process that loads it, so load it only inside the worker process
(`archive.pull.sdk_worker`); the service talks to it through `FinanceWorkerClient`.
Types mirror ``WeWorkFinanceSdk_C.h`` exactly: a wrong width here corrupts memory silently.
"""

from __future__ import annotations

import ctypes
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

from archive.pull.errors import FinanceSdkError

MAX_LIMIT = 1000


class Slice(ctypes.Structure):
    """``typedef struct Slice_t { char* buf; int len; } Slice_t;``"""

    _fields_ = [("buf", ctypes.c_void_p), ("len", ctypes.c_int)]


_SDK_P = ctypes.c_void_p  # WeWorkFinanceSdk_t* is opaque
_SLICE_P = ctypes.POINTER(Slice)
_STR = ctypes.c_char_p
_INT = ctypes.c_int

_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "NewSdk": (_SDK_P, []),
    "Init": (_INT, [_SDK_P, _STR, _STR]),
    "GetChatData": (
        _INT,
        [_SDK_P, ctypes.c_ulonglong, ctypes.c_uint, _STR, _STR, _INT, _SLICE_P],
    ),
    "DecryptData": (_INT, [_STR, _STR, _SLICE_P]),  # no sdk handle: it is a pure function
    "DestroySdk": (None, [_SDK_P]),
    "NewSlice": (_SLICE_P, []),
    "FreeSlice": (None, [_SLICE_P]),
    # c_void_p, not c_char_p: ctypes would stop at the first NUL and lose the length.
    "GetContentFromSlice": (ctypes.c_void_p, [_SLICE_P]),
    "GetSliceLen": (_INT, [_SLICE_P]),
}


def load_library(path: str) -> ctypes.CDLL:
    """Load the SDK and declare the signature of every function scrm calls."""
    lib = ctypes.CDLL(path)
    for name, (restype, argtypes) in _SIGNATURES.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    return lib


@dataclass(frozen=True)
class ChatDataItem:
    """One GetChatData record: still encrypted, keyed by `seq` (order) and `msgid` (dedupe)."""

    seq: int
    msgid: str
    publickey_ver: int
    encrypt_random_key: str
    encrypt_chat_msg: str

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Self:
        return cls(
            seq=int(raw["seq"]),
            msgid=str(raw["msgid"]),
            publickey_ver=int(raw["publickey_ver"]),
            encrypt_random_key=str(raw["encrypt_random_key"]),
            encrypt_chat_msg=str(raw["encrypt_chat_msg"]),
        )


class FinanceSdk:
    """One initialised SDK instance; create once and reuse (each Init costs a handshake)."""

    def __init__(
        self,
        path: str,
        corp_id: str,
        secret: str,
        *,
        proxy: str = "",
        proxy_password: str = "",
    ) -> None:
        self._path = path
        self._lib = load_library(path)
        self._proxy = proxy.encode()
        self._proxy_password = proxy_password.encode()
        self._sdk: int | None = self._lib.NewSdk()
        if not self._sdk:
            raise FinanceSdkError(10003, "NewSdk returned NULL")
        code = self._lib.Init(self._sdk, corp_id.encode(), secret.encode())
        if code != 0:
            self.close()
            raise FinanceSdkError(code, "Init failed")

    def __repr__(self) -> str:  # the secret is never kept on the object, let alone shown
        return f"FinanceSdk(path={self._path!r})"

    def get_chat_data(
        self, seq: int, limit: int = MAX_LIMIT, timeout: int = 10
    ) -> list[ChatDataItem]:
        """Return records after `seq` (the largest seq already stored), at most `limit` (≤1000)."""
        if seq < 0 or limit < 0:
            raise FinanceSdkError(10000, "seq and limit must not be negative")
        raw = self._call_with_slice(
            "GetChatData",
            lambda out: self._lib.GetChatData(
                self._handle(), seq, limit, self._proxy, self._proxy_password, timeout, out
            ),
        )
        body = _parse_json(raw, "GetChatData")
        errcode = int(body.get("errcode", 0))
        if errcode != 0:  # rc 0 but the server refused (e.g. 40001 bad secret, 10009 IP)
            raise FinanceSdkError(errcode, str(body.get("errmsg", "")))
        return [ChatDataItem.from_json(item) for item in body.get("chatdata", [])]

    def decrypt(self, random_key: str, encrypt_chat_msg: str) -> dict[str, Any]:
        """Decrypt one message with its RSA-unwrapped random key; return WeCom's message JSON."""
        raw = self._call_with_slice(
            "DecryptData",
            lambda out: self._lib.DecryptData(random_key.encode(), encrypt_chat_msg.encode(), out),
        )
        try:
            message = json.loads(raw)
        except ValueError:
            raise FinanceSdkError(10006, "DecryptData output is not JSON") from None
        if not isinstance(message, dict):
            raise FinanceSdkError(10006, "DecryptData output is not a JSON object")
        return message

    def close(self) -> None:
        """Release the SDK instance (DestroySdk); safe to call twice."""
        if self._sdk:
            self._lib.DestroySdk(self._sdk)
        self._sdk = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _handle(self) -> int:
        if not self._sdk:
            raise FinanceSdkError(10000, "SDK instance is closed")
        return self._sdk

    def _call_with_slice(self, name: str, call: Callable[[Any], int]) -> bytes:
        out = self._lib.NewSlice()
        if not out:
            raise FinanceSdkError(10003, "NewSlice returned NULL")
        try:
            code = call(out)
            if code != 0:
                raise FinanceSdkError(code, f"{name} failed")
            length = self._lib.GetSliceLen(out)
            content = self._lib.GetContentFromSlice(out)
            return ctypes.string_at(content, length) if content and length > 0 else b""
        finally:
            self._lib.FreeSlice(out)


def _parse_json(raw: bytes, what: str) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        raise FinanceSdkError(10002, f"{what} returned invalid JSON") from None
    if not isinstance(body, dict):
        raise FinanceSdkError(10002, f"{what} returned a non-object")
    return body
