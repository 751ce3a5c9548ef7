"""A sandbox with a state file is the same corp after a restart; one without writes nothing."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from scrm.sandbox import SandboxConfig, SandboxServer, SandboxState, create_sandbox_app
from scrm.sandbox.app import SAVER
from scrm.sandbox.persist import STATE_FILE_NAME, StateFile, StateSaver, snapshot
from tests.sandbox.conftest import AGENT_SECRET, CORP_ID

EXTERNAL = "/cgi-bin/externalcontact"


@asynccontextmanager
async def running(config: SandboxConfig) -> AsyncIterator[tuple[SandboxServer, Any]]:
    async with SandboxServer(config) as sandbox, aiohttp.ClientSession() as http:

        async def api(method: str, path: str, token: str | None = None, **kw: Any) -> Any:
            params = kw.pop("params", {}) | ({"access_token": token} if token else {})
            async with http.request(method, sandbox.url + path, params=params, **kw) as r:
                return await r.json()

        yield sandbox, api


async def token(api: Any) -> str:
    data = await api(
        "GET", "/cgi-bin/gettoken", params={"corpid": CORP_ID, "corpsecret": AGENT_SECRET}
    )
    return str(data["access_token"])


@pytest.fixture
def persistent(config: SandboxConfig, tmp_path: Path) -> SandboxConfig:
    return replace(config, clock=time.time, state_file=tmp_path / "var" / STATE_FILE_NAME)


async def test_a_restarted_sandbox_is_the_same_corp(persistent: SandboxConfig) -> None:
    async with running(persistent) as (first, api):
        old_token = await token(api)
        await api("POST", "/_sandbox/departments", json={"id": 2, "name": "销售部"})
        await api("POST", "/_sandbox/staff", json={"userid": "zhangsan", "department": [2]})
        customer = await api(
            "POST",
            "/_sandbox/customers",
            json={"name": "王女士", "userid": "zhangsan", "state": "expo"},
        )
        wm = customer["external_userid"]
        group = await api(
            "POST",
            f"{EXTERNAL}/add_corp_tag",
            old_token,
            json={"group_name": "意向", "tag": [{"name": "高意向"}]},
        )
        tag_id = group["tag_group"]["tag"][0]["id"]
        mark = {"userid": "zhangsan", "external_userid": wm, "add_tag": [tag_id]}
        assert (await api("POST", f"{EXTERNAL}/mark_tag", old_token, json=mark))["errcode"] == 0
        way = await api(
            "POST",
            f"{EXTERNAL}/add_contact_way",
            old_token,
            json={"type": 1, "scene": 2, "user": ["zhangsan"], "state": "fair"},
        )
        robot = (await api("POST", "/_sandbox/robots", json={}))["key"]
        before = snapshot(first.state)
    path = persistent.state_file
    assert path is not None and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(path.parent) == [STATE_FILE_NAME]  # no temp file left

    async with running(persistent) as (second, api):
        assert snapshot(second.state) == before
        # The service's stored ids and its cached token keep working against the new process.
        tags = await api("POST", f"{EXTERNAL}/get_corp_tag_list", old_token, json={})
        assert [t["id"] for g in tags["tag_group"] for t in g["tag"]] == [tag_id]
        contact = await api("GET", f"{EXTERNAL}/get", old_token, params={"external_userid": wm})
        [follow] = contact["follow_user"]
        assert follow["state"] == "expo" and [t["tag_id"] for t in follow["tags"]] == [tag_id]
        assert second.state.contact_ways[way["config_id"]]["state"] == "fair"
        assert robot in second.state.robots
        users = await api(
            "GET", "/cgi-bin/user/simplelist", old_token, params={"department_id": "2"}
        )
        assert [u["userid"] for u in users["userlist"]] == ["zhangsan"]


async def test_saves_are_debounced_and_skip_unchanged_state(
    persistent: SandboxConfig, aiohttp_client: Any
) -> None:
    state = SandboxState(persistent)
    app = create_sandbox_app(replace(persistent, state_save_delay=3600.0), state)
    client = await aiohttp_client(app)
    saver: StateSaver = app[SAVER]
    for userid in ("a", "b", "c"):
        assert (await client.post("/_sandbox/staff", json={"userid": userid})).status == 200
    assert saver.pending and saver.writes == 0  # one write is scheduled for the burst
    saver.flush()
    assert not saver.pending and saver.writes == 1
    await client.get("/_sandbox/calls")  # a read changes nothing
    saver.flush()
    assert saver.writes == 1
    assert persistent.state_file is not None
    stored = json.loads(persistent.state_file.read_text())
    assert [s["userid"] for s in stored["staff"]] == ["a", "b", "c"]


async def test_another_corps_file_is_not_loaded(persistent: SandboxConfig) -> None:
    assert persistent.state_file is not None
    other = SandboxState(replace(persistent, corp_id="wwother"))
    other.add_staff("stranger")
    StateSaver(other, StateFile(persistent.state_file), 0).flush()
    state = SandboxState(persistent)
    create_sandbox_app(persistent, state)
    assert "stranger" not in state.staff


async def test_an_unreadable_file_is_set_aside(persistent: SandboxConfig) -> None:
    assert persistent.state_file is not None
    persistent.state_file.parent.mkdir(parents=True)
    persistent.state_file.write_text("{half a file")
    state = SandboxState(persistent)
    create_sandbox_app(persistent, state)
    assert state.staff == {}
    aside = persistent.state_file.with_name(STATE_FILE_NAME + ".unreadable")
    assert aside.read_text() == "{half a file"


async def test_without_a_state_file_nothing_is_written(
    config: SandboxConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests (and anyone who does not ask) keep the corp in memory: no var/ anywhere."""
    monkeypatch.chdir(tmp_path)
    assert config.state_file is None
    async with running(replace(config, clock=time.time)) as (sandbox, api):
        await api("POST", "/_sandbox/staff", json={"userid": "zhangsan"})
        assert SAVER not in sandbox.app
    assert os.listdir(tmp_path) == []
