"""One session-archive pull: fetch records after a checkpoint, unwrap keys, decrypt each message.

Pure apart from the worker it is given: the caller stores `messages`, parks `failures` in a retry
table, commits, and only then moves its checkpoint to `max_seq` (PROTOCOL §5.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from archive.pull.errors import FinanceSdkError, FinanceWorkerCrashed, FinanceWorkerError
from archive.pull.rsa_keys import RsaKeyRing
from archive.pull.sdk import MAX_LIMIT, ChatDataItem

# A message that segfaults DecryptData would otherwise cost a process start per retry;
# after this many crashes in a row the rest of the batch is parked untried.
MAX_CONSECUTIVE_CRASHES = 3


class FinanceClient(Protocol):
    async def get_chat_data(
        self, seq: int, limit: int = MAX_LIMIT, timeout: float = 10.0
    ) -> list[ChatDataItem]: ...

    async def decrypt(
        self, random_key: str, encrypt_chat_msg: str, timeout: float | None = None
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Failure:
    """A record that could not be decrypted; keep `item` to retry it later without re-pulling."""

    seq: int
    msgid: str
    reason: str
    retryable: bool
    code: int | None = None
    item: ChatDataItem | None = field(default=None, repr=False)


@dataclass(frozen=True)
class PullResult:
    """Decrypted messages (WeCom's JSON plus ``seq``), failures, and the highest seq seen."""

    messages: list[dict[str, Any]]
    failures: list[Failure]
    max_seq: int


async def pull_batch(
    client: FinanceClient,
    rsa_keys: RsaKeyRing,
    last_seq: int,
    limit: int = MAX_LIMIT,
    timeout: float = 10.0,
) -> PullResult:
    """Pull and decrypt records after `last_seq`; errors of GetChatData itself propagate."""
    items = await client.get_chat_data(last_seq, limit, timeout)
    messages: list[dict[str, Any]] = []
    failures: list[Failure] = []
    crashes = 0
    for item in items:
        if crashes >= MAX_CONSECUTIVE_CRASHES:
            reason = f"not tried: worker crashed {crashes} times in a row"
            failures.append(Failure(item.seq, item.msgid, reason, True, item=item))
            continue
        try:
            message = await decrypt_item(client, rsa_keys, item)
        except FinanceSdkError as exc:
            crashes = 0
            failures.append(Failure(item.seq, item.msgid, str(exc), exc.retryable, exc.code, item))
        except FinanceWorkerError as exc:
            crashes = crashes + 1 if isinstance(exc, FinanceWorkerCrashed) else 0
            failures.append(Failure(item.seq, item.msgid, str(exc), True, item=item))
        else:
            crashes = 0
            messages.append(message)
    max_seq = max((item.seq for item in items), default=last_seq)
    return PullResult(messages, failures, max(max_seq, last_seq))


async def decrypt_item(
    client: FinanceClient, rsa_keys: RsaKeyRing, item: ChatDataItem
) -> dict[str, Any]:
    """Unwrap the random key here (keys never leave this process), DecryptData in the worker."""
    random_key = rsa_keys.decrypt_random_key(item.publickey_ver, item.encrypt_random_key)
    message = await client.decrypt(random_key, item.encrypt_chat_msg)
    message["seq"] = item.seq
    return message
