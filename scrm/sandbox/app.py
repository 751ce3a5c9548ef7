"""`create_sandbox_app`: the WeCom peer as one aiohttp app, and `SandboxServer` to run it.

The middleware is where the sandbox behaves like WeCom for every API path: it parses the
JSON body (40058 "wrong json format" on garbage), applies injected faults, turns `ApiError`
into the errcode envelope, answers an unknown path (errcode 404) or a wrong method (40058)
in that same JSON envelope rather than as plain-text HTTP errors, and records the call.
``/_sandbox/...`` admin paths skip all of that.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web, web_log

from adapters.wecom.errors import scrub
from scrm.sandbox import (
    admin,
    contact_ways,
    contacts,
    messages,
    miniprogram,
    oauth,
    tags,
    tokens,
)
from scrm.sandbox.config import SandboxConfig
from scrm.sandbox.persist import StateSaver
from scrm.sandbox.sender import CallbackSender
from scrm.sandbox.state import STATE, SandboxState
from scrm.sandbox.wire import ERRCODE, JSON_BODY, ApiError, answer, parse_body

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# No public errcode names an unknown API path; the sandbox answers 404 inside the usual
# errcode envelope (HTTP 200), so clients classify it like any other terminal errcode.
UNKNOWN_PATH = 404
SESSION = web.AppKey("scrm_sandbox_session", aiohttp.ClientSession)
SAVER = web.AppKey("scrm_sandbox_saver", StateSaver)


@web.middleware
async def persist_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """After every call, in case it changed the corp: save the state (debounced) if kept."""
    try:
        return await handler(request)
    finally:
        saver = request.app.get(SAVER)
        if saver is not None:
            saver.touch()


@web.middleware
async def wecom_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/_sandbox"):
        return await handler(request)
    state = request.app[STATE]
    payload: Any = None
    try:
        payload = await parse_body(request)
        if payload is not None:
            request[JSON_BODY] = payload
        response: web.StreamResponse | None = None
        fault = state.faults.take(request.path)
        if fault is not None:
            response = await state.faults.apply(fault, state.config.hang_seconds)
        if response is None:
            response = await handler(request)
    except ApiError as exc:
        response = answer(exc.errcode, exc.errmsg)
    except web.HTTPNotFound:
        response = answer(UNKNOWN_PATH, f"api not found: {request.path}")
    except web.HTTPMethodNotAllowed as exc:
        # PROTOCOL §4.12: 40058 covers "GET vs POST"; the answer names the method wanted.
        allowed = "/".join(sorted(exc.allowed_methods))
        response = answer(40058, f"invalid parameter, {allowed} request required")
    except web.HTTPException as exc:
        state.calls.record(request, payload, None, exc.status)
        raise
    state.calls.record(request, payload, response.get(ERRCODE), response.status)
    return response


def callback_sender(app: web.Application) -> CallbackSender | None:
    """A sender to the service's callback URL, or None when none is configured yet."""
    state = app[STATE]
    config = state.config
    if not state.callback_url or not config.callback_aes_key:
        return None
    return CallbackSender(
        app[SESSION],
        state.callback_url,
        config.callback_token,
        config.callback_aes_key,
        config.corp_id,
        timeout=config.callback_timeout,
        retries=config.callback_retries,
        retry_delay=config.callback_retry_delay,
        clock=config.clock,
    )


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as session:
        app[SESSION] = session
        yield


async def _release_hangs(app: web.Application) -> None:
    app[STATE].faults.release.set()


async def _save_state(app: web.Application) -> None:
    app[SAVER].close()


def create_sandbox_app(config: SandboxConfig, state: SandboxState | None = None) -> web.Application:
    """Build the sandbox; pass ``state`` to keep a handle on it for direct setup in tests.

    With ``config.state_file`` the corp is loaded from that file now and saved back to it.
    """
    app = web.Application(middlewares=[persist_middleware, wecom_middleware])
    app[STATE] = state or SandboxState(config)
    if config.state_file is not None:
        app[SAVER] = StateSaver.open(app[STATE], config.state_file, config.state_save_delay)
        app.on_cleanup.append(_save_state)
    app.cleanup_ctx.append(_client_session)
    app.on_shutdown.append(_release_hangs)
    for area in (tokens, contacts, contact_ways, tags, messages, oauth, miniprogram, admin):
        area.register(app)
    return app


class ScrubbedAccessLogger(web_log.AccessLogger):
    """The access log without credential values: the service's tokens pass through here."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if self.logger.isEnabledFor(logging.INFO):
            self.logger.info(
                "%s %s %s %.1fms",
                request.method,
                scrub(request.path_qs),
                response.status,
                time * 1000,
            )


class SandboxServer:
    """Run the sandbox on 127.0.0.1 (port 0: any free port) as ``async with SandboxServer(c)``."""

    def __init__(self, config: SandboxConfig, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = SandboxState(config)
        self.app = create_sandbox_app(config, self.state)
        self._host, self._port = host, port
        self._runner = web.AppRunner(
            self.app, shutdown_timeout=1.0, access_log_class=ScrubbedAccessLogger
        )
        self.url = ""

    async def start(self) -> str:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://{self._host}:{port}"
        return self.url

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def __aenter__(self) -> SandboxServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
