"""`CallbackSender`: plays WeCom posting encrypted, signed callbacks to the service.

Independent of the service's own decryptor (callbacks/crypto.py): encryption is wechatpy's
`PrpCrypto` (the reference implementation the protocol vectors were checked with) and the
signature is computed here. Like WeCom, a delivery that gets no 200 within 5 s is retried up
to 3 times, each retry a fresh encryption (new random prefix) of the same plaintext.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from wechatpy.work.crypto import PrpCrypto

from config import Secret
from scrm.sandbox.config import reveal

log = logging.getLogger(__name__)


def sign(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """msg_signature = sha1 over the sorted, concatenated four strings (PROTOCOL §1.4)."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypt])).encode()).hexdigest()  # noqa: S324


@dataclass(frozen=True)
class Delivery:
    """What happened to one callback: attempts made and the last answer (None: no answer)."""

    attempts: int
    status: int | None
    body: bytes

    @property
    def delivered(self) -> bool:
        return self.status == 200


class CallbackSender:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        token: Secret | str,
        aes_key: Secret | str,
        corp_id: str,
        *,
        agent_id: int | None = None,
        timeout: float = 5.0,
        retries: int = 3,
        retry_delay: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self._session = session
        self._token = reveal(token)
        self._key = base64.b64decode(reveal(aes_key) + "=")
        self._corp_id = corp_id
        self._agent_id = agent_id
        self._timeout = timeout
        self._retries = retries
        self._retry_delay = retry_delay
        self._sleep = sleep
        self._clock = clock

    def encrypt(self, plaintext: str) -> str:
        """Base64 AES-256-CBC of random(16)·len·msg·corp_id, a fresh random prefix every call."""
        return PrpCrypto(self._key).encrypt(plaintext, self._corp_id).decode()

    def envelope(self, plaintext: str) -> tuple[dict[str, str], str]:
        """The query (msg_signature, timestamp, nonce) and XML body of one delivery attempt."""
        encrypt = self.encrypt(plaintext)
        timestamp = str(int(self._clock()))
        nonce = str(secrets.randbelow(10**10))
        query = {
            "msg_signature": sign(self._token, timestamp, nonce, encrypt),
            "timestamp": timestamp,
            "nonce": nonce,
        }
        agent = "" if self._agent_id is None else f"<AgentID><![CDATA[{self._agent_id}]]></AgentID>"
        to_user = f"<ToUserName><![CDATA[{self._corp_id}]]></ToUserName>"
        xml = f"<xml>{to_user}{agent}<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        return query, xml

    async def send(self, plaintext: str) -> Delivery:
        """Deliver ``plaintext`` (an event XML), retrying like WeCom until a 200 or out of tries."""
        status: int | None = None
        body = b""
        for attempt in range(1, self._retries + 2):
            query, xml = self.envelope(plaintext)
            status, body = await self._post(query, xml)
            if status == 200:
                return Delivery(attempt, status, body)
            log.info("callback attempt %d to %s got %s", attempt, self.url, status or "no answer")
            if attempt <= self._retries:
                await self._sleep(self._retry_delay)
        return Delivery(self._retries + 1, status, body)

    async def _post(self, query: dict[str, str], xml: str) -> tuple[int | None, bytes]:
        try:
            async with asyncio.timeout(self._timeout):
                headers = {"Content-Type": "text/xml"}
                async with self._session.post(
                    self.url, params=query, data=xml.encode(), headers=headers
                ) as resp:
                    return resp.status, await resp.read()
        except (TimeoutError, aiohttp.ClientError):
            return None, b""

    async def verify_url(self, url: str | None = None) -> bool:
        """The GET echostr handshake: True when the receiver echoes the decrypted random string."""
        echo = str(secrets.randbelow(10**18))
        echostr = self.encrypt(echo)
        timestamp, nonce = str(int(self._clock())), str(secrets.randbelow(10**10))
        query = {
            "msg_signature": sign(self._token, timestamp, nonce, echostr),
            "timestamp": timestamp,
            "nonce": nonce,
            "echostr": echostr,
        }
        try:
            async with asyncio.timeout(self._timeout):
                async with self._session.get(url or self.url, params=query) as resp:
                    return resp.status == 200 and await resp.read() == echo.encode()
        except (TimeoutError, aiohttp.ClientError):
            return False
