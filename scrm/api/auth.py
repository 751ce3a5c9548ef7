"""Bearer-token authentication for /api/v1, compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from config import Secret
from scrm.api.errors import ApiError

API_PREFIX = "/api/v1"
PUBLIC = frozenset({"/api/v1/openapi.json"})
# The archive authenticates reviewers and auditors itself, and audits refusals.
OWN_AUTH_PREFIXES = ("/api/v1/archive/",)


def bearer_auth(
    token: Secret,
) -> Middleware:
    expected = token.value.encode()

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        path = request.path
        if (
            path.startswith(API_PREFIX)
            and path not in PUBLIC
            and not path.startswith(OWN_AUTH_PREFIXES)
        ):
            header = request.headers.get("Authorization", "")
            scheme, _, given = header.partition(" ")
            if scheme.lower() != "bearer" or not given:
                raise ApiError(401, "unauthorized", "a bearer token is required")
            # tokens are ASCII; a non-UTF-8 byte arrives as a surrogate escape and must be a
            # refusal, not a UnicodeEncodeError (500)
            if not given.isascii() or not hmac.compare_digest(given.strip().encode(), expected):
                raise ApiError(401, "unauthorized", "the bearer token is not valid")
        return await handler(request)

    return middleware
