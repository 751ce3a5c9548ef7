"""A data key wrapped under a KEK missing from the ring stops the service at start."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


async def run(env: dict[str, str], *argv: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "run.py", *argv, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_service_refuses_to_start_without_the_kek(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRM_")}
    env |= {"SCRM_VAR_DIR": str(tmp_path), "SCRM_PORT": "0", "SCRM_SANDBOX_PORT": "0"}
    message = {
        "msgid": "k1", "action": "send", "from": "wmX", "tolist": ["zhangsan"], "roomid": "",
        "msgtime": int(time.time() * 1000), "msgtype": "text", "text": {"content": "hello"},
    }  # fmt: skip
    source = tmp_path / "m.jsonl"
    source.write_text(json.dumps(message) + "\n")
    code, out = await run(env, "archive", "import", str(source))  # dev key file: kek1
    assert code == 0, out
    env["SCRM_ARCHIVE_KEYS"] = f"kek9:{key()};active=kek9;index={key()};signing={key()}"
    code, out = await run(env, "serve")
    assert code == 2
    assert "refusing to start" in out and "kek1" in out
    assert "Traceback" not in out
