"""pull_batch: every record ends up a message or a failure, and max_seq is the highest seen."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from archive.pull.batch import MAX_CONSECUTIVE_CRASHES, pull_batch
from archive.pull.errors import FinanceSdkError, FinanceWorkerCrashed
from archive.pull.rsa_keys import RsaKeyRing
from archive.pull.sdk import ChatDataItem
from archive.pull.sdk_worker import FinanceWorkerClient
from tests.archive.finance_fake import (
    CORP_ID,
    SECRET,
    SEQ_NETWORK_ERROR,
    FakeArchive,
    compile_fake,
    wrap_random_key,
    write_keys,
)


@pytest.fixture(scope="session")
def fake_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_fake(tmp_path_factory.mktemp("finance_pull"))


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeArchive:
    path = tmp_path / "chatdata.tsv"
    monkeypatch.setenv("FAKE_FINANCE_SDK_DATA", str(path))
    return FakeArchive(path)


@pytest.fixture
def keys(tmp_path: Path) -> RsaKeyRing:
    return RsaKeyRing.from_spec(str(write_keys(tmp_path / "keys", (1, 2))))


@pytest.fixture
async def client(fake_library: Path, archive: FakeArchive) -> AsyncIterator[FinanceWorkerClient]:
    async with FinanceWorkerClient(fake_library, CORP_ID, SECRET, call_timeout=5.0) as client:
        yield client


async def test_clean_batch_decrypts_everything(
    client: FinanceWorkerClient, archive: FakeArchive, keys: RsaKeyRing
) -> None:
    for seq in (11, 12, 13):
        archive.add(seq, version=2 if seq == 13 else 1)
    result = await pull_batch(client, keys, last_seq=10)
    assert result.failures == []
    assert [m["seq"] for m in result.messages] == [11, 12, 13]
    assert result.messages[2] == {**archive.messages[13], "seq": 13}
    assert result.max_seq == 13


@pytest.mark.slow
async def test_undecryptable_records_become_failures_never_gaps(
    client: FinanceWorkerClient, archive: FakeArchive, keys: RsaKeyRing
) -> None:
    archive.add(1)
    archive.add(2, version=3)  # no key for publickey_ver 3
    archive.add(3, version=2, wrap_version=1)  # wrapped with another version's key
    archive.add(4, magic=b"SEGV")  # DecryptData segfaults
    archive.add(5, magic=b"E001")  # DecryptData: network error
    archive.add(6, version=2)
    result = await pull_batch(client, keys, last_seq=0)

    assert [m["seq"] for m in result.messages] == [1, 6]
    failures = {f.seq: f for f in result.failures}
    assert sorted(failures) == [2, 3, 4, 5]
    assert (failures[2].code, failures[2].retryable) == (10007, False)
    assert "publickey_ver=3" in failures[2].reason
    assert (failures[3].code, failures[3].retryable) == (10006, False)
    assert failures[4].retryable and "SIGSEGV" in failures[4].reason
    assert (failures[5].code, failures[5].retryable) == (10001, True)
    assert all(f.item is not None and f.item.seq == f.seq for f in failures.values())
    assert failures[4].msgid == archive.messages[4]["msgid"]
    assert result.max_seq == 6
    assert client.restarts == 1


async def test_limit_and_checkpoint(
    client: FinanceWorkerClient, archive: FakeArchive, keys: RsaKeyRing
) -> None:
    for seq in range(1, 6):
        archive.add(seq)
    first = await pull_batch(client, keys, last_seq=0, limit=2)
    second = await pull_batch(client, keys, last_seq=first.max_seq, limit=2)
    assert (first.max_seq, second.max_seq) == (2, 4)
    assert [m["seq"] for m in first.messages + second.messages] == [1, 2, 3, 4]


async def test_empty_batch_keeps_the_checkpoint(
    client: FinanceWorkerClient, archive: FakeArchive, keys: RsaKeyRing
) -> None:
    archive.add(1)
    result = await pull_batch(client, keys, last_seq=7)
    assert (result.messages, result.failures, result.max_seq) == ([], [], 7)


async def test_get_chat_data_errors_propagate(
    client: FinanceWorkerClient, archive: FakeArchive, keys: RsaKeyRing
) -> None:
    with pytest.raises(FinanceSdkError) as caught:
        await pull_batch(client, keys, last_seq=SEQ_NETWORK_ERROR)
    assert caught.value.retryable


class CrashingClient:
    """Every DecryptData crashes the worker: the batch must stop trying, not loop on restarts."""

    def __init__(self, items: list[ChatDataItem]) -> None:
        self.items = items
        self.decrypt_calls = 0

    async def get_chat_data(
        self, seq: int, limit: int = 1000, timeout: float = 10.0
    ) -> list[ChatDataItem]:
        return [item for item in self.items if item.seq > seq][:limit]

    async def decrypt(
        self, random_key: str, encrypt_chat_msg: str, timeout: float | None = None
    ) -> dict[str, Any]:
        self.decrypt_calls += 1
        raise FinanceWorkerCrashed(-11, "decrypt")


async def test_repeated_crashes_park_the_rest_of_the_batch(
    keys: RsaKeyRing, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    random_key = "a-random-key-not-to-log"
    items = [
        ChatDataItem(seq, f"m{seq}", 1, wrap_random_key(random_key, 1), "AAAA")
        for seq in range(1, 7)
    ]
    client = CrashingClient(items)
    result = await pull_batch(client, keys, last_seq=0)
    assert client.decrypt_calls == MAX_CONSECUTIVE_CRASHES
    assert [f.seq for f in result.failures] == [1, 2, 3, 4, 5, 6]
    assert all(f.retryable for f in result.failures)
    assert "not tried" in result.failures[-1].reason
    assert result.max_seq == 6 and result.messages == []
    assert random_key not in caplog.text + "".join(map(repr, result.failures))
