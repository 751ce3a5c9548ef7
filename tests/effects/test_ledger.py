"""The effect ledger on real engines: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json

import pytest

from adapters.wecom import WeComAPIError
from adapters.wecom.errors import WeComConnectionError
from scrm.db import Database
from scrm.effects import KINDS, EffectBusy, EffectLedger, Outcome, effect_key
from scrm.effects.keys import KEY_MAX
from scrm.effects.models import Effect


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A fake outbound call that counts itself and answers (or fails) as told."""

    def __init__(self, answer: object = None, error: BaseException | None = None) -> None:
        self.calls = 0
        self.answer, self.error = answer, error

    async def __call__(self) -> object:
        self.calls += 1
        await asyncio.sleep(0)  # let the other claimers run in between
        if self.error is not None:
            raise self.error
        return self.answer


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(database: Database, clock: Clock) -> EffectLedger:
    return EffectLedger(database, clock=clock, lease=30.0, busy_wait=0.0)


async def crashed_claim(ledger: EffectLedger, key: str, kind: str) -> None:
    """What a SIGKILLed run leaves behind: a claim taken before the call, never closed."""
    claimed = await ledger._claim(key, kind, KINDS[kind], "subject", {"n": 1})
    assert isinstance(claimed, str)


async def row(key: str) -> Effect:
    return await Effect.get(key=key)


@pytest.mark.parametrize("kind", ["mark_tag", "send_welcome_msg"])
async def test_many_concurrent_claimers_call_exactly_once(
    database: Database, clock: Clock, kind: str
) -> None:
    call = Recorder(answer={"ok": 1})
    ledgers = [EffectLedger(database, clock=clock, lease=30.0, busy_wait=5.0) for _ in range(4)]

    async def claimer(n: int) -> Outcome | EffectBusy:
        try:
            return await ledgers[n % 4].run("k:race", kind, call)
        except EffectBusy as exc:
            return exc

    results = await asyncio.gather(*(claimer(n) for n in range(24)))
    assert call.calls == 1
    outcomes = [r for r in results if isinstance(r, Outcome)]
    assert sorted(o.performed for o in outcomes).count(True) == 1
    assert {o.status for o in outcomes} == {"done"}  # the others waited for the recorded one
    effect = await row("k:race")
    assert (effect.status, effect.attempts, effect.claim_token) == ("done", 1, None)


async def test_done_is_recorded_with_summary_and_not_repeated(ledger: EffectLedger) -> None:
    call = Recorder(answer={"tag_id": "et1", "secret": "no"})
    first = await ledger.run(
        "mark_tag:c:u:e:m1",
        "mark_tag",
        call,
        subject="c:e",
        request={"add": ["et1"]},
        summary=lambda answer: {"tag_id": answer["tag_id"]},  # type: ignore[index]
    )
    again = await ledger.run("mark_tag:c:u:e:m1", "mark_tag", call)
    assert call.calls == 1
    assert (first.status, first.performed, again.status, again.performed) == (
        "done",
        True,
        "done",
        False,
    )
    assert again.result == {"tag_id": "et1"}
    effect = await row("mark_tag:c:u:e:m1")
    assert effect.subject == "c:e" and json.loads(effect.request) == {"add": ["et1"]}
    assert json.loads(effect.result or "") == {"tag_id": "et1"} and effect.finished_at is not None


async def test_terminal_errcode_is_failed_and_kept(ledger: EffectLedger) -> None:
    call = Recorder(error=WeComAPIError(40068, "invalid tagid"))
    outcome = await ledger.run("k:terminal", "mark_tag", call)
    assert (outcome.status, outcome.errcode, outcome.label) == (
        "failed",
        40068,
        "failed: errcode 40068",
    )
    again = await ledger.run("k:terminal", "mark_tag", call)
    assert call.calls == 1 and again.label == "failed: errcode 40068" and not again.performed
    effect = await row("k:terminal")
    assert (effect.status, effect.errcode, effect.retryable) == ("failed", 40068, False)
    assert json.loads(effect.result or "") == {"errmsg": "invalid tagid"}


@pytest.mark.parametrize("kind", ["mark_tag", "send_welcome_msg"])
async def test_retryable_errcode_is_raised_and_the_next_run_calls_again(
    ledger: EffectLedger, kind: str
) -> None:
    busy = Recorder(error=WeComAPIError(45009, "api freq out of limit"))
    with pytest.raises(WeComAPIError):
        await ledger.run("k:busy", kind, busy)
    effect = await row("k:busy")
    assert (effect.status, effect.retryable) == ("failed", True)
    ok = Recorder()
    outcome = await ledger.run("k:busy", kind, ok)  # WeCom said no: safe to try again
    assert ok.calls == 1 and outcome.status == "done"
    assert (await row("k:busy")).attempts == 2


async def test_no_answer_is_unknown_then_retried_when_idempotent(ledger: EffectLedger) -> None:
    lost = Recorder(error=WeComConnectionError("POST /cgi-bin/x timed out"))
    with pytest.raises(WeComConnectionError):
        await ledger.run("k:lost", "mark_tag", lost)
    assert (await row("k:lost")).status == "unknown"
    ok = Recorder()
    assert (await ledger.run("k:lost", "mark_tag", ok)).status == "done"
    assert ok.calls == 1


async def test_no_answer_is_unknown_for_good_when_at_most_once(ledger: EffectLedger) -> None:
    lost = Recorder(error=WeComConnectionError("POST /cgi-bin/x timed out"))
    outcome = await ledger.run("welcome:w1", "send_welcome_msg", lost)
    assert outcome.status == "unknown" and outcome.performed
    again = Recorder()
    outcome = await ledger.run("welcome:w1", "send_welcome_msg", again)
    assert again.calls == 0 and outcome.status == "unknown" and not outcome.performed


async def test_stale_idempotent_claim_is_taken_over(ledger: EffectLedger, clock: Clock) -> None:
    await crashed_claim(ledger, "k:stale", "mark_tag")
    call = Recorder()
    with pytest.raises(EffectBusy) as busy:  # still inside its lease: someone is doing it
        await ledger.run("k:stale", "mark_tag", call)
    assert 30.0 <= (busy.value.defer or 0) <= 30.1 and call.calls == 0
    clock.now += 31  # the lease ended: the run that claimed it is gone
    outcome = await ledger.run("k:stale", "mark_tag", call)
    assert (outcome.status, outcome.performed, call.calls) == ("done", True, 1)
    effect = await row("k:stale")
    assert (effect.status, effect.attempts) == ("done", 2)


async def test_stale_at_most_once_claim_is_unknown_and_never_called(
    ledger: EffectLedger, clock: Clock
) -> None:
    await crashed_claim(ledger, "welcome:w2", "send_welcome_msg")
    clock.now += 31
    call = Recorder()
    for _ in range(3):
        outcome = await ledger.run("welcome:w2", "send_welcome_msg", call)
        assert (outcome.status, outcome.performed) == ("unknown", False)
    assert call.calls == 0
    effect = await row("welcome:w2")
    assert (effect.status, effect.attempts, effect.claim_token) == ("unknown", 1, None)
    assert "stale" in json.loads(effect.result or "")["error"]


async def test_a_live_claim_that_settles_while_waiting_gives_its_outcome(
    database: Database, clock: Clock
) -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow() -> None:
        started.set()
        await release.wait()

    first = asyncio.create_task(EffectLedger(database, clock=clock).run("k:live", "mark_tag", slow))
    await started.wait()
    waiter = EffectLedger(database, clock=clock, busy_wait=30.0)
    call = Recorder()
    second = asyncio.create_task(waiter.run("k:live", "mark_tag", call))
    await asyncio.sleep(0.1)  # let the waiter find the claim live
    assert not second.done()
    release.set()
    assert (await first).performed
    outcome = await second
    assert (outcome.status, outcome.performed, call.calls) == ("done", False, 0)


async def test_on_done_commits_with_the_record(ledger: EffectLedger) -> None:
    async def mirror(answer: object) -> None:
        await Effect.filter(key="k:mirror").update(subject=f"mirrored {answer}")

    await ledger.run("k:mirror", "add_corp_tag", Recorder(answer="et9"), on_done=mirror)
    assert (await row("k:mirror")).subject == "mirrored et9"

    async def broken(answer: object) -> None:
        raise RuntimeError("local write failed")

    with pytest.raises(RuntimeError):
        await ledger.run("k:broken", "add_corp_tag", Recorder(), on_done=broken)
    assert (await row("k:broken")).status == "claimed"  # not closed: its lease decides


async def test_cancelled_call_leaves_unknown(ledger: EffectLedger) -> None:
    calling = asyncio.Event()

    async def hang() -> None:
        calling.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(ledger.run("robot:1", "robot_send", hang))
    await calling.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await row("robot:1")).status == "unknown"
    call = Recorder()
    assert (await ledger.run("robot:1", "robot_send", call)).status == "unknown"
    assert call.calls == 0


async def test_unsettled_effects_are_resolved_by_a_fresh_read(
    ledger: EffectLedger, clock: Clock
) -> None:
    await crashed_claim(ledger, "mark_tag:a", "mark_tag")
    await crashed_claim(ledger, "mark_tag:b", "mark_tag")
    await ledger.run("mark_tag:c", "mark_tag", Recorder(), subject="subject")
    assert await ledger.unsettled("other", "mark_tag") == []
    with pytest.raises(EffectBusy) as busy:  # their runs may still answer: wait for them
        await ledger.unsettled("subject", "mark_tag")
    assert 30.0 <= (busy.value.defer or 0) <= 30.1
    clock.now += 31
    stale_a, stale_b = await ledger.unsettled("subject", "mark_tag")
    assert (stale_a.key, stale_a.request) == ("mark_tag:a", {"n": 1})
    assert await ledger.resolve(stale_a, done=True, result={"read": "in place"})
    assert not await ledger.resolve(stale_a, done=False, result={})  # settled once
    assert await ledger.resolve(stale_b, done=False, result={"read": "not in place"})
    assert await ledger.unsettled("subject", "mark_tag") == []
    effect = await row("mark_tag:a")
    assert (effect.status, json.loads(effect.result or "")) == ("done", {"read": "in place"})
    effect = await row("mark_tag:b")
    assert (effect.status, effect.retryable) == ("failed", True)
    call = Recorder()  # its own run, delivered again, may still do it
    assert (await ledger.run("mark_tag:b", "mark_tag", call)).performed and call.calls == 1


async def test_unknown_kinds_and_overlong_keys_are_refused(ledger: EffectLedger) -> None:
    with pytest.raises(ValueError, match="unknown effect kind"):
        await ledger.run("k", "teleport", Recorder())
    with pytest.raises(ValueError, match="effect_key"):
        await ledger.run("k" * (KEY_MAX + 1), "mark_tag", Recorder())


def test_long_keys_keep_their_head_and_stay_unique() -> None:
    long_a = effect_key("add_corp_tag", "corp", "组" * 30, "标签" * 15, "m" * 200)
    long_b = effect_key("add_corp_tag", "corp", "组" * 30, "标签" * 15, "m" * 199 + "n")
    assert len(long_a) == len(long_b) == KEY_MAX and long_a != long_b
    assert long_a.startswith("add_corp_tag:corp:组")
    assert effect_key("mark_tag", "c", "u", "e", "m1") == "mark_tag:c:u:e:m1"


async def test_many_claimers_of_a_stale_claim_take_it_over_once(
    database: Database, clock: Clock
) -> None:
    first = EffectLedger(database, clock=clock, lease=30.0)
    await crashed_claim(first, "k:stale-race", "mark_tag")
    clock.now += 31
    call = Recorder()
    ledgers = [EffectLedger(database, clock=clock, lease=30.0, busy_wait=5.0) for _ in range(4)]
    outcomes = await asyncio.gather(
        *(ledgers[n % 4].run("k:stale-race", "mark_tag", call) for n in range(24))
    )
    assert call.calls == 1
    assert [o.performed for o in outcomes].count(True) == 1
    assert (await row("k:stale-race")).attempts == 2


def test_the_openapi_document_lists_every_kind_and_status() -> None:
    from scrm.api.openapi import SPEC_PATH
    from scrm.effects import STATUSES

    spec = json.loads(SPEC_PATH.read_text())
    schema = spec["components"]["schemas"]["Effect"]["properties"]
    assert schema["kind"]["enum"] == list(KINDS)
    assert schema["status"]["enum"] == list(STATUSES)
    assert sorted(schema["policy"]["enum"]) == sorted({p.value for p in KINDS.values()})
