"""The compliance archive: where its keys come from, how long it keeps, the session pull."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config.converters import int_in, secret, text
from config.secret import Secret
from config.source import Source

ARCHIVE_KEYS = (
    "archive_keys archive_key_file archive_retention_days finance_sdk_path "
    "archive_finance_secret archive_rsa_keys"
).split()


@dataclass(frozen=True)
class ArchiveSettings:
    """The compliance archive: key material, retention, and the WeCom session-archive pull."""

    keys: Secret = Secret("")  # SCRM_ARCHIVE_KEYS key string; empty = use key_file
    key_file: Path = Path("var/keys/archive-keys.json")
    retention_days: int = 0  # 0 = keep forever
    finance_sdk_path: str | None = None  # libWeWorkFinanceSdk_C.so; None = no session pull
    finance_secret: Secret = Secret("")  # the 会话内容存档 secret
    rsa_keys: str | None = None  # SCRM_ARCHIVE_RSA_KEYS: directory of v<N>.pem or "N:path,…"


def load_archive(src: Source, var_dir: Path) -> ArchiveSettings:
    return ArchiveSettings(
        keys=src.get("archive_keys", secret, Secret("")),
        key_file=Path(
            src.get("archive_key_file", text, str(var_dir / "keys" / "archive-keys.json"))
        ),
        retention_days=src.get("archive_retention_days", int_in(0, 36500), 0),
        finance_sdk_path=src.get("finance_sdk_path", text, None),
        finance_secret=src.get("archive_finance_secret", secret, Secret("")),
        rsa_keys=src.get("archive_rsa_keys", text, None),
    )
