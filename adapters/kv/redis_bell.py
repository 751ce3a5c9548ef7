"""One Redis pub/sub doorbell: a subscription kept open and read by one background task.

Workers wait about once a second, so subscribing per wait would cost a connection and two
round trips each time. Instead each channel keeps one subscribed connection for the store's
lifetime; its reader task wakes in-process waiters through an `asyncio.Event`.
"""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)

SUBSCRIBE_TIMEOUT = 5.0
RECONNECT_DELAY = 1.0


class RedisBell:
    """Wake every local waiter when a message arrives on one channel."""

    def __init__(self, pubsub: PubSub, channel: str) -> None:
        self._pubsub = pubsub
        self._channel = channel
        self._rung = asyncio.Event()
        self._reader = asyncio.create_task(self._read(), name=f"doorbell {channel}")

    @classmethod
    async def open(cls, client: Redis, channel: str) -> RedisBell:
        """Subscribe and wait for Redis to confirm, so a ring from now on reaches us."""
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(channel)
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is not None and message["type"] == "subscribe":
                        break
        except BaseException:
            await pubsub.aclose()
            raise
        return cls(pubsub, channel)

    async def wait(self, timeout: float) -> bool:
        rung = self._rung
        try:
            async with asyncio.timeout(timeout):
                await rung.wait()
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        self._reader.cancel()
        # asyncio.wait, not `await task`: it never re-raises the task's CancelledError, yet
        # still lets a cancellation of close() itself through.
        await asyncio.wait({self._reader})
        await self._pubsub.aclose()

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=None
                )
            except Exception as error:
                # The next read reconnects and re-subscribes (redis-py's on_connect); rings
                # sent meanwhile are lost, which the workers' database poll covers.
                log.warning("doorbell %s: read failed (%r), retrying", self._channel, error)
                await asyncio.sleep(RECONNECT_DELAY)
                continue
            if message is not None and message["type"] == "message":
                rung, self._rung = self._rung, asyncio.Event()
                rung.set()
