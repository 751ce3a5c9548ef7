"""`run.py simulate` against a running service and its sandbox, with any number of customers."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from config import Secret, load_settings
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


async def test_no_service_running_is_a_hint_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The usual first mistake: simulate before `make run` is up, or in a shell with other ports."""
    ports = []
    for _ in range(2):  # two ports nobody listens on
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    settings = load_settings(
        {
            "SCRM_VAR_DIR": str(tmp_path / "var"),
            "SCRM_PORT": str(ports[0]),
            "SCRM_SANDBOX_PORT": str(ports[1]),
        }
    )
    assert await simulate(settings) == 2
    err = capsys.readouterr().err
    assert "cannot reach the service" in err and "is `make run` running" in err


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_wrong_admin_token_is_named(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = dataclasses.replace(
        stack.settings,
        port=stack.server.port or 0,
        sandbox_port=urlsplit(stack.sandbox.url).port or 0,
        admin_token=Secret("not-the-service-token"),
    )
    assert await simulate(settings, customers=2, wait=0) == 2
    assert "answered 401 (the admin token must be the service's)" in capsys.readouterr().err
