"""The SDK in a separate process: round trips, typed errors, crashes and hangs cost one call."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from archive.pull.errors import (
    FinanceSdkError,
    FinanceWorkerCrashed,
    FinanceWorkerError,
    FinanceWorkerTimeout,
)
from archive.pull.rsa_keys import RsaKeyRing
from archive.pull.sdk_worker import FinanceWorkerClient
from tests.archive.finance_fake import (
    CORP_ID,
    SECRET,
    SEQ_CRASH,
    SEQ_HANG,
    SEQ_NETWORK_ERROR,
    FakeArchive,
    compile_fake,
    pem,
    write_keys,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def fake_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_fake(tmp_path_factory.mktemp("finance_worker"))


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeArchive:
    path = tmp_path / "chatdata.tsv"
    monkeypatch.setenv("FAKE_FINANCE_SDK_DATA", str(path))
    monkeypatch.setenv("FAKE_FINANCE_SDK_SECRET", SECRET)
    fake = FakeArchive(path)
    for seq in range(1, 6):
        fake.add(seq, version=1 if seq < 4 else 2, content=f"你好 {seq} 🙂")
    return fake


@pytest.fixture
def keys(tmp_path: Path) -> RsaKeyRing:
    return RsaKeyRing.from_spec(str(write_keys(tmp_path / "keys", (1, 2))))


@pytest.fixture
async def client(fake_library: Path, archive: FakeArchive) -> AsyncIterator[FinanceWorkerClient]:
    async with FinanceWorkerClient(fake_library, CORP_ID, SECRET, call_timeout=5.0) as client:
        yield client


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_round_trip_with_two_key_versions(
    client: FinanceWorkerClient, archive: FakeArchive, keys: RsaKeyRing
) -> None:
    items = await client.get_chat_data(0, limit=1000)
    assert [(item.seq, item.publickey_ver) for item in items] == [
        (1, 1), (2, 1), (3, 1), (4, 2), (5, 2),
    ]  # fmt: skip
    for item in items:
        random_key = keys.decrypt_random_key(item.publickey_ver, item.encrypt_random_key)
        assert await client.decrypt(random_key, item.encrypt_chat_msg) == archive.messages[item.seq]


async def test_seq_and_limit_page_through(client: FinanceWorkerClient) -> None:
    first = await client.get_chat_data(0, limit=2)
    second = await client.get_chat_data(first[-1].seq, limit=2)
    assert [item.seq for item in first + second] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("seq", "limit", "code", "retryable"),
    [(0, 1001, 10000, False), (SEQ_NETWORK_ERROR, 10, 10001, True)],
    ids=["limit-over-1000", "network-error"],
)
async def test_sdk_errors_cross_the_pipe_typed(
    client: FinanceWorkerClient, seq: int, limit: int, code: int, retryable: bool
) -> None:
    with pytest.raises(FinanceSdkError) as caught:
        await client.get_chat_data(seq, limit)
    assert (caught.value.code, caught.value.retryable) == (code, retryable)
    pid = client.pid
    assert pid is not None  # an SDK error is an answer, not a reason to drop the worker
    await client.get_chat_data(0, 1)
    assert client.pid == pid and client.restarts == 0


async def test_crash_kills_only_the_worker_and_the_next_call_restarts_it(
    client: FinanceWorkerClient,
) -> None:
    await client.get_chat_data(0, 1)
    first_pid = client.pid
    with pytest.raises(FinanceWorkerCrashed) as caught:
        await client.get_chat_data(SEQ_CRASH, 10)
    assert caught.value.returncode == -11 and "SIGSEGV" in str(caught.value)
    assert caught.value.retryable
    assert client.pid is None and first_pid is not None and not _alive(first_pid)
    assert [item.seq for item in await client.get_chat_data(0, 10)] == [1, 2, 3, 4, 5]
    assert client.pid not in (None, first_pid) and client.restarts == 1


async def test_crash_in_decrypt_data(client: FinanceWorkerClient, archive: FakeArchive) -> None:
    archive.add(6, magic=b"SEGV")
    item = (await client.get_chat_data(5, 10))[0]
    with pytest.raises(FinanceWorkerCrashed):
        await client.decrypt(archive.random_keys[6], item.encrypt_chat_msg)
    assert len(await client.get_chat_data(0, 10)) == 6


async def test_hung_call_times_out_and_the_worker_is_replaced(
    fake_library: Path, archive: FakeArchive
) -> None:
    archive.add(6, magic=b"HANG")
    async with FinanceWorkerClient(fake_library, CORP_ID, SECRET, call_timeout=0.5) as client:
        item = (await client.get_chat_data(5, 10))[0]
        hung_pid = client.pid
        assert hung_pid is not None
        with pytest.raises(FinanceWorkerTimeout):
            await client.decrypt(archive.random_keys[6], item.encrypt_chat_msg)
        assert not _alive(hung_pid)
        assert len(await client.get_chat_data(0, 10)) == 6


async def test_cancelled_call_drops_the_out_of_step_worker(
    client: FinanceWorkerClient, archive: FakeArchive
) -> None:
    archive.add(6, magic=b"HANG")
    item = (await client.get_chat_data(5, 10))[0]
    hung_pid = client.pid
    assert hung_pid is not None
    with pytest.raises(TimeoutError):  # the caller's own deadline cancels the call mid-flight
        async with asyncio.timeout(0.3):
            await client.decrypt(archive.random_keys[6], item.encrypt_chat_msg)
    assert not _alive(hung_pid)
    assert len(await client.get_chat_data(0, 10)) == 6


async def test_get_chat_data_timeout_covers_the_sdk_timeout(
    fake_library: Path, archive: FakeArchive
) -> None:
    # the SDK gets whole seconds (ceil), the pipe waits that plus a grace period
    async with FinanceWorkerClient(fake_library, CORP_ID, SECRET, grace=0.2) as client:
        with pytest.raises(FinanceWorkerTimeout) as caught:
            await client.get_chat_data(SEQ_HANG, 10, timeout=0.01)
        assert caught.value.timeout == pytest.approx(1.2)
        assert len(await client.get_chat_data(0, 10)) == 5


async def test_bad_library_path_is_a_clear_error(archive: FakeArchive, tmp_path: Path) -> None:
    async with FinanceWorkerClient(tmp_path / "missing.so", CORP_ID, SECRET) as client:
        with pytest.raises(FinanceWorkerError, match=r"missing\.so"):
            await client.get_chat_data(0, 1)
        assert client.pid is None


async def test_init_error_is_raised_and_the_worker_dropped(
    fake_library: Path, archive: FakeArchive
) -> None:
    async with FinanceWorkerClient(fake_library, "", SECRET) as client:
        with pytest.raises(FinanceSdkError) as caught:
            await client.get_chat_data(0, 1)
        assert caught.value.code == 10000 and client.pid is None


async def test_close_stops_the_worker_and_is_idempotent(client: FinanceWorkerClient) -> None:
    await client.get_chat_data(0, 1)
    pid = client.pid
    assert pid is not None
    await client.close()
    await client.close()
    assert client.pid is None and not _alive(pid)


async def test_secret_and_keys_never_reach_the_logs(
    client: FinanceWorkerClient,
    archive: FakeArchive,
    keys: RsaKeyRing,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    items = await client.get_chat_data(0, 10)
    random_key = keys.decrypt_random_key(1, items[0].encrypt_random_key)
    await client.decrypt(random_key, items[0].encrypt_chat_msg)
    with pytest.raises(FinanceWorkerCrashed):
        await client.get_chat_data(SEQ_CRASH, 1)
    await client.get_chat_data(0, 1)
    out, err = capfd.readouterr()
    shown = caplog.text + out + err + repr(client)
    assert "finance worker started" in caplog.text and "SIGSEGV" in caplog.text
    assert "fake finance sdk: Init" in err  # SDK chatter goes to stderr, not into the protocol
    for secret in (SECRET, random_key, *archive.random_keys.values()):
        assert secret not in shown
    assert "PRIVATE KEY" not in shown and pem(1).decode().splitlines()[1] not in shown
