"""Composition root: configuration, storage, router and channels wired together."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.channels.base import ChannelSender
from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.messages import AddressKind
from bot.router import Router
from handlers import default_routes, routes
from handlers.base import Settings
from storage.repositories import Repositories, open_repositories

if TYPE_CHECKING:
    from bot.channels.sms import WebhookVerifier
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
    sandbox: bool = False  # no SMS provider: messages to phones are printed, not sent

    @classmethod
    async def open(cls, config: Config, clock: Clock | None = None) -> App:
        clock = clock or SystemClock()
        repos = await open_repositories(config.storage.url)
        settings = Settings(language=config.bot.language, zone=config.zone)
        report, fallback = default_routes()
        router = Router(repos, routes(), clock, settings, report=report, fallback=fallback)
        app = cls(config, repos, router, clock)
        if config.twilio.enabled:
            app._open_sms()
        else:  # the sandbox: broadcasts to phone numbers are shown, not sent
            from bot.channels.console import ConsoleSender

            app.senders[AddressKind.SMS] = ConsoleSender()
            app.sandbox = True
        return app

    def dispatcher(self) -> Dispatcher:
        from bot.dispatcher import Dispatcher

        return Dispatcher(
            self.repos, self.senders, self.clock, self.config.outbox, self.config.zone
        )

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
