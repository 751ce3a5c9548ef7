"""The ctypes binding against the fake SDK, in-process (no crash triggers here: see the worker)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from archive.pull.errors import FinanceSdkError
from archive.pull.sdk import ChatDataItem, FinanceSdk
from tests.archive.finance_fake import CORP_ID, SECRET, SEQ_NETWORK_ERROR, FakeArchive, compile_fake


@pytest.fixture(scope="session")
def fake_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_fake(tmp_path_factory.mktemp("finance_sdk"))


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeArchive:
    path = tmp_path / "chatdata.tsv"
    monkeypatch.setenv("FAKE_FINANCE_SDK_DATA", str(path))
    monkeypatch.setenv("FAKE_FINANCE_SDK_SECRET", SECRET)
    fake = FakeArchive(path)
    for seq in range(1, 6):
        fake.add(seq, version=1 if seq < 4 else 2)
    return fake


@pytest.fixture
def sdk(fake_library: Path, archive: FakeArchive) -> Iterator[FinanceSdk]:
    with FinanceSdk(str(fake_library), CORP_ID, SECRET) as sdk:
        yield sdk


def test_get_chat_data_returns_typed_records_after_seq(sdk: FinanceSdk) -> None:
    items = sdk.get_chat_data(0, limit=1000)
    assert [item.seq for item in items] == [1, 2, 3, 4, 5]
    assert [item.publickey_ver for item in items] == [1, 1, 1, 2, 2]
    assert all(isinstance(item, ChatDataItem) for item in items)
    assert items[0].msgid == "CAQQ00000001fakemsgid="


@pytest.mark.parametrize(
    ("seq", "limit", "expected"), [(0, 2, [1, 2]), (3, 10, [4, 5]), (5, 10, [])]
)
def test_get_chat_data_honours_seq_and_limit(
    sdk: FinanceSdk, seq: int, limit: int, expected: list[int]
) -> None:
    assert [item.seq for item in sdk.get_chat_data(seq, limit)] == expected


def test_decrypt_returns_the_message_json(sdk: FinanceSdk, archive: FakeArchive) -> None:
    item = sdk.get_chat_data(1, 1)[0]
    message = sdk.decrypt(archive.random_keys[2], item.encrypt_chat_msg)
    assert message == archive.messages[2]
    assert message["msgid"] == item.msgid


@pytest.mark.parametrize(
    ("call", "code", "retryable"),
    [
        (lambda sdk: sdk.get_chat_data(0, limit=1001), 10000, False),
        (lambda sdk: sdk.get_chat_data(SEQ_NETWORK_ERROR, 10), 10001, True),
        (lambda sdk: sdk.decrypt("wrong-key-wrong-key", "AAAAAAAA"), 10006, False),
        (lambda sdk: sdk.decrypt("", "AAAA"), 10000, False),
    ],
    ids=["limit-over-1000", "network", "wrong-key", "empty-key"],
)
def test_sdk_return_codes_become_typed_errors(
    sdk: FinanceSdk, call: object, code: int, retryable: bool
) -> None:
    with pytest.raises(FinanceSdkError) as caught:
        call(sdk)  # type: ignore[operator]
    assert caught.value.code == code
    assert caught.value.retryable is retryable


def test_errcode_inside_the_answer_is_an_error(fake_library: Path, archive: FakeArchive) -> None:
    with (
        FinanceSdk(str(fake_library), CORP_ID, "not-the-secret") as sdk,
        pytest.raises(FinanceSdkError) as caught,
    ):
        sdk.get_chat_data(0, 10)
    assert caught.value.code == 40001 and "invalid secret" in str(caught.value)


def test_init_failure_is_reported(fake_library: Path) -> None:
    with pytest.raises(FinanceSdkError) as caught:
        FinanceSdk(str(fake_library), "", SECRET)
    assert caught.value.code == 10000


def test_closed_sdk_refuses_calls_and_close_is_idempotent(sdk: FinanceSdk) -> None:
    sdk.close()
    sdk.close()
    with pytest.raises(FinanceSdkError):
        sdk.get_chat_data(0, 1)


def test_secret_stays_out_of_repr(sdk: FinanceSdk) -> None:
    assert SECRET not in repr(sdk) and SECRET not in repr(vars(sdk))
