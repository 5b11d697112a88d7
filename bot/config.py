"""Configuration: built-in defaults < TOML file < environment.

The tracked config never holds secrets: they come from the environment, either directly
(`GRASSROOTS_SECRET_KEY`) or from a file named by the matching `*_FILE` variable, the
convention of Docker and systemd credentials. Any problem is one `ConfigError` line
naming the source, the key and what is wrong.
"""

from __future__ import annotations

import os
import re
import secrets
import tomllib
from datetime import date, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from bot.texts import LANGUAGES

ENV_CONFIG = "GRASSROOTS_CONFIG"
ENV_DATABASE_URL = "GRASSROOTS_DATABASE_URL"
ENV_SECRET_KEY = "GRASSROOTS_SECRET_KEY"
ENV_TWILIO_AUTH_TOKEN = "TWILIO_AUTH_TOKEN"
ENV_TWILIO_ACCOUNT_SID = "TWILIO_ACCOUNT_SID"
ENV_TELEGRAM_TOKEN = "TELEGRAM_BOT_TOKEN"
ENV_TELEGRAM_SECRET = "TELEGRAM_WEBHOOK_SECRET"
ENV_WECHAT_TOKEN = "WECHAT_TOKEN"
ENV_WECHAT_AES_KEY = "WECHAT_ENCODING_AES_KEY"
ENV_WECHAT_APP_SECRET = "WECHAT_APP_SECRET"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/grassroots.db"
SUPPORTED_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


class ConfigError(Exception):
    """A configuration problem, phrased as one line for the person who deploys."""


class MissingSecretKey(ConfigError):
    """GRASSROOTS_SECRET_KEY is needed and not set (the CLI says how to make one)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class BotSection(_Section):
    language: str = "zh-CN"
    timezone: str = "Asia/Shanghai"
    default_region: Annotated[str, Field(min_length=2, max_length=2)] = "CN"

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"must be one of {', '.join(LANGUAGES)}")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str) -> str:
        return value.upper()


class StorageSection(_Section):
    url: str = DEFAULT_DATABASE_URL
    # How long the texts of messages (received and sent) are kept; whole months past it are
    # then removed, counted first (storage/retention.py). "" keeps everything.
    keep_messages: str = "400d"

    @field_validator("keep_messages")
    @classmethod
    def _keep(cls, value: str) -> str:
        if value.strip() and parse_duration(value) < timedelta(days=1):
            raise ValueError('keep at least a day (or "" to keep everything)')
        return value.strip()

    def retention(self) -> timedelta | None:
        return parse_duration(self.keep_messages) if self.keep_messages else None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(SUPPORTED_SCHEMES):
            raise ValueError(f"must start with {' or '.join(SUPPORTED_SCHEMES)}")
        return value


class ServerSection(_Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    # Processes answering on that one port (uvicorn's supervisor); more than one needs
    # PostgreSQL.
    workers: Annotated[int, Field(ge=1, le=64)] = 1


class LogSection(_Section):
    level: str = "INFO"

    @field_validator("level")
    @classmethod
    def _level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return upper


def _base_url(value: str) -> str:
    """A service's base URL, without the trailing slash routes are appended to."""
    if value and not value.startswith(("https://", "http://")):
        raise ValueError("must start with https:// (or http:// for a local test)")
    return value.rstrip("/")


class TwilioSection(_Section):
    """SMS through Twilio; off while account_sid is empty. The auth token comes only from
    TWILIO_AUTH_TOKEN (or TWILIO_AUTH_TOKEN_FILE)."""

    account_sid: str = ""
    from_number: str = ""
    messaging_service_sid: str = ""
    public_url: str = ""
    api_base_url: str = "https://api.twilio.com"
    validate_signatures: bool = True

    @field_validator("account_sid")
    @classmethod
    def _account(cls, value: str) -> str:
        if value and not (value.startswith("AC") and len(value) == 34):
            raise ValueError("must be empty or a 34-character SID starting with AC")
        return value

    @field_validator("public_url", "api_base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _base_url(value)

    @property
    def enabled(self) -> bool:
        return bool(self.account_sid)


_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # as APScheduler's cron names them


def parse_duration(text: str) -> timedelta:
    """'90m', '6h', '2d' → timedelta."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30m, 6h or 2d")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


def parse_quiet_hours(text: str) -> tuple[time, time] | None:
    """'21:00-08:00' → (21:00, 08:00); '' → None (no quiet hours)."""
    if not text.strip():
        return None
    start, sep, end = text.partition("-")
    if not sep or not _CLOCK.match(start.strip()) or not _CLOCK.match(end.strip()):
        raise ValueError(f"{text!r} is not a range like 21:00-08:00")
    return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())


def parse_weekly(text: str) -> tuple[int | None, time] | None:
    """'fri 18:00' → (4, 18:00); '20:00' → (None, 20:00) for every day; '' → None (off)."""
    if not text.strip():
        return None
    parts = text.lower().split()
    if len(parts) == 2 and parts[0] in DAYS and _CLOCK.match(parts[1]):
        return DAYS.index(parts[0]), time.fromisoformat(parts[1])
    if len(parts) == 1 and _CLOCK.match(parts[0]):
        return None, time.fromisoformat(parts[0])
    raise ValueError(f"{text!r} is not a time like 'fri 18:00' or '20:00'")


class RateSection(_Section):
    """Messages per second each channel may send; Telegram also per chat."""

    sms: Annotated[float, Field(gt=0)] = 10.0
    telegram: Annotated[float, Field(gt=0)] = 25.0
    telegram_per_chat: Annotated[float, Field(gt=0)] = 1.0
    console: Annotated[float, Field(gt=0)] = 100.0
    wechat: Annotated[float, Field(gt=0)] = 20.0  # customer-service sends


class OutboxSection(_Section):
    quiet_hours: str = "21:00-08:00"
    max_attempts: Annotated[int, Field(ge=1, le=50)] = 8
    concurrency: Annotated[int, Field(ge=1, le=1000)] = 16
    # How long a claim on a message lasts unless its dispatcher renews it (a heartbeat every
    # quarter of it): a worker that died gives its messages up after at most this long. At
    # least twice the longest provider call (Twilio's: 10 s); 20 s returns a dead worker's
    # claims well within the 30 s the deployment promises.
    claim_lease: str = "20s"
    # Messages per second of each channel, for the whole deployment however many workers.
    rate: RateSection = RateSection()

    @field_validator("claim_lease")
    @classmethod
    def _lease(cls, value: str) -> str:
        if parse_duration(value) < timedelta(seconds=2):
            raise ValueError("claim_lease must be at least 2s: a send must fit in half of it")
        return value

    @property
    def lease(self) -> timedelta:
        return parse_duration(self.claim_lease)

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str) -> str:
        parse_quiet_hours(value)
        return value

    @property
    def quiet(self) -> tuple[time, time] | None:
        return parse_quiet_hours(self.quiet_hours)


class SchedulerSection(_Section):
    enabled: bool = True
    # The campaign file; empty means the shipped 创先争优 2010 campaign.
    campaign: str = ""
    # Overrides the campaign file's start date (for a campaign of relative dates).
    campaign_start: date | None = None
    # A milestone or periodic job missed while the service was down is caught up at start
    # if it is at most this late; older ones are skipped (and logged).
    grace: str = "6h"
    weekly_reminder: str = "fri 18:00"
    daily_nudge: str = ""
    weekly_digest: str = "mon 08:30"

    @field_validator("grace")
    @classmethod
    def _grace(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("weekly_reminder", "weekly_digest")
    @classmethod
    def _weekly(cls, value: str) -> str:
        parsed = parse_weekly(value)
        if parsed is not None and parsed[0] is None:
            raise ValueError(f"{value!r} needs a day, like 'fri 18:00'")
        return value

    @field_validator("daily_nudge")
    @classmethod
    def _daily(cls, value: str) -> str:
        parsed = parse_weekly(value)
        if parsed is not None and parsed[0] is not None:
            raise ValueError(f"{value!r} is daily: a time like '20:00', or empty for off")
        return value


class ParticipationSection(_Section):
    """How the public takes part: polls, comments, public notices."""

    # A poll created from chat stays open this many days (the CLI sets its own times).
    poll_days: int = Field(default=7, ge=1, le=90)
    # A public notice (公示) lasts this many days unless the secretary says otherwise.
    notice_days: int = Field(default=7, ge=1, le=60)
    # Comments one sender may leave in an hour; more are answered politely, not stored.
    comments_per_hour: int = Field(default=5, ge=1, le=100)
    # Per-sender limits, counted atomically so a burst cannot walk through them: objections
    # (each is forwarded to the secretary and leaders), recommendations, and a secretary's
    # or leader's notices (通知) and briefings (通报) to a whole branch.
    objections_per_hour: int = Field(default=3, ge=1, le=100)
    recommendations_per_hour: int = Field(default=5, ge=1, le=100)
    notices_per_day: int = Field(default=10, ge=1, le=200)
    briefings_per_day: int = Field(default=10, ge=1, le=200)
    # A comment holding one of these words waits for the secretary's review.
    hold_words: list[str] = []
    # A sweep opens and closes polls, ends notice periods and sends due reminders.
    sweep_seconds: int = Field(default=60, ge=5, le=3600)


class TelegramSection(_Section):
    """Telegram through python-telegram-bot; off unless enabled. The bot token comes only from
    TELEGRAM_BOT_TOKEN, the webhook secret only from TELEGRAM_WEBHOOK_SECRET (or *_FILE)."""

    enabled: bool = False
    mode: str = "webhook"
    public_url: str = ""
    api_base_url: str = "https://api.telegram.org"

    @field_validator("mode")
    @classmethod
    def _mode(cls, value: str) -> str:
        if value not in ("webhook", "polling"):
            raise ValueError("must be webhook or polling")
        return value

    @field_validator("public_url", "api_base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _base_url(value)


_WECHAT_APP_ID = re.compile(r"^wx[0-9a-f]{16}$")


class WechatSection(_Section):
    """A WeChat Official Account (公众号); off while app_id is empty. The token, the
    EncodingAESKey and the app secret come only from WECHAT_TOKEN, WECHAT_ENCODING_AES_KEY and
    WECHAT_APP_SECRET (or *_FILE)."""

    app_id: str = ""
    public_url: str = ""  # where WeChat reaches us: the server URL is <public_url>/wechat
    api_base_url: str = "https://api.weixin.qq.com"
    safe_mode: bool = True  # 安全模式: callbacks and passive replies AES-encrypted
    # What the platform lets the account push outside the 48-hour customer-service window:
    # template messages need a verified service account and a template with one field.
    account: str = "subscription"
    template_id: str = ""
    template_field: str = "content"
    # A passive reply must reach WeChat within 5 s; past this, "success" and the answer
    # follows through the customer-service API.
    reply_seconds: Annotated[float, Field(gt=0, lt=5)] = 4.0

    @field_validator("app_id")
    @classmethod
    def _app_id(cls, value: str) -> str:
        if value and not _WECHAT_APP_ID.match(value):
            raise ValueError("must be empty or an AppID like wx followed by 16 hex digits")
        return value

    @field_validator("account")
    @classmethod
    def _account(cls, value: str) -> str:
        if value not in ("subscription", "service"):
            raise ValueError("must be subscription or service")
        return value

    @field_validator("public_url", "api_base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _base_url(value)

    @property
    def enabled(self) -> bool:
        return bool(self.app_id)


class WebSection(_Section):
    """The web pages `serve` offers beside the webhooks. `sandbox` unset means: on while no
    provider (Twilio, Telegram) is configured, off once one is."""

    public: bool = True
    sandbox: bool | None = None
    console: bool = True
    base_url: str = ""  # how people reach the pages: used in links and in SMS texts

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _base_url(value)


class Config(_Section):
    bot: BotSection = BotSection()
    storage: StorageSection = StorageSection()
    server: ServerSection = ServerSection()
    log: LogSection = LogSection()
    twilio: TwilioSection = TwilioSection()
    telegram: TelegramSection = TelegramSection()
    wechat: WechatSection = WechatSection()
    outbox: OutboxSection = OutboxSection()
    scheduler: SchedulerSection = SchedulerSection()
    participation: ParticipationSection = ParticipationSection()
    web: WebSection = WebSection()
    source: str = Field(default="built-in defaults", exclude=True)
    secret_key: str | None = Field(default=None, exclude=True, repr=False)
    twilio_auth_token: str | None = Field(default=None, exclude=True, repr=False)
    telegram_token: str | None = Field(default=None, exclude=True, repr=False)
    telegram_secret: str | None = Field(default=None, exclude=True, repr=False)
    wechat_token: str | None = Field(default=None, exclude=True, repr=False)
    wechat_aes_key: str | None = Field(default=None, exclude=True, repr=False)
    wechat_app_secret: str | None = Field(default=None, exclude=True, repr=False)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.bot.timezone)

    @property
    def sandbox_on(self) -> bool:
        """The browser sandbox: as [web] sandbox says, else on only while no provider is
        configured (a real deployment does not grow a page that talks as anyone)."""
        if self.web.sandbox is not None:
            return self.web.sandbox
        return not (self.twilio.enabled or self.telegram.enabled or self.wechat.enabled)

    def base_url(self) -> str:
        """[web] base_url, else the address `serve` listens on (a local demo)."""
        return self.web.base_url or f"http://{self.server.host}:{self.server.port}"

    def sqlite_path(self) -> Path | None:
        prefix = "sqlite+aiosqlite:///"
        return (
            Path(self.storage.url[len(prefix) :]) if self.storage.url.startswith(prefix) else None
        )

    def ensure_secret_key(self) -> str:
        """The key for keyed hashes. Without one configured, a sandbox on SQLite gets a
        random key kept beside its database (untracked); any other deployment must set it."""
        if self.secret_key:
            return self.secret_key
        db = self.sqlite_path()
        if db is None:
            raise MissingSecretKey(
                f"environment: {ENV_SECRET_KEY}: required with PostgreSQL; set it to a long "
                "random string and keep it (poll ballots are keyed with it)"
            )
        key_file = db.parent / "secret.key"
        try:
            if not key_file.exists():
                key_file.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as out:
                    out.write(secrets.token_urlsafe(32))
            return key_file.read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"environment: {ENV_SECRET_KEY}: not set, and no key can be kept in "
                f"{key_file}: {exc.strerror or exc}; set {ENV_SECRET_KEY}"
            ) from None


def _describe(error: ErrorDetails) -> tuple[str, str]:
    key = ".".join(str(p) for p in error["loc"])
    if error["type"] == "extra_forbidden":
        return key, "unknown key"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"].endswith("_type"):
        given = type(error.get("input")).__name__
        message = f"{message} (got {given})"
    return key, message


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _secret_from_env(env: dict[str, str], name: str) -> str | None:
    if env.get(name):
        return env[name]
    file_name = env.get(f"{name}_FILE")
    if not file_name:
        return None
    try:
        return Path(file_name).read_text().strip() or None
    except OSError as exc:
        raise ConfigError(
            f"environment: {name}_FILE: cannot read {file_name}: {exc.strerror}"
        ) from None


def load_config(
    path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None
) -> Config:
    """Merge defaults, the TOML file (argument, else $GRASSROOTS_CONFIG) and the environment."""
    env = dict(os.environ) if env is None else env
    file = Path(path) if path else (Path(env[ENV_CONFIG]) if env.get(ENV_CONFIG) else None)
    data: dict[str, Any] = _read_toml(file) if file else {}
    source = str(file) if file else "built-in defaults"
    if "secret_key" in data:
        raise ConfigError(
            f"{source}: secret_key: secrets are not read from the config file; "
            f"set {ENV_SECRET_KEY} or {ENV_SECRET_KEY}_FILE"
        )
    if "source" in data:
        raise ConfigError(f"{source}: source: unknown key")
    try:
        config = Config.model_validate({**data, "source": source})
    except ValidationError as exc:
        key, message = _describe(exc.errors()[0])
        raise ConfigError(f"{source}: {key}: {message}") from None

    overrides: dict[str, Any] = {}
    if env.get(ENV_DATABASE_URL):
        try:
            # Only the URL: the file's other [storage] keys (keep_messages) stand.
            storage = StorageSection.model_validate(
                {**config.storage.model_dump(), "url": env[ENV_DATABASE_URL]}
            )
        except ValidationError as exc:
            problem = _describe(exc.errors()[0])[1]
            raise ConfigError(f"environment: {ENV_DATABASE_URL}: {problem}") from None
        overrides["storage"] = storage
    overrides["secret_key"] = _secret_from_env(env, ENV_SECRET_KEY)
    overrides["twilio_auth_token"] = _secret_from_env(env, ENV_TWILIO_AUTH_TOKEN)
    overrides["telegram_token"] = _secret_from_env(env, ENV_TELEGRAM_TOKEN)
    overrides["telegram_secret"] = _secret_from_env(env, ENV_TELEGRAM_SECRET)
    overrides["wechat_token"] = _secret_from_env(env, ENV_WECHAT_TOKEN)
    overrides["wechat_aes_key"] = _secret_from_env(env, ENV_WECHAT_AES_KEY)
    overrides["wechat_app_secret"] = _secret_from_env(env, ENV_WECHAT_APP_SECRET)
    if env.get(ENV_TWILIO_ACCOUNT_SID):
        try:
            overrides["twilio"] = TwilioSection.model_validate(
                {**config.twilio.model_dump(), "account_sid": env[ENV_TWILIO_ACCOUNT_SID]}
            )
        except ValidationError as exc:
            problem = _describe(exc.errors()[0])[1]
            raise ConfigError(f"environment: {ENV_TWILIO_ACCOUNT_SID}: {problem}") from None
    merged = config.model_copy(update=overrides)
    _check_twilio(merged)
    _check_telegram(merged)
    _check_wechat(merged)
    return merged


def _check_wechat(config: Config) -> None:
    wechat = config.wechat
    if not wechat.enabled:
        return
    if not config.wechat_token:
        raise ConfigError(
            f"environment: {ENV_WECHAT_TOKEN}: required when wechat.app_id is set "
            "(the Token of the account's server configuration)"
        )
    if not config.wechat_app_secret:
        raise ConfigError(
            f"environment: {ENV_WECHAT_APP_SECRET}: required when wechat.app_id is set"
        )
    key = config.wechat_aes_key
    if wechat.safe_mode and not key:
        raise ConfigError(
            f"environment: {ENV_WECHAT_AES_KEY}: required when wechat.safe_mode is on"
        )
    if key and not re.fullmatch(r"[A-Za-z0-9+/]{43}", key):
        raise ConfigError(
            f"environment: {ENV_WECHAT_AES_KEY}: must be the 43-character EncodingAESKey"
        )
    if wechat.template_id and wechat.account != "service":
        raise ConfigError(
            f"{config.source}: wechat.template_id: template messages need "
            'account = "service" (a verified service account)'
        )


def _check_telegram(config: Config) -> None:
    telegram = config.telegram
    if not telegram.enabled:
        return
    if not config.telegram_token:
        raise ConfigError(f"environment: {ENV_TELEGRAM_TOKEN}: required when telegram.enabled")
    if telegram.mode == "webhook":
        if not telegram.public_url:
            raise ConfigError(f"{config.source}: telegram.public_url: required in webhook mode")
        if not config.telegram_secret:
            raise ConfigError(
                f"environment: {ENV_TELEGRAM_SECRET}: required in webhook mode "
                "(Telegram sends it with every update; nothing else is accepted)"
            )


def _check_twilio(config: Config) -> None:
    """A half-configured SMS channel is a mistake to report at start, not at the first send."""
    twilio = config.twilio
    if not twilio.enabled:
        return
    where = f"{config.source}: twilio"
    if not config.twilio_auth_token:
        raise ConfigError(
            f"environment: {ENV_TWILIO_AUTH_TOKEN}: required when twilio.account_sid is set"
        )
    if not (twilio.from_number or twilio.messaging_service_sid):
        raise ConfigError(f"{where}.from_number: set it or twilio.messaging_service_sid")
    if not twilio.public_url:
        raise ConfigError(f"{where}.public_url: required to sign webhooks and status callbacks")
