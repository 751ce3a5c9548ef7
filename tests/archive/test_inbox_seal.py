"""The inbox seal: content encrypted under a ring-derived key, bound to its event, rotatable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archive.errors import KeyRingError
from archive.keys.inbox_seal import InboxSeal, count_sealed_under, derive_seal_key
from archive.keys.key_file import write_key_file
from archive.keys.ring import KeyRing
from archive.keys.rotation import retire_kek
from archive.runtime import ArchiveRuntime
from scrm.db import Database
from scrm.events.content import SEALED_MARK, SealError, strip_content
from tests.archive.keys import INDEX_KEY, KEK1, KEK2, SIGNING_SEED, make_ring

TEXT = "我的银行卡号是6222-SEAL-0001"
MESSAGE = {
    "msgid": "m-seal-1",
    "action": "send",
    "from": "wmCUSTOMER",
    "tolist": ["zhangsan"],
    "roomid": "",
    "msgtime": 1_763_000_000_000,
    "msgtype": "text",
    "text": {"content": TEXT},
    "sender_kind": "customer",
}


def seal_for(ring: KeyRing) -> InboxSeal:
    return InboxSeal(ArchiveRuntime(Database("sqlite"), ring, corp_id="wwcorp"))


def test_seal_keeps_only_metadata_in_clear_and_unseals_exactly() -> None:
    seal = seal_for(make_ring())
    sealed = seal.seal(dict(MESSAGE), bind="chat:m-seal-1")
    at_rest = json.dumps(sealed, ensure_ascii=False)
    assert TEXT not in at_rest and "SEAL-0001" not in at_rest
    assert "text" not in sealed
    assert {k: v for k, v in sealed.items() if k != SEALED_MARK} == {
        k: v for k, v in MESSAGE.items() if k != "text"
    }
    opened = seal.unseal(sealed, bind="chat:m-seal-1")
    assert opened == MESSAGE and list(opened) == list(MESSAGE)  # same keys, same order
    assert SEALED_MARK not in strip_content(sealed)  # stripping drops the ciphertext too


def test_each_seal_is_fresh() -> None:
    seal = seal_for(make_ring())
    first = seal.seal(dict(MESSAGE), bind="chat:m")[SEALED_MARK]
    assert first != seal.seal(dict(MESSAGE), bind="chat:m")[SEALED_MARK]  # random nonce


def test_sealed_content_moved_to_another_event_or_altered_does_not_open() -> None:
    seal = seal_for(make_ring())
    sealed = seal.seal(dict(MESSAGE), bind="chat:m-seal-1")
    with pytest.raises(SealError, match="does not open"):
        seal.unseal(sealed, bind="chat:other")
    version, kek_id, blob = sealed[SEALED_MARK].split(":")
    flipped = blob[:20] + ("A" if blob[20] != "A" else "B") + blob[21:]
    with pytest.raises(SealError, match="does not open"):
        seal.unseal({**sealed, SEALED_MARK: f"{version}:{kek_id}:{flipped}"}, bind="chat:m-seal-1")
    for broken in ("", "2:kek1:AAAA", "garbage", 17):
        with pytest.raises(SealError):
            seal.unseal({**sealed, SEALED_MARK: broken}, bind="chat:m-seal-1")


def test_rotation_seals_under_the_new_kek_and_still_opens_the_old() -> None:
    before = seal_for(make_ring("kek1")).seal(dict(MESSAGE), bind="b")
    assert before[SEALED_MARK].startswith("1:kek1:")
    rotated = seal_for(make_ring("kek2"))  # kek1 and kek2, kek2 active
    assert rotated.unseal(before, bind="b") == MESSAGE
    assert rotated.seal(dict(MESSAGE), bind="b")[SEALED_MARK].startswith("1:kek2:")


def test_a_retired_kek_makes_its_content_unreadable_with_a_clear_error() -> None:
    before = seal_for(make_ring("kek1")).seal(dict(MESSAGE), bind="b")
    retired = seal_for(KeyRing({"kek2": KEK2}, "kek2", INDEX_KEY, SIGNING_SEED))
    with pytest.raises(SealError, match="'kek1'"):
        retired.unseal(before, bind="b")


def test_the_seal_key_is_its_own_and_never_shown() -> None:
    key = derive_seal_key(KEK1)
    assert len(key) == 32 and key not in (KEK1, derive_seal_key(KEK2))
    seal = seal_for(make_ring())
    seal.seal(dict(MESSAGE), bind="b")
    assert KEK1.hex() not in repr(seal) and key.hex() not in repr(seal)


async def test_a_kek_is_not_retired_while_inbox_content_waits_sealed_under_it(
    database: Database, tmp_path: Path
) -> None:
    path = tmp_path / "keys.json"
    write_key_file(path, make_ring("kek2"))  # kek1 and kek2, kek2 active: after a rotation
    waiting = seal_for(make_ring("kek1")).seal(dict(MESSAGE), bind="chat:m-seal-1")  # before
    runtime = ArchiveRuntime(database, make_ring("kek2"), corp_id="wwcorp", key_file=path)
    marks = database.placeholders(5)
    await database.fetch(
        "INSERT INTO events (dedupe_key, name, source, payload, received_at) "
        f"VALUES ({', '.join(marks)}) RETURNING id",
        ["chat:m-seal-1", "chat.message", "test", json.dumps(waiting, separators=(",", ":")), 1.0],
    )
    assert await count_sealed_under(database, "kek1") == 1
    assert await count_sealed_under(database, "kek2") == 0
    assert await count_sealed_under(database, "kek") == 0  # an id, not a prefix
    with pytest.raises(KeyRingError, match="1 inbox messages waiting for handlers"):
        await retire_kek(runtime, "kek1")
    await database.fetch("UPDATE events SET payload = '{}' RETURNING id")  # processed: stripped
    await retire_kek(runtime, "kek1")
    assert runtime.ring.kek_ids == ("kek2",)


async def test_a_kek_is_not_retired_while_a_feature_keeps_values_sealed_under_it(
    database: Database, tmp_path: Path
) -> None:
    """A robot's webhook key (or a lead's phone) sealed under the old KEK keeps it in the ring:
    retiring it would make the value unreadable for good."""
    from archive.keys.sealed_secrets import seal_secret
    from scrm.tickets.models import GroupChannel

    path = tmp_path / "keys.json"
    write_key_file(path, make_ring("kek2"))
    runtime = ArchiveRuntime(database, make_ring("kek2"), corp_id="wwcorp", key_file=path)
    sealed = seal_secret(make_ring("kek1"), "group_channel.webhook_key", "a-robot-key")
    robot = await GroupChannel.create(
        name="售后群", kind="robot", secret=sealed, created_at=1.0, updated_at=1.0
    )
    with pytest.raises(KeyRingError, match=r"1 in group_channels\.secret"):
        await retire_kek(runtime, "kek1")
    assert runtime.ring.kek_ids == ("kek1", "kek2")
    robot.secret = seal_secret(make_ring("kek2"), "group_channel.webhook_key", "a-robot-key")
    await robot.save()
    await retire_kek(runtime, "kek1")
    assert runtime.ring.kek_ids == ("kek2",)
