"""`run.py simulate` against a running service and its sandbox, with any number of customers."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

import pytest

from scrm.simulate import simulate
from tests.e2e.conftest import Stack


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.stack_env(SCRM_WORKER_CONCURRENCY="2")
async def test_one_customer_scans_and_deletes_without_a_chat(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """The one customer is the one who deletes the member: nobody chats, nothing is refused."""
    settings = dataclasses.replace(
        stack.settings,
        port=stack.server.port or 0,
        sandbox_port=urlsplit(stack.sandbox.url).port or 0,
    )
    assert await simulate(settings, customers=1) == 0
    out = capsys.readouterr().out
    assert "service recorded 1/1 customers" in out and "chat messages" not in out
    assert await simulate(settings, customers=0) == 2
    assert "--customers must be at least 1" in capsys.readouterr().err
