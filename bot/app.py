"""Composition root: configuration, storage, router and channels wired together."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.channel_health import ChannelHealth
from bot.channels.base import ChannelSender
from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.logs import add_secrets
from bot.messages import AddressKind
from bot.router import Router
from handlers import default_routes, interceptors, resumers, routes
from handlers.base import Settings
from storage.repositories import Repositories, open_repositories

if TYPE_CHECKING:
    from bot.channels.sms import WebhookVerifier
    from bot.channels.telegram import TelegramSender
    from bot.channels.wechat import Callbacks, WechatApi
    from bot.dispatcher import Dispatcher

log = logging.getLogger(__name__)


@dataclass(slots=True)
class App:
    config: Config
    repos: Repositories
    router: Router
    clock: Clock
    senders: dict[AddressKind, ChannelSender] = field(default_factory=dict)
    sms_verifier: WebhookVerifier | None = None  # when SMS is on
    sandbox: bool = False  # no SMS provider: messages to phone numbers wait in the outbox
    telegram: TelegramSender | None = None
    wechat: Callbacks | None = None  # when WeChat is on: checks and opens its callbacks
    wechat_api: WechatApi | None = None  # when WeChat is on: its access token and API calls
    health: dict[str, ChannelHealth] = field(default_factory=dict)  # per provider channel

    @classmethod
    async def open(
        cls,
        config: Config,
        clock: Clock | None = None,
        *,
        print_sms: bool = False,
        sandbox_sms: bool = False,
    ) -> App:
        """`print_sms`: without [twilio], show SMS on stdout and count them sent (demos and
        load tests: nobody receives them). `sandbox_sms`: without [twilio], SMS are counted
        sent and shown in the browser sandbox (`serve` with /sandbox on). Otherwise a channel
        that is not configured has no sender, and its messages wait for a process that has
        one. Neither ever applies where Twilio is configured."""
        clock = clock or SystemClock()
        token = config.telegram_token
        add_secrets(
            token,
            token.partition(":")[2] if token else None,
            config.telegram_secret,
            config.twilio_auth_token,
            config.wechat_token,
            config.wechat_aes_key,
            config.wechat_app_secret,
        )
        repos = await open_repositories(config.storage.url)
        secret = config.ensure_secret_key().encode()
        repos.use_secret(secret)
        part = config.participation
        settings = Settings(
            language=config.bot.language,
            zone=config.zone,
            secret_key=secret,
            comments_per_hour=part.comments_per_hour,
            objections_per_hour=part.objections_per_hour,
            recommendations_per_hour=part.recommendations_per_hour,
            notices_per_day=part.notices_per_day,
            briefings_per_day=part.briefings_per_day,
            hold_words=tuple(part.hold_words),
            poll_days=part.poll_days,
            notice_days=part.notice_days,
            quiet=config.outbox.quiet,
        )
        report, fallback, contact = default_routes()
        router = Router(
            repos,
            routes(),
            clock,
            settings,
            report=report,
            fallback=fallback,
            contact=contact,
            interceptors=interceptors(),
            resumers=resumers(),
        )
        app = cls(config, repos, router, clock)
        if config.twilio.enabled:
            app._open_sms()
        if config.telegram.enabled:
            app._open_telegram()
        if config.wechat.enabled:
            app._open_wechat()
        app.sandbox = not config.twilio.enabled
        if app.sandbox and print_sms:
            from bot.channels.console import ConsoleSender

            app.senders[AddressKind.SMS] = ConsoleSender()
        elif app.sandbox and sandbox_sms:
            from bot.channels.sandbox import SandboxSender

            app.senders[AddressKind.SMS] = SandboxSender()
        app.health = {s.channel: ChannelHealth(s.channel) for s in app.senders.values()}
        return app

    def dispatcher(self) -> Dispatcher:
        from bot.dispatcher import Dispatcher

        return Dispatcher(
            self.repos,
            self.senders,
            self.clock,
            self.config.outbox,
            self.config.zone,
            ready=self.channel_ready,
        )

    def channel_ready(self, kind: AddressKind) -> bool:
        """A sender for `kind` is configured here and its provider is not degraded."""
        sender = self.senders.get(kind)
        return sender is not None and self.health[sender.channel].ok

    def _open_sms(self) -> None:
        from bot.channels import sms  # loads twilio only where SMS is configured

        twilio, token = self.config.twilio, self.config.twilio_auth_token
        assert token is not None  # load_config refuses an account without a token
        self.senders[AddressKind.SMS] = sms.TwilioSms(twilio, token)
        self.sms_verifier = sms.WebhookVerifier(
            twilio.account_sid, token, twilio.public_url, twilio.validate_signatures
        )
        if not twilio.validate_signatures:
            log.warning(
                "twilio.validate_signatures is off: anyone who finds %s can post "
                "messages as any phone number",
                sms.INBOUND_PATH,
            )

    def _open_telegram(self) -> None:
        from bot.channels.telegram import TelegramSender, build_bot

        assert self.config.telegram_token is not None  # load_config refuses it missing
        bot = build_bot(self.config.telegram, self.config.telegram_token)

        async def migrated(old: str, new: str) -> None:
            await self.repos.people.move_address(AddressKind.TELEGRAM.value, old, new)

        self.telegram = TelegramSender(bot, migrated)
        self.senders[AddressKind.TELEGRAM] = self.telegram

    def _open_wechat(self) -> None:
        from bot.channels import wechat

        config = self.config
        assert config.wechat_token and config.wechat_app_secret  # load_config refuses them missing
        from bot.wechat_limits import LimitedSender, WeChatLimits

        self.wechat_api = wechat.WechatApi(config.wechat, config.wechat_app_secret)
        # The platform's limits (48-hour window, five messages, monthly pushes) are kept
        # here before a send is tried, so that a refused follower falls back to SMS at once.
        limits = WeChatLimits.for_account(config.wechat.account, config.wechat.template_id)
        self.senders[AddressKind.WECHAT] = LimitedSender(
            wechat.WechatSender(self.wechat_api, config.wechat), self.repos.db, self.clock, limits
        )
        self.wechat = wechat.Callbacks(config.wechat, config.wechat_token, config.wechat_aes_key)

    def channel_names(self) -> list[str]:
        return sorted({"console", *(sender.channel for sender in self.senders.values())})

    async def close(self) -> None:
        for sender in self.senders.values():
            await sender.close()
        await self.repos.db.close()

    async def __aenter__(self) -> App:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
