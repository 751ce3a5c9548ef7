"""The Python load generator for bench/intake.py: pre-built raw HTTP requests, closed and open loop.

aiohttp's client spends far more CPU per request than a bare aiohttp server, so it would be
the bottleneck long before the servers under test. This generator writes pre-encoded
HTTP/1.1 keep-alive requests straight to asyncio transports and parses only the status line
and Content-Length of each answer: a few microseconds of Python per request.
"""

from __future__ import annotations

import asyncio
import gc
import re
import resource
import secrets
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from callbacks.crypto import CallbackCrypto
from scrm.sandbox.events import add_external_contact

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection:[ \t]*close", re.IGNORECASE)
CALLBACK_PATH = "/wecom/callback"


@dataclass(frozen=True)
class Credentials:
    """What a WeCom peer needs to sign and encrypt callbacks for one receiver."""

    corp_id: str
    token: str
    aes_key: str


@dataclass(frozen=True)
class SignedCallback:
    """One distinct callback: the query string and the XML envelope."""

    path: str
    body: bytes


def make_callbacks(creds: Credentials, count: int, tag: str) -> list[SignedCallback]:
    """Build ``count`` distinct signed callbacks (distinct ExternalUserID, so none dedupes)."""
    crypto = CallbackCrypto(creds.token, creds.aes_key, creds.corp_id)
    timestamp = str(int(time.time()))
    out = []
    for n in range(count):
        plaintext = add_external_contact(
            creds.corp_id, "zhangsan", f"wm{tag}{n:08d}", create_time=int(timestamp)
        )
        encrypt = crypto.encrypt(plaintext.encode("utf-8"))
        nonce = secrets.token_hex(5)
        query = urlencode(
            {
                "msg_signature": crypto.signature(timestamp, nonce, encrypt),
                "timestamp": timestamp,
                "nonce": nonce,
            }
        )
        body = (
            f"<xml><ToUserName><![CDATA[{creds.corp_id}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypt}]]></Encrypt>"
            "<AgentID><![CDATA[1000002]]></AgentID></xml>"
        )
        out.append(SignedCallback(f"{CALLBACK_PATH}?{query}", body.encode("ascii")))
    return out


def raw_requests(callbacks: list[SignedCallback], host: str, port: int) -> list[bytes]:
    """Encode each callback as a complete HTTP/1.1 keep-alive request."""
    return [
        (
            f"POST {cb.path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: text/xml\r\nContent-Length: {len(cb.body)}\r\n\r\n"
        ).encode("ascii")
        + cb.body
        for cb in callbacks
    ]


@dataclass
class Tally:
    """What one phase saw; latencies in seconds."""

    sent: int = 0
    ok: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    dropped: int = 0  # connection lost or no answer before the deadline
    latencies: list[float] = field(default_factory=list)
    send_lag: list[float] = field(default_factory=list)  # paced only: actual − scheduled send
    from_send: list[float] = field(default_factory=list)  # paced only: latency from actual send
    elapsed: float = 0.0
    cpu: float = 0.0  # generator CPU seconds during the phase

    def answer(self, status: int, latency: float) -> None:
        if status == 200:
            self.ok += 1
        else:
            self.statuses[status] = self.statuses.get(status, 0) + 1
        self.latencies.append(latency)

    @property
    def errors(self) -> int:
        return self.sent - self.ok


def cpu_seconds() -> float:
    """This process's CPU time (user + system), to tell whether the generator saturated."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying at most one request at a time."""

    def __init__(
        self,
        on_answer: Callable[[_Connection, int], None],
        on_lost: Callable[[_Connection], None],
    ) -> None:
        self._on_answer = on_answer
        self._on_lost = on_lost
        self._buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False
        self.open = False
        self.started = 0.0  # the time latency counts from (scheduled or actual send)
        self.sent_at = 0.0  # the actual send

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.open = True

    def send(self, request: bytes, started: float) -> None:
        assert self.transport is not None
        self.busy = True
        self.started = started
        self.sent_at = time.perf_counter()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while self.busy:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end])
            match = _CONTENT_LENGTH.search(head)
            total = end + 4 + (int(match.group(1)) if match else 0)
            if len(buffer) < total:
                return
            del buffer[:total]
            self.busy = False
            if _CLOSE.search(head):
                self.open = False
            self._on_answer(self, int(head[9:12]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if self.busy:
            self.busy = False
            self._on_lost(self)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def _connect(
    host: str,
    port: int,
    count: int,
    on_answer: Callable[[_Connection, int], None],
    on_lost: Callable[[_Connection], None],
) -> list[_Connection]:
    loop = asyncio.get_running_loop()
    conns = []
    for _ in range(count):
        _, conn = await loop.create_connection(lambda: _Connection(on_answer, on_lost), host, port)
        conns.append(conn)
    return conns


class _Quiet:
    """Keep the collector out of the timed part: collect, freeze, disable; re-enable after.

    Also shortens the GIL switch interval, so the paced ticker thread gets the interpreter
    within a fraction of a millisecond when it wakes, not after the default 5 ms.
    """

    def __enter__(self) -> None:
        gc.collect()
        gc.freeze()
        gc.disable()
        self._switch = sys.getswitchinterval()
        sys.setswitchinterval(0.0001)

    def __exit__(self, *exc: object) -> None:
        sys.setswitchinterval(self._switch)
        gc.enable()
        gc.unfreeze()


async def closed_loop(
    host: str, port: int, requests: list[bytes], *, connections: int, duration: float
) -> Tally:
    """Keep ``connections`` requests in flight until ``duration`` passes or requests run out.

    After the deadline no new request starts, and every request in flight is awaited, so
    each request sent has an answer (or counts as dropped) and the server's store can be
    compared with the 200s exactly.
    """
    tally = Tally()
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    state = {"next": 0, "active": 0}
    deadline = float("inf")

    def retire() -> None:
        state["active"] -= 1
        if state["active"] == 0 and not done.done():
            done.set_result(None)

    def start(conn: _Connection, now: float) -> None:
        index = state["next"]
        if now >= deadline or index >= len(requests) or not conn.open:
            retire()
            return
        state["next"] = index + 1
        tally.sent += 1
        conn.send(requests[index], now)

    def on_answer(conn: _Connection, status: int) -> None:
        now = time.perf_counter()
        tally.answer(status, now - conn.started)
        start(conn, now)

    def on_lost(conn: _Connection) -> None:
        tally.dropped += 1
        retire()

    conns = await _connect(host, port, connections, on_answer, on_lost)
    try:
        with _Quiet():
            cpu0 = cpu_seconds()
            begin = time.perf_counter()
            deadline = begin + duration
            state["active"] = len(conns)
            for conn in conns:
                start(conn, begin)
            if state["active"]:
                try:
                    await asyncio.wait_for(asyncio.shield(done), duration + 30)
                except TimeoutError:
                    tally.dropped += sum(1 for conn in conns if conn.busy)
            tally.elapsed = time.perf_counter() - begin
            tally.cpu = cpu_seconds() - cpu0
    finally:
        for conn in conns:
            conn.close()
    return tally


async def paced(
    host: str,
    port: int,
    requests: list[bytes],
    *,
    rate: float,
    duration: float,
    connections: int,
    drain_timeout: float = 10.0,
) -> Tally:
    """Open loop: send request i at ``start + i / rate`` whatever the answers do.

    Latency counts from the scheduled time, so a slow server (or a late generator) cannot
    hide behind a queue (no coordinated omission); ``send_lag`` shows the generator's part.
    When every connection is busy the request waits for one, its clock already running.
    """
    tally = Tally()
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    idle: deque[_Connection] = deque()
    waiting: deque[tuple[bytes, float]] = deque()
    state = {"outstanding": 0, "scheduled_all": False}

    def finish_one() -> None:
        state["outstanding"] -= 1
        if state["scheduled_all"] and state["outstanding"] == 0 and not done.done():
            done.set_result(None)

    def on_answer(conn: _Connection, status: int) -> None:
        now = time.perf_counter()
        tally.answer(status, now - conn.started)
        tally.from_send.append(now - conn.sent_at)
        if conn.open:
            if waiting:
                request, scheduled = waiting.popleft()
                conn.send(request, scheduled)
            else:
                idle.append(conn)
        finish_one()

    def on_lost(conn: _Connection) -> None:
        tally.dropped += 1
        finish_one()

    conns = await _connect(host, port, connections, on_answer, on_lost)
    idle.extend(conns)
    total = min(len(requests), int(rate * duration))
    scheduled_all = asyncio.Event()

    def send(index: int, scheduled: float) -> None:
        tally.send_lag.append(time.perf_counter() - scheduled)
        tally.sent += 1
        state["outstanding"] += 1
        while idle and not idle[-1].open:
            idle.pop()
        if idle:
            idle.pop().send(requests[index], scheduled)
        else:
            waiting.append((requests[index], scheduled))
        if index == total - 1:
            scheduled_all.set()

    try:
        with _Quiet():
            cpu0 = cpu_seconds()
            begin = time.perf_counter() + 0.01
            stop = threading.Event()
            ticker = threading.Thread(
                target=_tick, args=(loop, send, begin, rate, total, stop), daemon=True
            )
            ticker.start()
            try:
                if total:
                    await scheduled_all.wait()
            finally:
                stop.set()
                ticker.join()
            state["scheduled_all"] = True
            if state["outstanding"] and not done.done():
                try:
                    await asyncio.wait_for(asyncio.shield(done), drain_timeout)
                except TimeoutError:
                    tally.dropped += state["outstanding"]
            tally.elapsed = time.perf_counter() - begin
            tally.cpu = cpu_seconds() - cpu0
    finally:
        for conn in conns:
            conn.close()
    return tally


def _tick(
    loop: asyncio.AbstractEventLoop,
    send: Callable[[int, float], None],
    begin: float,
    rate: float,
    total: int,
    stop: threading.Event,
) -> None:
    """Hand request i to the event loop at ``begin + i / rate``, sleeping in between.

    A thread's sleep is precise to tens of microseconds while asyncio's timers round up to
    whole milliseconds; spinning the event loop instead would burn the load core, and the
    database server that shares it would pay for that in latency that is not the service's.
    """
    for index in range(total):
        scheduled = begin + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        if stop.is_set() or loop.is_closed():
            return
        loop.call_soon_threadsafe(send, index, scheduled)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]
