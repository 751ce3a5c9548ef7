"""Run the finance SDK in a child process so a segfault costs one call, not the service.

`FinanceWorkerClient` starts ``python -m archive.pull.sdk_child`` on first use, sends it one
framed request at a time (`archive.pull.wire`), and when the child dies or hangs raises
`FinanceWorkerCrashed` / `FinanceWorkerTimeout`; the next call starts a fresh child.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import sys
from pathlib import Path
from typing import Any, Self

from archive.pull.errors import (
    FinanceSdkError,
    FinanceWorkerCrashed,
    FinanceWorkerError,
    FinanceWorkerTimeout,
)
from archive.pull.sdk import MAX_LIMIT, ChatDataItem
from archive.pull.wire import Frame, FrameError, encode_frame, read_frame
from config import Secret

log = logging.getLogger(__name__)

_ROOT = Path(__file__).resolve().parents[1]


class FinanceWorkerClient:
    """Async facade over one worker process; calls are serialised, the child is restarted lazily."""

    def __init__(
        self,
        library_path: str | os.PathLike[str],
        corp_id: str,
        secret: str | Secret,
        *,
        proxy: str = "",
        proxy_password: str | Secret = "",
        call_timeout: float = 10.0,
        start_timeout: float = 15.0,
        grace: float = 5.0,
    ) -> None:
        self._library = os.fspath(library_path)
        self._corp_id = corp_id
        self._secret = secret if isinstance(secret, Secret) else Secret(secret)
        self._proxy = proxy
        self._proxy_password = (
            proxy_password if isinstance(proxy_password, Secret) else Secret(proxy_password)
        )
        self._call_timeout = call_timeout
        self._start_timeout = start_timeout
        # GetChatData has its own network timeout; the pipe round trip gets `grace` on top of it.
        self._grace = grace
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self.restarts = 0  # workers lost (crash, hang, failed init); a metric for the integrator

    def __repr__(self) -> str:
        return f"FinanceWorkerClient(library={self._library!r}, corp_id={self._corp_id!r})"

    @property
    def pid(self) -> int | None:
        """The running worker's pid, or None when no worker is alive."""
        if self._proc is None or self._proc.returncode is not None:
            return None
        return self._proc.pid

    async def get_chat_data(
        self, seq: int, limit: int = MAX_LIMIT, timeout: float = 10.0
    ) -> list[ChatDataItem]:
        """Records after `seq`; `timeout` is the SDK's network timeout in seconds."""
        sdk_timeout = max(1, math.ceil(timeout))
        request = {"op": "get_chat_data", "seq": seq, "limit": limit, "timeout": sdk_timeout}
        result = await self._call(request, timeout=sdk_timeout + self._grace)
        return [ChatDataItem(**item) for item in result]

    async def decrypt(
        self, random_key: str, encrypt_chat_msg: str, timeout: float | None = None
    ) -> dict[str, Any]:
        """DecryptData in the worker; `random_key` is the RSA-unwrapped key (never logged)."""
        request = {"op": "decrypt", "random_key": random_key, "encrypt_chat_msg": encrypt_chat_msg}
        result = await self._call(request, timeout=timeout or self._call_timeout)
        return dict(result)

    async def close(self) -> None:
        """Ask the worker to exit (it runs DestroySdk), kill it if it will not; no zombies left."""
        async with self._lock:
            proc, self._proc = self._proc, None
            if proc is None:
                return
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                async with asyncio.timeout(5.0):
                    await proc.wait()
            except TimeoutError:
                await _kill(proc)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def _call(self, request: Frame, timeout: float) -> Any:
        async with self._lock:
            proc = await self._ensure_started()
            return await self._roundtrip(proc, request, timeout)

    async def _ensure_started(self) -> asyncio.subprocess.Process:
        if self._proc is not None and self._proc.returncode is None:
            return self._proc
        if self._proc is not None:  # died while idle: reap it before replacing it
            await self._discard(self._proc)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "archive.pull.sdk_child",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=_child_env(),
        )
        self._proc = proc
        log.info("finance worker started (pid %s)", proc.pid)
        init = {
            "op": "init",
            "library": self._library,
            "corp_id": self._corp_id,
            "secret": self._secret.value,
            "proxy": self._proxy,
            "proxy_password": self._proxy_password.value,
        }
        try:
            await self._roundtrip(proc, init, self._start_timeout)
        except FinanceSdkError:
            await self._discard(proc)
            raise
        return proc

    async def _roundtrip(
        self, proc: asyncio.subprocess.Process, request: Frame, timeout: float
    ) -> Any:
        op = str(request["op"])
        assert proc.stdin is not None and proc.stdout is not None
        frame = encode_frame(request)
        try:
            async with asyncio.timeout(timeout):
                proc.stdin.write(frame)
                await proc.stdin.drain()
                response = await read_frame(proc.stdout)
        except TimeoutError:
            log.warning("finance worker (pid %s) hung in %s; killing it", proc.pid, op)
            await self._discard(proc, grace=0.0)
            raise FinanceWorkerTimeout(op, timeout) from None
        except asyncio.CancelledError:  # an answer may still come: this pipe is out of step now
            await asyncio.shield(self._discard(proc, grace=0.0))
            raise
        except (asyncio.IncompleteReadError, ConnectionError, FrameError):
            returncode = await self._discard(proc)
            error = FinanceWorkerCrashed(returncode, op)
            log.warning("%s; a new worker starts on the next call", error)
            raise error from None
        if response.get("ok"):
            return response.get("result")
        if response.get("kind") == "sdk":
            raise FinanceSdkError(int(response["code"]), str(response.get("detail", "")))
        if op == "init":
            await self._discard(proc)
        raise FinanceWorkerError(f"finance worker failed in {op}: {response.get('detail')}")

    async def _discard(self, proc: asyncio.subprocess.Process, grace: float = 1.0) -> int | None:
        """Kill (if needed) and reap a worker we no longer trust; return its exit status."""
        if self._proc is proc:
            self._proc = None
            self.restarts += 1
        if proc.stdin is not None:
            proc.stdin.close()
        return await _kill(proc, grace)


async def _kill(proc: asyncio.subprocess.Process, grace: float = 0.0) -> int | None:
    """Wait up to `grace` seconds for a dying process to report why, then SIGKILL and reap it."""
    if proc.returncode is None and grace > 0:
        try:
            async with asyncio.timeout(grace):
                return await proc.wait()
        except TimeoutError:
            pass
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):  # it died between the check and the kill
            proc.kill()
    return await proc.wait()


def _child_env() -> dict[str, str]:
    """The service's environment, with the repository importable however the service was run."""
    env = dict(os.environ)
    paths = [str(_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env
