"""Archive handlers: store every chat message encrypted before the inbox strips its content."""

from __future__ import annotations

from collections.abc import Sequence

from archive.pull.errors import FinanceSdkError, FinanceWorkerError
from archive.pull.puller import catch_up
from archive.store.write import store_messages
from scrm.chat import EVENT_NAME, ChatMessageError
from scrm.events.errors import PermanentError, Retry
from scrm.events.router import EventRecord, Router
from scrm.services import Services

router = Router("archive")


@router.on_batch(EVENT_NAME, name="store")
async def store_chat_messages(events: Sequence[EventRecord], services: Services) -> None:
    """Encrypt, chain, blind-index and store, a worker's whole claim in one transaction; a
    msgid stored before is a no-op. All or nothing: the worker retries a failed batch one
    message at a time, so an invalid message fails alone."""
    if services.archive is None:
        raise Retry("the archive is not open yet", defer=30.0)
    try:
        await store_messages(services.archive, [event.payload for event in events])
    except ChatMessageError as exc:
        raise PermanentError(f"chat message invalid: {exc.field}") from None


@router.on("msgaudit_notify", name="pull")
async def pull_session_archive(event: EventRecord, services: Services) -> None:
    """WeCom says new archive records exist: pull them into the inbox as chat messages."""
    runtime = services.archive
    if runtime is None:
        raise Retry("the archive is not open yet", defer=30.0)
    try:
        await catch_up(runtime, services.clock())  # nothing without a finance SDK configured
    except FinanceSdkError as exc:
        if not exc.retryable:
            raise PermanentError(f"session-archive pull refused: SDK error {exc.code}") from None
        raise Retry(f"session-archive pull failed: SDK error {exc.code}") from None
    except FinanceWorkerError as exc:
        raise Retry(f"session-archive pull failed: {type(exc).__name__}") from None
