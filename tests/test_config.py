"""Configuration: defaults < file < environment, and one clear line for every mistake."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.config import DEFAULT_DATABASE_URL, ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_with_no_config_at_all():
    config = load_config(env={})
    assert config.storage.url == DEFAULT_DATABASE_URL == "sqlite+aiosqlite:///./data/grassroots.db"
    assert (config.bot.timezone, config.bot.language) == ("Asia/Shanghai", "zh-CN")
    assert config.secret_key is None


def test_the_shipped_example_is_valid_and_equals_the_defaults():
    example = load_config(ROOT / "config.example.toml", env={})
    assert example.model_dump() == load_config(env={}).model_dump()


def test_file_then_environment(tmp_path):
    path = write(
        tmp_path,
        '[storage]\nurl = "sqlite+aiosqlite:///file.db"\n'
        '[bot]\nlanguage = "en"\n[server]\nport = 9000\n',
    )
    from_file = load_config(path, env={})
    assert (from_file.storage.url, from_file.bot.language, from_file.server.port) == (
        "sqlite+aiosqlite:///file.db",
        "en",
        9000,
    )
    env = {"GRASSROOTS_DATABASE_URL": "postgresql+asyncpg://db/x", "GRASSROOTS_SECRET_KEY": "s3"}
    both = load_config(path, env=env)
    assert (both.storage.url, both.bot.language, both.secret_key) == (
        "postgresql+asyncpg://db/x",
        "en",
        "s3",
    )
    via_env_var = load_config(env={"GRASSROOTS_CONFIG": str(path)})
    assert via_env_var.server.port == 9000


def test_secret_from_a_file_named_in_the_environment(tmp_path):
    secret = tmp_path / "key"
    secret.write_text("from-file\n")
    assert load_config(env={"GRASSROOTS_SECRET_KEY_FILE": str(secret)}).secret_key == "from-file"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[storage]\nuri = "x"\n', "config.toml: storage.uri: unknown key"),
        ("[srever]\nport = 1\n", "config.toml: srever: unknown key"),
        (
            '[server]\nport = "8080"\n',
            "config.toml: server.port: Input should be a valid integer (got str)",
        ),
        (
            "[server]\nport = 70000\n",
            "config.toml: server.port: Input should be less than or equal to 65535",
        ),
        (
            '[bot]\ntimezone = "Mars/Olympus"\n',
            "config.toml: bot.timezone: unknown time zone 'Mars/Olympus'",
        ),
        ('[bot]\nlanguage = "fr"\n', "config.toml: bot.language: must be one of zh-CN, en"),
        (
            '[storage]\nurl = "mysql://x"\n',
            "config.toml: storage.url: must start with "
            "sqlite+aiosqlite:// or postgresql+asyncpg://",
        ),
        (
            'secret_key = "leaked"\n',
            "config.toml: secret_key: secrets are not read from the config file",
        ),
        ("[storage\n", "config.toml: invalid TOML: Expected ']'"),
        ("storage = 3\n", "config.toml: storage: Input should be a valid dictionary"),
    ],
)
def test_bad_config_names_file_key_and_problem(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_config(path, env={})
    line = str(error.value)
    assert "\n" not in line
    assert line.startswith(str(path.parent) + os.sep + message), line


def test_unreadable_and_undecodable_files(tmp_path):
    with pytest.raises(ConfigError, match=r"missing\.toml: cannot read: No such file"):
        load_config(tmp_path / "missing.toml", env={})
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match=r"bin\.toml: not UTF-8 text"):
        load_config(binary, env={})


def test_bad_environment_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match=r"^environment: GRASSROOTS_DATABASE_URL: must start"):
        load_config(env={"GRASSROOTS_DATABASE_URL": "mysql://x"})
    with pytest.raises(ConfigError, match=r"^environment: GRASSROOTS_SECRET_KEY_FILE: cannot"):
        load_config(env={"GRASSROOTS_SECRET_KEY_FILE": str(tmp_path / "none")})


def test_sandbox_secret_key_is_generated_once_beside_the_database(tmp_path):
    config = load_config(env={"GRASSROOTS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/d.db"})
    key = config.ensure_secret_key()
    assert len(key) >= 32 and config.ensure_secret_key() == key
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    pg = load_config(env={"GRASSROOTS_DATABASE_URL": "postgresql+asyncpg://h/d"})
    with pytest.raises(ConfigError, match="GRASSROOTS_SECRET_KEY: required with PostgreSQL"):
        pg.ensure_secret_key()


ACCOUNT = "AC" + "0" * 32


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        (
            f'[twilio]\naccount_sid = "{ACCOUNT}"\nfrom_number = "+8610690000"\n'
            'public_url = "https://bot.example.org"\n',
            {},
            "environment: TWILIO_AUTH_TOKEN: required when twilio.account_sid is set",
        ),
        (
            f'[twilio]\naccount_sid = "{ACCOUNT}"\npublic_url = "https://bot.example.org"\n',
            {"TWILIO_AUTH_TOKEN": "t"},
            "config.toml: twilio.from_number: set it or twilio.messaging_service_sid",
        ),
        (
            f'[twilio]\naccount_sid = "{ACCOUNT}"\nfrom_number = "+8610690000"\n',
            {"TWILIO_AUTH_TOKEN": "t"},
            "config.toml: twilio.public_url: required",
        ),
        (
            '[twilio]\naccount_sid = "SK123"\n',
            {},
            "config.toml: twilio.account_sid: must be empty or a 34-character SID starting with AC",
        ),
        (
            '[twilio]\npublic_url = "bot.example.org"\n',
            {},
            "config.toml: twilio.public_url: must start with https://",
        ),
        ("", {"TWILIO_ACCOUNT_SID": "nope"}, "environment: TWILIO_ACCOUNT_SID: must be empty"),
    ],
)
def test_a_half_configured_sms_channel_is_refused(tmp_path, text, env, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_config(path, env=env)
    assert message in str(error.value)


def test_sms_channel_is_on_when_complete(tmp_path):
    path = write(
        tmp_path,
        f'[twilio]\naccount_sid = "{ACCOUNT}"\nmessaging_service_sid = "MG1"'
        '\npublic_url = "https://bot.example.org/"\n',
    )
    config = load_config(path, env={"TWILIO_AUTH_TOKEN": "t"})
    assert config.twilio.enabled and config.twilio_auth_token == "t"
    assert config.twilio.public_url == "https://bot.example.org"  # trailing slash dropped
    assert "twilio_auth_token" not in repr(config)  # secrets stay out of reprs and logs
    assert not load_config(env={}).twilio.enabled


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[telegram]\nenabled = true\n", {}, "environment: TELEGRAM_BOT_TOKEN: required"),
        (
            "[telegram]\nenabled = true\n",
            {"TELEGRAM_BOT_TOKEN": "1:x"},
            "config.toml: telegram.public_url: required in webhook mode",
        ),
        (
            '[telegram]\nenabled = true\npublic_url = "https://bot.example.org"\n',
            {"TELEGRAM_BOT_TOKEN": "1:x"},
            "environment: TELEGRAM_WEBHOOK_SECRET: required",
        ),
        (
            '[telegram]\nmode = "push"\n',
            {},
            "config.toml: telegram.mode: must be webhook or polling",
        ),
    ],
)
def test_a_half_configured_telegram_channel_is_refused(tmp_path, text, env, message):
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, text), env=env)
    assert message in str(error.value)


def test_telegram_polling_needs_no_public_url_or_secret(tmp_path):
    path = write(tmp_path, '[telegram]\nenabled = true\nmode = "polling"\n')
    config = load_config(path, env={"TELEGRAM_BOT_TOKEN": "1:x"})
    assert config.telegram.enabled and config.telegram_token == "1:x"
    assert "telegram_token" not in repr(config)
