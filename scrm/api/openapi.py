"""Serve the OpenAPI document that describes /api/v1 (kept next to this module)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

SPEC_PATH = Path(__file__).with_name("openapi.json")


def register(app: web.Application) -> None:
    body = SPEC_PATH.read_bytes()

    async def openapi(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app.router.add_get("/api/v1/openapi.json", openapi)
