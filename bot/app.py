"""Composition root: configuration, storage, router and channels wired together."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.router import Router
from handlers import routes
from handlers.base import Settings
from storage.repositories import Repositories, open_repositories


@dataclass(slots=True)
class App:
    config: Config
    repos: Repositories
    router: Router
    clock: Clock

    @classmethod
    async def open(cls, config: Config, clock: Clock | None = None) -> App:
        clock = clock or SystemClock()
        repos = await open_repositories(config.storage.url)
        settings = Settings(language=config.bot.language, zone=config.zone)
        return cls(config, repos, Router(repos, routes(), clock, settings), clock)

    async def close(self) -> None:
        await self.repos.db.close()

    async def __aenter__(self) -> App:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
