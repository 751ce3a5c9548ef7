"""A batch whose commit fails is stored again message by message: neighbours are kept."""

from __future__ import annotations

import dataclasses

import pytest

from archive.runtime import ArchiveRuntime
from archive.store.read import read_message
from archive.store.write import StorePipeline, prepare
from tests.archive.messages import NOV_2025, text_message


async def test_one_failing_message_does_not_lose_its_batch(runtime: ArchiveRuntime) -> None:
    good = [
        prepare(runtime, text_message(f"m{i}", f"第{i}条", msgtime=NOV_2025 + i)) for i in range(5)
    ]
    template = prepare(runtime, text_message("x", "坏"))
    bad = dataclasses.replace(  # past the intake's checks on purpose: only the database refuses
        template, message=dataclasses.replace(template.message, msgid="bad\ud800")
    )
    pipeline = StorePipeline(runtime)
    try:
        await pipeline.submit_prepared([*good[:2], bad, *good[2:]])
        assert await pipeline.finish() == 5
    finally:
        await pipeline.close()
    assert [msgid for msgid, _ in pipeline.failed] == ["bad\ud800"]
    for i in range(5):
        assert await read_message(runtime, f"m{i}") is not None


async def test_a_batch_failing_on_every_message_raises(runtime: ArchiveRuntime) -> None:
    template = prepare(runtime, text_message("x", "坏"))
    bad = [
        dataclasses.replace(
            template, message=dataclasses.replace(template.message, msgid=f"b{i}\ud800")
        )
        for i in range(2)
    ]
    pipeline = StorePipeline(runtime)
    try:
        await pipeline.submit_prepared(bad)
        with pytest.raises(Exception):  # noqa: B017 - the driver's type differs by engine
            await pipeline.finish()  # the database (or all of it) failed: not hidden
    finally:
        await pipeline.close()
