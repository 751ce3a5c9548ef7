"""Archive handlers: store every chat message encrypted before the inbox strips its content."""

from __future__ import annotations

from archive.store import store_messages
from scrm.chat import EVENT_NAME, ChatMessageError
from scrm.events.errors import PermanentError, Retry
from scrm.events.router import EventRecord, Router
from scrm.services import Services

router = Router("archive")


@router.on(EVENT_NAME, name="store")
async def store_chat_message(event: EventRecord, services: Services) -> None:
    """Encrypt, chain, blind-index and store; a msgid stored before is a no-op."""
    if services.archive is None:
        raise Retry("the archive is not open yet", defer=30.0)
    try:
        await store_messages(services.archive, [event.payload])
    except ChatMessageError as exc:
        raise PermanentError(f"chat message invalid: {exc.field}") from None
