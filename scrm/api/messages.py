"""`POST /api/v1/messages`: chat messages in WeCom's decrypted session-archive shape.

Each item is validated on its own: a malformed one is reported with its index and reason and
the valid ones are still accepted; a msgid seen before is accepted again as a duplicate.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from scrm.api.errors import ApiError, json_body
from scrm.appkeys import INBOX
from scrm.chat import ChatMessageError, parse_chat_message
from scrm.events.inbox import InboxUnavailable, IncomingEvent

MAX_ITEMS = 1000
SOURCE = "api"


async def post_messages(request: web.Request) -> web.Response:
    body = await json_body(request, check_strings=False)  # checked per item below
    if not isinstance(body, list):
        raise ApiError(422, "invalid", "the body must be a JSON array of messages", "body")
    if not body or len(body) > MAX_ITEMS:
        raise ApiError(422, "invalid", f"send between 1 and {MAX_ITEMS} messages", "body")
    results: list[dict[str, Any]] = []
    events: list[tuple[int, IncomingEvent]] = []
    for index, item in enumerate(body):
        try:
            message = parse_chat_message(item)
        except ChatMessageError as exc:  # NUL and lone surrogates included
            results.append(
                {
                    "index": index,
                    "status": "rejected",
                    "field": exc.field or "message",
                    "message": exc.message,
                }
            )
            continue
        events.append((index, message.to_event(SOURCE)))
        results.append({"index": index, "msgid": message.msgid, "status": "accepted"})
    if events:
        try:
            fresh = await request.app[INBOX].store_many([event for _, event in events])
        except InboxUnavailable:
            raise ApiError(503, "unavailable", "the messages could not be stored") from None
        for (index, _), is_new in zip(events, fresh, strict=True):
            if not is_new:
                results[index]["status"] = "duplicate"
    counts = {s: sum(r["status"] == s for r in results) for s in ("accepted", "duplicate")}
    rejected = [r for r in results if r["status"] == "rejected"]
    return web.json_response({**counts, "rejected": rejected, "results": results})


def register(app: web.Application) -> None:
    app.router.add_post("/api/v1/messages", post_messages)
