from __future__ import annotations

import aiohttp

from config import Secret, WeComSettings
from config.sandbox import generate_dev_credentials
from scrm.sandbox import SandboxConfig, SandboxServer


def dev_settings() -> WeComSettings:
    creds = generate_dev_credentials()
    return WeComSettings(
        corp_id=creds["corp_id"],
        callback_token=Secret(creds["callback_token"]),
        callback_aes_key=Secret(creds["callback_aes_key"]),
        contact_secret=Secret(creds["contact_secret"]),
        agent_id=int(creds["agent_id"]),
        agent_secret=Secret(creds["agent_secret"]),
        api_base="http://127.0.0.1:0",
    )


def test_config_accepts_the_service_settings() -> None:
    settings = dev_settings()
    config = SandboxConfig.from_settings(settings, token_expires_in=60)
    assert config.corp_id == settings.corp_id and config.contact_secret == settings.contact_secret
    assert config.agent_id == 1000002 and config.token_expires_in == 60
    assert settings.contact_secret.value not in repr(config)


def test_config_accepts_plain_strings() -> None:
    config = SandboxConfig("ww1", "secret")  # type: ignore[arg-type]
    assert config.contact_secret == Secret("secret")


async def test_sandbox_server_runs_on_a_free_port() -> None:
    settings = dev_settings()
    async with SandboxServer(SandboxConfig.from_settings(settings)) as sandbox:
        assert sandbox.url.startswith("http://127.0.0.1:")
        params = {"corpid": settings.corp_id, "corpsecret": settings.contact_secret.value}
        url = f"{sandbox.url}/cgi-bin/gettoken"
        async with aiohttp.ClientSession() as session, session.get(url, params=params) as resp:
            assert (await resp.json())["errcode"] == 0
        assert len(sandbox.state.calls.find("gettoken")) == 1
