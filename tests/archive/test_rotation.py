"""rotate-kek moves every value sealed under a KEK, resumably; retire-kek then drops the KEK.

Robot webhook keys (SecretSeal), lead phone numbers and mini-program session keys (FieldSeal)
are re-sealed under the new KEK in batches; a run stopped midway leaves every value openable
and a second run finishes; the phone's keyed hash (from the index key, never rotated) keeps
finding old leads. Both engines, real database.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest

from archive.errors import KeyRingError
from archive.keys.inbox_seal import InboxSeal
from archive.keys.key_file import load_key_file, write_key_file
from archive.keys.loading import ArchiveStartError
from archive.keys.pii import FieldSeal
from archive.keys.ring import format_key_string
from archive.keys.rotation import _next_kek_id, retire_kek, rotate_kek
from archive.keys.sealed_columns import SEALED_COLUMNS, count_sealed_columns
from archive.keys.sealed_secrets import seal_secret
from archive.runtime import ArchiveRuntime, open_archive
from archive.store.write import store_messages
from config import Secret, Settings
from scrm.channels.models import Channel
from scrm.db import Database, close_database, open_database
from scrm.events.content import SEALED_MARK, metadata_of
from scrm.leads.models import PHONE_FIELD, SESSION_KEY_FIELD, Lead, MiniProgramUser
from scrm.tickets.keys import PURPOSE, open_webhook_key, seal_webhook_key
from scrm.tickets.models import GroupChannel
from tests.archive.cli_run import run
from tests.archive.dump import dump_database
from tests.archive.keys import make_ring
from tests.archive.messages import content, text_message

PHONES = [f"1381234{n:04d}" for n in range(7)]
SESSION_KEYS = [f"session-key-{n:02d}-tkUFLxzhE0tNNQJf" for n in range(3)]
ROBOT_KEYS = [f"7a2c{n:04d}-robot-webhook-key-9f3e" for n in range(3)]
COLUMNS = {"group_channels.secret", "leads.phone_sealed", "miniprogram_users.session_key_sealed"}
CHAT_TEXTS = [f"我的银行卡号是6222-ROTATE-{n:04d}" for n in range(3)]


def chat(number: int) -> dict[str, object]:
    return {
        "msgid": f"m-rot-{number}", "action": "send", "from": "wmCUSTOMER",
        "tolist": ["zhangsan"], "roomid": "", "msgtime": 1_763_000_000_000 + number,
        "msgtype": "text", "text": {"content": CHAT_TEXTS[number]}, "sender_kind": "customer",
    }  # fmt: skip


class Interrupted(Exception):
    pass


def file_runtime(database: Database, path: Path) -> ArchiveRuntime:
    """A process started with the key file as it is now."""
    return ArchiveRuntime(database, load_key_file(path), corp_id="wwcorp", key_file=path)


async def seed(runtime: ArchiveRuntime) -> None:
    """Leads, mini-program users, robots and waiting chat content, sealed as the service does."""
    pii = FieldSeal(runtime)
    channel = await Channel.create(
        name="展会表单", kind="form", state="ch_rekey", created_at=1.0, updated_at=1.0
    )
    for phone in PHONES:
        await Lead.create(
            channel_id=channel.id,
            phone_sealed=pii.seal(phone, field=PHONE_FIELD),
            phone_hash=pii.lookup_hash(PHONE_FIELD, phone),
            first_submitted_at=1.0, last_submitted_at=1.0, created_at=1.0, updated_at=1.0,
        )  # fmt: skip
    for number, key in enumerate(SESSION_KEYS):
        await MiniProgramUser.create(
            openid=f"o{number}", session_key_sealed=pii.seal(key, field=SESSION_KEY_FIELD),
            created_at=1.0, last_login_at=1.0,
        )  # fmt: skip
    await MiniProgramUser.create(openid="o-none", created_at=1.0, last_login_at=1.0)  # no key
    for number, key in enumerate(ROBOT_KEYS):
        await GroupChannel.create(
            name=f"售后群{number}", kind="robot", secret=seal_webhook_key(runtime, key),
            created_at=1.0, updated_at=1.0,
        )  # fmt: skip
    await GroupChannel.create(
        name="邮件", kind="email", target="[]", created_at=1.0, updated_at=1.0
    )
    seal = InboxSeal(runtime)  # chat content waiting, sealed, for a handler run
    marks = ", ".join(runtime.db.placeholders(5))
    for number in range(len(CHAT_TEXTS)):
        payload = seal.seal(chat(number), bind=f"chat:m-rot-{number}")
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        await runtime.db.fetch(
            "INSERT INTO events (dedupe_key, name, source, payload, received_at) "
            f"VALUES ({marks}) RETURNING id",
            [f"chat:m-rot-{number}", "chat.message", "test", text, 1.0],
        )


async def opened(runtime: ArchiveRuntime) -> tuple[list[str], list[str], list[str]]:
    """Every sealed value, opened with ``runtime``'s ring, in seeding order (and the inbox's)."""
    seal = InboxSeal(runtime)
    rows = await runtime.db.fetch("SELECT dedupe_key, payload FROM events ORDER BY id")
    waiting = [seal.unseal(json.loads(r["payload"]), bind=r["dedupe_key"]) for r in rows]
    assert waiting == [chat(number) for number in range(len(CHAT_TEXTS))]
    assert [metadata_of(json.loads(r["payload"])) for r in rows] == [
        metadata_of(m) for m in waiting
    ]
    pii = FieldSeal(runtime)
    phones = [
        pii.unseal(lead.phone_sealed, field=PHONE_FIELD) for lead in await Lead.all().order_by("id")
    ]
    users = await MiniProgramUser.filter(session_key_sealed__isnull=False).order_by("id")
    keys = [pii.unseal(str(user.session_key_sealed), field=SESSION_KEY_FIELD) for user in users]
    robots = await GroupChannel.filter(kind="robot").order_by("id")
    return phones, keys, [open_webhook_key(runtime, str(robot.secret)) for robot in robots]


async def kek_ids_in_use(database: Database) -> set[str]:
    values = [lead.phone_sealed for lead in await Lead.all()]
    values += [
        str(u.session_key_sealed)
        for u in await MiniProgramUser.filter(session_key_sealed__isnull=False)
    ]
    values += [str(g.secret) for g in await GroupChannel.filter(secret__isnull=False)]
    values += [
        json.loads(r["payload"])[SEALED_MARK]
        for r in await database.fetch("SELECT payload FROM events")
    ]
    return {value.split(":")[1] for value in values}


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    path = tmp_path / "keys.json"
    write_key_file(path, make_ring())  # kek1 only
    return path


def test_every_feature_column_is_declared() -> None:
    assert set(SEALED_COLUMNS) == COLUMNS


async def test_rotate_reseals_every_column_and_retire_then_succeeds(
    database: Database, database_url: str, key_path: Path
) -> None:
    serving = file_runtime(database, key_path)  # a service process that keeps running
    await seed(serving)
    await store_messages(serving, [text_message("m1", "归档的消息")])
    report = await rotate_kek(file_runtime(database, key_path), batch_size=2)
    assert report.kek_id == "kek2" and report.data_keys == 1 and not report.unopenable
    assert {name: r.resealed for name, r in report.columns.items()} == {
        "group_channels.secret": 3,
        "leads.phone_sealed": 7,
        "miniprogram_users.session_key_sealed": 3,
        "events.payload": 3,
    }
    assert await kek_ids_in_use(database) == {"kek2"}
    assert await count_sealed_columns(database, "kek1") == {}

    await retire_kek(file_runtime(database, key_path), "kek1")
    restarted = file_runtime(database, key_path)
    assert restarted.ring.kek_ids == ("kek2",)
    assert await opened(restarted) == (PHONES, SESSION_KEYS, ROBOT_KEYS)
    assert await content(restarted, "m1") == "归档的消息"
    # The process that kept running re-reads the replaced key file: it opens the moved
    # values and seals new ones under kek2 only.
    assert await opened(serving) == (PHONES, SESSION_KEYS, ROBOT_KEYS)
    assert FieldSeal(serving).seal("13900001111", field=PHONE_FIELD).startswith("1:kek2:")
    assert seal_webhook_key(serving, "k").startswith("v1:kek2:")

    # The phone's keyed hash comes from the index key, which never rotates: lookups and
    # dedupe find the leads sealed before the rotation, from either process.
    for runtime in (restarted, serving):
        hashed = FieldSeal(runtime).lookup_hash(PHONE_FIELD, PHONES[3])
        found = await Lead.filter(phone_hash=hashed)
        assert [FieldSeal(runtime).unseal(x.phone_sealed, field=PHONE_FIELD) for x in found] == [
            PHONES[3]
        ]

    dumped = await dump_database(database, database_url)
    for secret in (*PHONES, *SESSION_KEYS, *ROBOT_KEYS, *CHAT_TEXTS):
        assert secret.encode() not in dumped


async def test_an_interrupted_rotation_leaves_every_value_openable_and_resume_finishes(
    database: Database, database_url: str, key_path: Path
) -> None:
    await seed(file_runtime(database, key_path))
    seen: list[tuple[str, int]] = []

    def stop_after_five(name: str, count: int) -> None:  # the process dies after 5 values
        seen.append((name, count))
        if sum(n for _, n in seen) >= 5:
            raise Interrupted

    with pytest.raises(Interrupted):
        await rotate_kek(file_runtime(database, key_path), batch_size=2, progress=stop_after_five)
    assert await kek_ids_in_use(database) == {"kek1", "kek2"}  # midway
    assert await opened(file_runtime(database, key_path)) == (PHONES, SESSION_KEYS, ROBOT_KEYS)
    with pytest.raises(KeyRingError, match=r"sealed under 'kek1'.*--resume"):
        await retire_kek(file_runtime(database, key_path), "kek1")

    report = await rotate_kek(file_runtime(database, key_path), resume=True, batch_size=2)
    assert report.kek_id == "kek2"  # no third KEK
    assert sum(r.resealed for r in report.columns.values()) == 16 - 5  # only what was left
    assert await kek_ids_in_use(database) == {"kek2"}
    again = await rotate_kek(file_runtime(database, key_path), resume=True)  # idempotent
    assert sum(r.resealed for r in again.columns.values()) == 0
    await retire_kek(file_runtime(database, key_path), "kek1")
    assert load_key_file(key_path).kek_ids == ("kek2",)
    assert await opened(file_runtime(database, key_path)) == (PHONES, SESSION_KEYS, ROBOT_KEYS)
    dumped = await dump_database(database, database_url)
    assert not any(s.encode() in dumped for s in (*PHONES, *SESSION_KEYS, *ROBOT_KEYS, *CHAT_TEXTS))


async def test_a_fresh_rotation_after_an_interrupted_one_moves_everything_to_the_newest(
    database: Database, key_path: Path
) -> None:
    await seed(file_runtime(database, key_path))

    def stop(name: str, count: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        await rotate_kek(file_runtime(database, key_path), batch_size=3, progress=stop)
    report = await rotate_kek(file_runtime(database, key_path))
    assert report.kek_id == "kek3" and await kek_ids_in_use(database) == {"kek3"}
    for old in ("kek1", "kek2"):
        await retire_kek(file_runtime(database, key_path), old)
    assert await opened(file_runtime(database, key_path)) == (PHONES, SESSION_KEYS, ROBOT_KEYS)


async def test_retire_refuses_while_a_value_is_still_sealed_under_the_kek(
    database: Database, key_path: Path
) -> None:
    """A process that had not seen the new key file sealed one more value under kek1, and
    one more chat message waits sealed under it."""
    await seed(file_runtime(database, key_path))
    await rotate_kek(file_runtime(database, key_path))
    late = seal_secret(make_ring("kek1"), PURPOSE, ROBOT_KEYS[0])
    await GroupChannel.filter(name="售后群1").update(secret=late)
    with pytest.raises(KeyRingError, match=r"1 in group_channels\.secret"):
        await retire_kek(file_runtime(database, key_path), "kek1")
    old = InboxSeal(ArchiveRuntime(database, make_ring("kek1"), corp_id="wwcorp"))
    payload = json.dumps(old.seal(chat(0), bind="chat:m-rot-0"), separators=(",", ":"))
    mark = database.placeholders(1)[0]
    await database.fetch(
        f"UPDATE events SET payload = {mark} WHERE dedupe_key = 'chat:m-rot-0' RETURNING id",
        [payload],
    )
    with pytest.raises(KeyRingError, match="1 inbox messages waiting for handlers"):
        await retire_kek(file_runtime(database, key_path), "kek1")
    assert load_key_file(key_path).kek_ids == ("kek1", "kek2")
    report = await rotate_kek(file_runtime(database, key_path), resume=True)
    assert report.columns["group_channels.secret"].resealed == 1
    assert report.columns["events.payload"].resealed == 1
    await retire_kek(file_runtime(database, key_path), "kek1")
    assert (await opened(file_runtime(database, key_path)))[2] == [ROBOT_KEYS[0]] * 2 + [
        ROBOT_KEYS[2]
    ]


async def test_a_value_that_does_not_open_is_named_left_alone_and_keeps_the_kek(
    database: Database, key_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed(file_runtime(database, key_path))
    lead = await Lead.all().order_by("id").first()
    assert lead is not None
    version, kek_id, blob = lead.phone_sealed.split(":")
    damaged = f"{version}:{kek_id}:{'A' if blob[0] != 'A' else 'B'}{blob[1:]}"
    await Lead.filter(id=lead.id).update(phone_sealed=damaged)
    report = await rotate_kek(file_runtime(database, key_path))
    assert report.unopenable == {"leads.phone_sealed": [lead.id]}
    assert report.columns["leads.phone_sealed"].resealed == len(PHONES) - 1
    assert (await Lead.get(id=lead.id)).phone_sealed == damaged  # untouched
    with pytest.raises(KeyRingError, match=r"1 in leads\.phone_sealed"):
        await retire_kek(file_runtime(database, key_path), "kek1")
    out = capsys.readouterr()
    assert PHONES[0] not in out.out + out.err


async def test_cli_rotate_resume_and_retire(
    settings: Settings, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """`run.py archive rotate-kek [--resume]` and `retire-kek` say what they did; no value is
    printed or logged, not even at DEBUG (where the ORM logs every statement's values)."""
    caplog.set_level(logging.DEBUG)
    key_path = settings.archive.key_file
    db = await open_database(settings.database_url)
    try:
        await seed(file_runtime(db, key_path))
    finally:
        await close_database()
    assert await run(settings, "archive", "retire-kek", "kek1") == 2  # active, values under it
    assert await run(settings, "archive", "rotate-kek") == 0
    out = capsys.readouterr().out
    assert "7 values of leads.phone_sealed re-sealed under kek2" in out
    assert "3 values of group_channels.secret re-sealed under kek2" in out
    assert await run(settings, "archive", "rotate-kek", "--resume") == 0
    assert "0 values of leads.phone_sealed re-sealed under kek2" in capsys.readouterr().out
    assert await run(settings, "archive", "retire-kek", "kek1") == 0
    assert load_key_file(key_path).kek_ids == ("kek2",)
    captured = capsys.readouterr()
    assert "UPDATE leads SET phone_sealed" in caplog.text  # the statements were logged
    for secret in (*PHONES, *SESSION_KEYS, *ROBOT_KEYS, *CHAT_TEXTS):
        assert secret not in captured.out + captured.err + caplog.text
    db = await open_database(settings.database_url)
    try:
        assert await opened(file_runtime(db, key_path)) == (PHONES, SESSION_KEYS, ROBOT_KEYS)
    finally:
        await close_database()


async def test_start_refuses_while_values_are_sealed_under_a_kek_the_ring_lacks(
    database: Database, database_url: str, key_path: Path
) -> None:
    """With SCRM_ARCHIVE_KEYS the operator removes the old KEK by hand: if a value still
    needs it, the service refuses to start (as for data keys) instead of losing it."""
    await seed(file_runtime(database, key_path))
    without_kek1 = make_ring("kek2").retire("kek1")
    settings = dataclasses.replace(
        Settings(database_url=database_url),
        archive=dataclasses.replace(
            Settings().archive, keys=Secret(format_key_string(without_kek1))
        ),
    )
    with pytest.raises(ArchiveStartError, match=r"7 in leads\.phone_sealed.*ring has kek2"):
        await open_archive(settings, database)
    both = dataclasses.replace(settings.archive, keys=Secret(format_key_string(make_ring("kek2"))))
    runtime = await open_archive(dataclasses.replace(settings, archive=both), database)
    await rotate_kek(runtime)  # env keys: moves to the active kek2, adds nothing
    assert await kek_ids_in_use(database) == {"kek2"}
    assert (await open_archive(settings, database)).ring.kek_ids == ("kek2",)


def test_a_running_process_seals_under_the_kek_a_replaced_key_file_made_active(
    key_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ring = load_key_file(key_path)
    runtime = ArchiveRuntime(Database("sqlite"), ring, corp_id="c", key_file=key_path)
    seal = FieldSeal(runtime)
    assert seal.seal("1", field=PHONE_FIELD).startswith("1:kek1:")
    write_key_file(key_path, make_ring("kek2"))  # rotate-kek in another process
    assert seal.seal("1", field=PHONE_FIELD).startswith("1:kek2:")
    assert seal_webhook_key(runtime, "k").startswith("v1:kek2:")
    key_path.write_text("not a key file")  # a broken file keeps the ring in use, loudly
    key_path.chmod(0o600)
    assert seal.seal("1", field=PHONE_FIELD).startswith("1:kek2:")
    assert "archive key file changed but does not load" in caplog.text


def test_kek_ids_are_never_given_out_twice() -> None:
    assert _next_kek_id(("kek1",)) == "kek2"
    assert _next_kek_id(("kek3",)) == "kek4"  # kek1 and kek2 were retired: not reused
    assert _next_kek_id(("kek2", "kek10")) == "kek11"
    assert _next_kek_id(("main",)) == "kek2"
