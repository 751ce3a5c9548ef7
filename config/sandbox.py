"""The sandbox's development credentials, generated once into ``var/`` and kept.

They persist so that a restarted service and `run.py simulate` agree with the sandbox.
"""

from __future__ import annotations

import json
import os
import secrets
import string
from pathlib import Path

# scrm/sandbox/config.py's defaults: the sandbox's mini-program appid and secret.
SANDBOX_MINIPROGRAM = ("wxsandbox00000001", "sandbox-miniprogram-secret")


def generate_dev_credentials() -> dict[str, str]:
    """Make a fresh set of sandbox credentials in WeCom's own formats."""
    alphabet = string.ascii_letters + string.digits
    return {
        "corp_id": "ww" + secrets.token_hex(8),
        "callback_token": "".join(secrets.choice(alphabet) for _ in range(32)),
        "callback_aes_key": "".join(secrets.choice(alphabet) for _ in range(43)),
        "contact_secret": secrets.token_urlsafe(32),
        "agent_id": "1000002",
        "agent_secret": secrets.token_urlsafe(32),
        "admin_token": secrets.token_urlsafe(24),
    }


def dev_credentials(var_dir: Path) -> dict[str, str]:
    """Load the sandbox credentials from ``var/dev-credentials.json``, creating them once."""
    path = var_dir / "dev-credentials.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    var_dir.mkdir(parents=True, exist_ok=True)
    creds = generate_dev_credentials()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(creds, handle, indent=2)
    return creds
