"""run.py as a new user meets it: the banner's commands, a busy port, a quiet log."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import run
from config import Secret, Settings
from scrm.events.router import Dispatcher

ROOT = Path(__file__).resolve().parents[1]
# This interpreter as the service started in ROOT names it.
PYTHON_FROM_ROOT = (
    os.path.relpath(sys.executable, ROOT)
    if Path(sys.executable).is_relative_to(ROOT)
    else sys.executable
)
# What an operator acts on none of, at INFO (issue 8): library lifecycle, scheduler ticks,
# events nothing handles, and the database thread outliving a failed start.
NOISE = (
    "Tortoise-ORM shutdown",
    "Adding job tentatively",
    "Running job",
    "Scheduler started",
    "no handler for event",
    "Event loop is closed",
    "Traceback",
)


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRM_")}
    return env | values


async def run_py(env: dict[str, str], *argv: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "run.py", *argv, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode()


@pytest.fixture
def busy_port() -> Iterator[int]:
    """An ephemeral port some other program is listening on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


@pytest.mark.parametrize(
    ("command", "variable", "other"),
    [
        ("serve", "SCRM_PORT", "SCRM_SANDBOX_PORT"),
        ("serve", "SCRM_SANDBOX_PORT", "SCRM_PORT"),
        ("sandbox", "SCRM_SANDBOX_PORT", "SCRM_PORT"),
    ],
)
async def test_a_busy_port_is_one_line_naming_the_variable(
    busy_port: int, tmp_path: Path, command: str, variable: str, other: str
) -> None:
    env = clean_env(SCRM_VAR_DIR=str(tmp_path), **{variable: str(busy_port), other: "0"})
    code, out = await run_py(env, command)
    assert code == 2
    assert out.splitlines() == [
        f"refusing to start: port {busy_port} is already in use; set {variable} to a free port"
    ]
    assert not (tmp_path / "scrm.db").exists()  # checked before the database was opened


async def test_a_command_prints_its_result_and_no_library_chatter(tmp_path: Path) -> None:
    code, out = await run_py(clean_env(SCRM_VAR_DIR=str(tmp_path)), "migrate")
    assert code == 0, out
    [line] = out.splitlines()  # before, also INFO "Tortoise-ORM shutdown" from tortoise
    assert line.startswith(f"sqlite://{tmp_path}/scrm.db: applied ['0_"), line


def test_banner_commands_name_this_python_the_token_and_the_ports(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    venv_python = tmp_path / ".venv" / "bin" / "python"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "executable", str(venv_python))
    monkeypatch.delenv("SCRM_ADMIN_TOKEN", raising=False)
    monkeypatch.delenv("SCRM_CONFIG", raising=False)
    settings = Settings(admin_token=Secret("a" * 24))
    default = run.sandbox_banner(settings, "http://127.0.0.1:8080", "http://127.0.0.1:8081")
    assert "  .venv/bin/python run.py simulate" in default
    assert " python run.py" not in default
    assert f"  TOKEN={'a' * 24}" in default
    assert f"  cd {tmp_path}" in default
    assert "export" not in default  # the defaults need nothing set
    moved = run.sandbox_banner(settings, "http://127.0.0.1:9000", "http://127.0.0.1:9001")
    assert "  export SCRM_PORT=9000 SCRM_SANDBOX_PORT=9001" in moved


def test_a_configured_token_and_directory_reach_the_second_shell(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token = "configured-token-'0123456789"  # quoting matters
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCRM_ADMIN_TOKEN", token)
    settings = Settings(admin_token=Secret(token), var_dir=tmp_path / "state")
    banner = run.sandbox_banner(settings, "http://127.0.0.1:8080", "http://127.0.0.1:8081")
    setup = [
        line.strip()
        for line in banner.splitlines()
        if line.startswith(("  cd", "  TOKEN", "  export"))
    ]
    script = "\n".join([*setup, "printenv SCRM_ADMIN_TOKEN SCRM_VAR_DIR", "pwd"])
    shell = subprocess.run(
        ["bash", "-e", "-c", script], env=clean_env(), cwd="/", capture_output=True, text=True
    )
    assert shell.stdout.splitlines() == [token, str(tmp_path / "state"), str(tmp_path)]


def test_python_outside_the_directory_is_named_by_its_full_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "executable", "/opt/py/bin/python3.11")
    assert run.python_command() == "/opt/py/bin/python3.11"


def test_library_lifecycle_logs_are_below_the_operator_level() -> None:
    names = ("tortoise", "apscheduler.scheduler", "apscheduler.executors.default", "aerich")
    saved = {name: logging.getLogger(name).level for name in run.QUIET_LIBRARIES}
    try:
        run.configure_logging("INFO")
        assert not any(logging.getLogger(name).isEnabledFor(logging.INFO) for name in names)
        run.configure_logging("DEBUG")  # asked for everything: gets everything
        assert logging.getLogger("apscheduler.executors.default").isEnabledFor(logging.DEBUG)
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def test_events_auto_tagging_emits_are_handled_and_only_unknown_ones_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dispatcher = Dispatcher(run.ROUTERS)
    with caplog.at_level(logging.DEBUG, logger="scrm.events.router"):
        for name in ("ticket.requested", "alert.raised", "ticket.notices_queued"):
            assert dispatcher.handlers_for(name)  # the tickets feature consumes them
        dispatcher.handlers_for("something.new")
    assert [r.getMessage() for r in caplog.records] == [
        "no handler for event something.new; stored without processing"
    ]


async def read_banner(stream: asyncio.StreamReader, log: list[str]) -> list[str]:
    """Collect the service's output into `log`; return the banner's commands once printed."""
    while "Try, in another shell:" not in log[-1:]:
        line = await stream.readline()
        assert line, "the service stopped before printing its banner:\n" + "\n".join(log)
        log.append(line.decode().rstrip())
    commands = []
    while (line := (await stream.readline()).decode().strip()) != "":
        commands.append(line)
    log += commands
    return commands


async def keep_reading(stream: asyncio.StreamReader, log: list[str]) -> None:
    while line := await stream.readline():
        log.append(line.decode().rstrip())


@pytest.mark.slow
async def test_first_run_banner_commands_work_in_a_fresh_shell(tmp_path: Path) -> None:
    """Start the service, paste the banner's commands into bash elsewhere, read the log."""
    bash, curl = shutil.which("bash"), shutil.which("curl")
    assert bash and curl, "the first-run commands need bash and curl"
    env = clean_env(SCRM_VAR_DIR=str(tmp_path / "var"), SCRM_PORT="0", SCRM_SANDBOX_PORT="0")
    service = await asyncio.create_subprocess_exec(
        sys.executable, "run.py", "serve", cwd=ROOT, env=env, start_new_session=True,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert service.stdout is not None
    log: list[str] = []
    try:
        commands = await asyncio.wait_for(read_banner(service.stdout, log), timeout=60)
        reader = asyncio.create_task(keep_reading(service.stdout, log))
        shell = await asyncio.create_subprocess_exec(
            bash, "-e", "-c", "\n".join(commands), cwd=tmp_path,
            env=clean_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(shell.communicate(), timeout=120)
        pasted = out.decode()
        assert shell.returncode == 0, "\n".join([pasted, err.decode(), *log])
        assert "service recorded 5/5 customers" in pasted
        assert '{"events": {"received": ' in pasted  # the curl lines were authorised
        assert '"error"' not in pasted
        assert [noise for noise in NOISE if noise in pasted + err.decode()] == []
    finally:
        os.killpg(service.pid, signal.SIGTERM)
        await asyncio.wait_for(service.wait(), timeout=60)
    await reader
    output = "\n".join(log)
    assert service.returncode == 0, output
    assert [noise for noise in NOISE if noise in output] == [], output


@pytest.mark.slow
async def test_production_without_keys_is_told_how_to_make_them(
    postgres_url: str, tmp_path: Path
) -> None:
    env = clean_env(
        SCRM_CORP_ID="wwprod0001", SCRM_CALLBACK_TOKEN="token", SCRM_CALLBACK_AES_KEY="k" * 43,
        SCRM_CONTACT_SECRET="secret", SCRM_AGENT_ID="1000002", SCRM_AGENT_SECRET="secret",
        SCRM_ADMIN_TOKEN="admin-token-0123456789", SCRM_DATABASE_URL=postgres_url,
        SCRM_PORT="0", SCRM_VAR_DIR=str(tmp_path), SCRM_WORKER_CONCURRENCY="0",
        SCRM_ARCHIVE_KEY_FILE=str(tmp_path / "keys" / "archive.json"),
    )  # fmt: skip
    code, out = await run_py(env, "serve")
    assert code == 2, out
    assert "production does not generate keys" in out
    hint = f"create the key ring once with: {PYTHON_FROM_ROOT} run.py archive init-keys"
    assert out.splitlines()[-1] == hint
    code, out = await run_py(env, "archive", "init-keys")
    assert code == 0, out
    assert f"SCRM_ARCHIVE_KEY_FILE={tmp_path / 'keys' / 'archive.json'}" in out
    code, out = await run_py(env, "archive", "verify")  # the production ring opens
    assert code == 0, out
