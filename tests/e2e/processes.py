"""Real service processes for crash and multi-process tests: a dev corp, its environment,
starting a process and waiting until it is ready."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from config import Secret
from config.sandbox import generate_dev_credentials
from scrm.sandbox.config import SandboxConfig

ROOT = Path(__file__).resolve().parents[2]


def key() -> str:
    """A fresh 32-byte key as the archive key string takes it."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def dev_corp() -> tuple[dict[str, str], SandboxConfig]:
    """Fresh dev credentials and a sandbox that plays that corp."""
    creds = generate_dev_credentials()
    config = SandboxConfig(
        corp_id=creds["corp_id"],
        contact_secret=Secret(creds["contact_secret"]),
        callback_token=Secret(creds["callback_token"]),
        callback_aes_key=Secret(creds["callback_aes_key"]),
    )
    return creds, config


def service_env(creds: dict[str, str], var_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a production-like service process (no sandbox of its own) for the
    corp ``creds``: the caller's SCRM_* variables left out, ``settings`` added."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SCRM_")} | {
        "SCRM_SANDBOX": "0",
        "SCRM_VAR_DIR": str(var_dir),
        "SCRM_CORP_ID": creds["corp_id"],
        "SCRM_CALLBACK_TOKEN": creds["callback_token"],
        "SCRM_CALLBACK_AES_KEY": creds["callback_aes_key"],
        "SCRM_CONTACT_SECRET": creds["contact_secret"],
        "SCRM_AGENT_ID": "1000002",
        "SCRM_AGENT_SECRET": creds["agent_secret"],
        "SCRM_ADMIN_TOKEN": creds["admin_token"],
        "SCRM_ARCHIVE_KEYS": f"kek1:{key()};active=kek1;index={key()};signing={key()}",
        **settings,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_service(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "run.py", "serve"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def wait_ready(http: aiohttp.ClientSession, url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            async with http.get(url + "/readyz") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("service did not become ready")
