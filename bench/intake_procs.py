"""Server subprocesses and scratch databases for bench/intake.py, always cleaned up.

Each server runs pinned to one core (core 0) in its own session, so a Ctrl-C in the terminal
reaches only the benchmark, which then stops the servers itself (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
SERVER_CORE = 0
LOAD_CORE = 1
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"


def pin_self_to_load_core() -> bool:
    """Keep the load generator (this process) off the server's core; False if impossible."""
    if os.cpu_count() is None or (os.cpu_count() or 1) < 2:
        return False
    os.sched_setaffinity(0, {LOAD_CORE})
    return True


def steal_ticks() -> dict[int, int]:
    """Per-core time the hypervisor ran someone else (``steal`` in /proc/stat), in ticks.

    On a VM, steal on the server's core shows up as latency no code change can remove.
    """
    ticks = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and len(values) >= 8:
            ticks[int(name[3:])] = int(values[7])
    return ticks


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(argv: list[str], core: int) -> list[str]:
    """Prefix ``taskset -c core`` (it execs, so the pid stays the server's own)."""
    taskset = shutil.which("taskset")
    return [taskset, "-c", str(core), *argv] if taskset else argv


@dataclass
class Server:
    """A running server subprocess and where its output goes."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def cpu_seconds(self) -> float:
        """User + system CPU of the whole process (all threads), from /proc."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def get(self, path: str, timeout: float = 2.0) -> bytes:
        url = f"http://127.0.0.1:{self.port}{path}"
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return bytes(answer.read())

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (the servers shut down cleanly on it), SIGKILL if that takes too long."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(
    name: str,
    argv: list[str],
    port: int,
    log_path: Path,
    *,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    ready_timeout: float = 60.0,
) -> Server:
    """Start ``argv`` on the server core and wait until GET /healthz answers."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            pinned(argv, SERVER_CORE),
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(name, process, port, log_path)
    if stdin is not None and process.stdin is not None:
        process.stdin.write(stdin)
        process.stdin.close()
    deadline = time.monotonic() + ready_timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{server.log_tail()}")
        try:
            server.get("/healthz", timeout=1.0)
            return server
        except OSError:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(
                    f"{name} did not answer /healthz:\n{server.log_tail()}"
                ) from None
            time.sleep(0.1)


def python() -> str:
    return sys.executable


async def create_pg_database(server: str = PG_ADMIN_URL, query: str = "") -> str:
    """Create ``scrm_bench_<random>`` on ``server`` and return its URL (plus ``query``, e.g.
    ``maxsize=30`` for a bigger connection pool). Every benchmark's scratch database."""
    import asyncpg

    name = f"scrm_bench_{secrets.token_hex(5)}"
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = urlsplit(server)._replace(path="/" + name).geturl()
    return f"{url}?{query}" if query else url


async def drop_pg_database(url: str, server: str = PG_ADMIN_URL) -> None:
    import asyncpg

    name = urlsplit(url).path.lstrip("/")
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def count_events(database_url: str) -> tuple[int, int]:
    """(events, handler_runs) stored, read straight from the database."""
    if database_url.startswith("sqlite://"):
        path = database_url.removeprefix("sqlite://").split("?", 1)[0]
        with sqlite3.connect(path) as conn:
            events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
            runs = conn.execute("SELECT count(*) FROM handler_runs").fetchone()[0]
        return int(events), int(runs)
    return asyncio.run(_count_pg(database_url))


async def _count_pg(url: str) -> tuple[int, int]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        events = await conn.fetchval("SELECT count(*) FROM events")
        runs = await conn.fetchval("SELECT count(*) FROM handler_runs")
    finally:
        await conn.close()
    return int(events), int(runs)


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False
