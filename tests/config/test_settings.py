import os
import stat
from pathlib import Path

import pytest

from config import ConfigError, Secret, load_settings

OFFICIAL_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"  # non-canonical base64 (PROTOCOL §1.1)


def production(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "SCRM_VAR_DIR": str(tmp_path),
        "SCRM_CORP_ID": "ww1436e0e65a779aee",
        "SCRM_CALLBACK_TOKEN": "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
        "SCRM_CALLBACK_AES_KEY": OFFICIAL_KEY,
        "SCRM_CONTACT_SECRET": "contact-secret-value",
        "SCRM_AGENT_ID": "1000002",
        "SCRM_AGENT_SECRET": "agent-secret-value",
        "SCRM_ADMIN_TOKEN": "a-long-admin-token-value",
        **extra,
    }


def test_no_credentials_means_sandbox_with_persisted_dev_values(tmp_path: Path) -> None:
    first = load_settings({"SCRM_VAR_DIR": str(tmp_path)})
    again = load_settings({"SCRM_VAR_DIR": str(tmp_path)})
    assert first.sandbox is True
    assert first.wecom == again.wecom and first.admin_token == again.admin_token
    assert first.wecom.api_base == "http://127.0.0.1:8081"
    assert first.database_url == f"sqlite://{tmp_path}/scrm.db"
    mode = stat.S_IMODE(os.stat(tmp_path / "dev-credentials.json").st_mode)
    assert mode == 0o600


def test_production_values_and_defaults(tmp_path: Path) -> None:
    settings = load_settings(production(tmp_path))
    assert settings.sandbox is False
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.wecom.api_base == "https://qyapi.weixin.qq.com"
    assert settings.wecom.callback_max_skew == 600
    assert settings.redis_url is None
    assert settings.wecom.callback_aes_key.value == OFFICIAL_KEY


def test_secrets_never_show_in_repr(tmp_path: Path) -> None:
    text = repr(load_settings(production(tmp_path)))
    for secret in ("hJqcu3uJ9Tn2", OFFICIAL_KEY, "contact-secret-value", "a-long-admin-token"):
        assert secret not in text
    assert str(Secret("x")) == "Secret('***')"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("SCRM_PORT", "eighty", "expected a whole number"),
        ("SCRM_PORT", "70000", "between 0 and 65535"),
        ("SCRM_CALLBACK_AES_KEY", "short", "43 characters"),
        ("SCRM_CALLBACK_AES_KEY", "+" * 43, "43 characters"),
        ("SCRM_DATABASE_URL", "mysql://x", "sqlite:// or postgres://"),
        ("SCRM_REDIS_URL", "http://x", "redis://"),
        ("SCRM_ADMIN_TOKEN", "short", "at least 16"),
        ("SCRM_SANDBOX", "maybe", "1/0"),
        ("SCRM_CALLBACK_MAX_SKEW", "0", "between 1 and 86400"),
        ("SCRM_WECOM_API_BASE", "ftp://x", "http://"),
        ("SCRM_WECOM_OAUTH_BASE", "open.weixin.qq.com", "http://"),
        ("SCRM_STAFF_SESSION_SECRET", "short", "at least 32"),
    ],
)
def test_bad_value_names_the_key(tmp_path: Path, key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(production(tmp_path, **{key: value}))
    assert info.value.key == key
    assert message in str(info.value)


def test_production_requires_credentials(tmp_path: Path) -> None:
    env = production(tmp_path)
    del env["SCRM_CALLBACK_TOKEN"]
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert info.value.key == "SCRM_CALLBACK_TOKEN"


def test_toml_file_with_env_override_and_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "scrm.toml"
    path.write_text('port = 9000\nhost = "0.0.0.0"\nlog_level = "debug"\n')
    settings = load_settings(production(tmp_path, SCRM_CONFIG=str(path), SCRM_PORT="9100"))
    assert (settings.host, settings.port, settings.log_level) == ("0.0.0.0", 9100, "DEBUG")
    path.write_text("prot = 9000\n")
    with pytest.raises(ConfigError, match=r"prot \(in .*scrm.toml\): unknown setting"):
        load_settings(production(tmp_path, SCRM_CONFIG=str(path)))
    path.write_text("port = 'many'\n")
    with pytest.raises(ConfigError, match=r"port \(in .*\): expected a whole number"):
        load_settings(production(tmp_path, SCRM_CONFIG=str(path)))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(production(tmp_path, SCRM_CONFIG=str(tmp_path / "missing.toml")))


def test_customer_calls_use_the_self_built_app_unless_a_contact_secret_is_set(
    tmp_path: Path,
) -> None:
    """New corps (after 2023-12-01) have no usable 客户联系 secret: unset is the default."""
    new_corp = production(tmp_path)
    del new_corp["SCRM_CONTACT_SECRET"]
    wecom = load_settings(new_corp).wecom
    assert (wecom.customer_app, wecom.customer_secret.value) == ("agent", "agent-secret-value")
    wecom = load_settings(production(tmp_path)).wecom
    assert (wecom.customer_app, wecom.customer_secret.value) == ("contact", "contact-secret-value")
    sandbox = load_settings({"SCRM_VAR_DIR": str(tmp_path / "dev")}).wecom
    assert sandbox.customer_app == "agent"  # `make run` exercises the default path


def test_inbox_content_ttl_defaults_to_a_week_and_is_validated(tmp_path: Path) -> None:
    assert load_settings(production(tmp_path)).inbox_content_ttl_days == 7
    env = production(tmp_path, SCRM_INBOX_CONTENT_TTL_DAYS="2")
    assert load_settings(env).inbox_content_ttl_days == 2
    for value, message in (("0", "between 1 and 365"), ("a week", "expected a whole number")):
        with pytest.raises(ConfigError) as info:
            load_settings(production(tmp_path, SCRM_INBOX_CONTENT_TTL_DAYS=value))
        assert info.value.key == "SCRM_INBOX_CONTENT_TTL_DAYS" and message in str(info.value)
