"""HTTP intake for WeCom callbacks: verify, decrypt, parse, make durable, then answer.

The order is strict (STYLE.md, PROTOCOL §1): raw bytes with a size cap → constant-time
signature check → timestamp window → decrypt → parse → durable inbox commit → HTTP 200 with an
empty body. Nothing outbound happens before the answer. Every refusal is counted by reason and
answered with a precise status: 403 for a forged signature or a replayed (stale) timestamp,
400 for everything malformed; a failed commit answers 503 so that WeCom retries.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from aiohttp import web

from callbacks.crypto import CallbackCrypto, CallbackCryptoError, SignatureError
from callbacks.dedupe import dedupe_key
from callbacks.parsing import MalformedPayload, event_name, occurred_at, parse_envelope, parse_event
from scrm.api.errors import json_error
from scrm.events.inbox import Inbox, InboxUnavailable, IncomingEvent
from scrm.logsafe import loggable
from scrm.metrics import Metrics
from scrm.storable import UnstorableText, check_storable

log = logging.getLogger(__name__)

SOURCE = "wecom_callback"
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII digits; a float holds every such int exactly


class Rejected(Exception):
    """A callback refused before anything was stored."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


class WeComCallbackView:
    """``GET`` URL verification and ``POST`` event intake on one path."""

    def __init__(
        self,
        crypto: CallbackCrypto,
        inbox: Inbox,
        metrics: Metrics,
        *,
        corp_id: str,
        max_skew: int,
        max_body: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._crypto = crypto
        self._inbox = inbox
        self._metrics = metrics
        self._corp_id = corp_id
        self._max_skew = max_skew
        self._max_body = max_body
        self._clock = clock

    def register(self, app: web.Application, path: str = "/wecom/callback") -> None:
        app.router.add_get(path, self.verify_url)
        app.router.add_post(path, self.receive)

    async def verify_url(self, request: web.Request) -> web.Response:
        """Answer WeCom's echostr handshake with the decrypted plaintext, byte for byte."""
        try:
            signature, timestamp, nonce = self._signed_query(request)
            echostr = request.query.get("echostr")
            if not echostr:
                raise Rejected(400, "missing_parameter", "echostr is required")
            self._check(signature, timestamp, nonce, echostr)
            plaintext = self._decrypt(echostr)
        except Rejected as exc:
            return self._reject(request, exc)
        self._metrics.callbacks.labels(outcome="verified").inc()
        return web.Response(body=plaintext, content_type="text/plain")

    async def receive(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        try:
            event = await self._read_event(request)
        except Rejected as exc:
            return self._reject(request, exc)
        try:
            is_new = await self._inbox.store(event)
        except InboxUnavailable:
            self._metrics.callbacks.labels(outcome="unavailable").inc()
            return json_error(503, "unavailable", "the event could not be stored; retry later")
        self._metrics.callbacks.labels(outcome="accepted" if is_new else "duplicate").inc()
        self._metrics.callback_seconds.observe(time.perf_counter() - started)
        return web.Response(status=200)

    async def _read_event(self, request: web.Request) -> IncomingEvent:
        signature, timestamp, nonce = self._signed_query(request)
        body = await self._read_body(request)
        try:
            envelope = parse_envelope(body)
        except MalformedPayload as exc:
            raise Rejected(400, exc.reason, "the body is not a WeCom callback envelope") from None
        self._check(signature, timestamp, nonce, envelope.encrypt)
        plaintext = self._decrypt(envelope.encrypt)
        try:
            payload = parse_event(plaintext)
            name = event_name(payload)
        except MalformedPayload as exc:
            raise Rejected(400, exc.reason, "the decrypted event is malformed") from None
        try:  # JSON mode can carry \u0000 or a lone \ud800, which no database stores
            check_storable(payload)
        except UnstorableText as exc:
            raise Rejected(
                400, "bad_text", f"the decrypted event's {exc.field or 'body'} {exc.reason}"
            ) from None
        if payload.get("ToUserName") != self._corp_id:
            raise Rejected(400, "wrong_corp", "the event is addressed to another corp")
        return IncomingEvent(
            dedupe_key=dedupe_key(plaintext, payload),
            name=name,
            source=SOURCE,
            payload=payload,
            occurred_at=occurred_at(payload),
        )

    @staticmethod
    def _signed_query(request: web.Request) -> tuple[str, str, str]:
        query = request.query
        missing = [k for k in ("msg_signature", "timestamp", "nonce") if not query.get(k)]
        if missing:
            raise Rejected(400, "missing_parameter", f"{missing[0]} is required")
        return query["msg_signature"], query["timestamp"], query["nonce"]

    async def _read_body(self, request: web.Request) -> bytes:
        if request.content_length is not None and request.content_length > self._max_body:
            raise Rejected(400, "too_large", f"the body exceeds {self._max_body} bytes")
        body = await request.content.read(self._max_body + 1)
        if len(body) > self._max_body:
            raise Rejected(400, "too_large", f"the body exceeds {self._max_body} bytes")
        return body

    def _check(self, signature: str, timestamp: str, nonce: str, signed: str) -> None:
        try:
            self._crypto.verify_signature(signature, timestamp, nonce, signed)
        except SignatureError:
            raise Rejected(403, "bad_signature", "msg_signature does not match") from None
        if not _TIMESTAMP.fullmatch(timestamp):  # int() also reads "١", "+1" and 400 digits
            raise Rejected(400, "bad_timestamp", "timestamp must be unix seconds")
        sent_at = int(timestamp)
        if abs(self._clock() - sent_at) > self._max_skew:
            raise Rejected(403, "stale_timestamp", "timestamp is outside the accepted window")

    def _decrypt(self, encrypt: str) -> bytes:
        try:
            return self._crypto.decrypt(encrypt)
        except CallbackCryptoError as exc:
            reason = "wrong_corp" if exc.reason == "wrong_receiver" else exc.reason
            raise Rejected(400, reason, "the payload could not be decrypted") from None

    def _reject(self, request: web.Request, exc: Rejected) -> web.Response:
        self._metrics.callbacks.labels(outcome="rejected").inc()
        self._metrics.callback_rejections.labels(reason=exc.reason).inc()
        log.info("callback refused from %s: %s", loggable(request.remote), exc.reason)
        return json_error(exc.status, exc.reason, exc.message)
