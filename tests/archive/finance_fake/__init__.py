"""Build the fake finance SDK (``tests/archive/fake_finance_sdk.c``) and the records it serves.

The RSA step is real: random keys are wrapped with RSA-2048 public keys exactly as WeCom does,
so the service's key ring is tested against genuine PKCS#1 v1.5 ciphertext.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SOURCE = Path(__file__).resolve().parents[1] / "fake_finance_sdk.c"
LIBRARY_NAME = "libWeWorkFinanceSdk_C.so"
CORP_ID = "wwfake0000corp"
SECRET = "archive-secret-Zx81-do-not-log"

# Triggers understood by the C fake.
SEQ_CRASH = 900000001
SEQ_NETWORK_ERROR = 900000002
SEQ_HANG = 900000003


def compile_fake(directory: Path) -> Path:
    """Compile the fake into `directory`; skip loudly if there is no C compiler."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("!!! gcc not found: finance SDK binding tests NOT RUN")
    target = directory / LIBRARY_NAME
    subprocess.run(
        [gcc, "-shared", "-fPIC", "-O1", "-Wall", "-Wextra", "-Werror", "-o", target, SOURCE],
        check=True,
        capture_output=True,
    )
    return target


@cache
def rsa_key(version: int) -> rsa.RSAPrivateKey:
    """One RSA-2048 key per publickey_ver, generated once per test run."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(version: int) -> bytes:
    return rsa_key(version).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_keys(directory: Path, versions: tuple[int, ...] = (1, 2)) -> Path:
    """Write ``v<N>.pem`` files, the directory form of SCRM_ARCHIVE_RSA_KEYS."""
    directory.mkdir(parents=True, exist_ok=True)
    for version in versions:
        (directory / f"v{version}.pem").write_bytes(pem(version))
    return directory


def wrap_random_key(random_key: str, version: int) -> str:
    """What WeCom puts in encrypt_random_key: base64(RSA-PKCS1v15(public key of `version`))."""
    wrapped = rsa_key(version).public_key().encrypt(random_key.encode(), padding.PKCS1v15())
    return base64.b64encode(wrapped).decode()


def seal(plaintext: bytes, random_key: str) -> str:
    """The fake's encrypt_chat_msg: base64 of XOR with the random key (see the C file)."""
    key = random_key.encode()
    return base64.b64encode(bytes(b ^ key[i % len(key)] for i, b in enumerate(plaintext))).decode()


def text_message(msgid: str, content: str) -> dict[str, Any]:
    return {
        "msgid": msgid,
        "action": "send",
        "from": "XuJinSheng",
        "tolist": ["wmEXTERNAL01"],
        "roomid": "",
        "msgtime": 1547087894783,
        "msgtype": "text",
        "text": {"content": content},
    }


@dataclass
class FakeArchive:
    """The records the fake GetChatData serves, written to the file it reads on every call."""

    path: Path
    random_keys: dict[int, str] = field(default_factory=dict)
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    _lines: list[str] = field(default_factory=list)

    def add(
        self,
        seq: int,
        *,
        version: int = 1,
        magic: bytes = b"FAKE",
        wrap_version: int | None = None,
        content: str | None = None,
    ) -> str:
        """Add a record; `wrap_version` wraps its key with another version's key (a mismatch)."""
        msgid = f"CAQQ{seq:08d}fakemsgid="
        message = text_message(msgid, content or f"hello {seq}")
        random_key = secrets.token_hex(16)
        sealed = seal(magic + json.dumps(message, ensure_ascii=False).encode(), random_key)
        wrapped = wrap_random_key(random_key, wrap_version or version)
        self._lines.append(f"{seq}\t{msgid}\t{version}\t{wrapped}\t{sealed}\n")
        self.random_keys[seq] = random_key
        self.messages[seq] = message
        self.path.write_text("".join(self._lines))
        return msgid
