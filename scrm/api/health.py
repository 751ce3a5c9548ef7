"""Liveness, readiness (database and KV reachable; WeCom's start-up check) and metrics."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from scrm.api.errors import json_error
from scrm.appkeys import SERVICES
from scrm.readiness import WECOM_READINESS

log = logging.getLogger(__name__)
CHECK_TIMEOUT = 2.0


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await services.db.fetch("SELECT 1 AS ok")
        checks["database"] = "ok"
    except Exception as exc:
        log.warning("readiness: database check failed: %s", type(exc).__name__)
        checks["database"] = "unreachable"
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            ok = await services.kv.ping()
        checks["kv"] = "ok" if ok else "unreachable"
    except Exception as exc:
        log.warning("readiness: kv check failed: %s", type(exc).__name__)
        checks["kv"] = "unreachable"
    failed = [name for name, state in checks.items() if state != "ok"]
    if failed:
        return json_error(503, "not_ready", f"unreachable: {', '.join(failed)}")
    # WeCom's verdict is reported, not fatal: intake works without it and must keep taking
    # callbacks (a 503 here would take the process out of a load balancer).
    wecom = request.app.get(WECOM_READINESS)
    if wecom is None:
        return web.json_response({"status": "ready", "checks": checks})
    checks["wecom_customer_api"] = wecom.status
    if wecom.ok:
        return web.json_response({"status": "ready", "checks": checks})
    problem = {"check": "wecom_customer_api", "errcode": wecom.errcode, "message": wecom.message}
    return web.json_response({"status": "degraded", "checks": checks, "problems": [problem]})


async def metrics(request: web.Request) -> web.Response:
    body = request.app[SERVICES].metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def register(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
