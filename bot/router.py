"""The router: record, resolve, pick one handler, answer; nothing sent is ever lost.

Precedence for one message (DESIGN.md §4): opt-out words, then an explicit keyword, then
the sender's default action (a member's free text is a deed report; anyone else gets help).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

from bot.clock import Clock
from bot.messages import Inbound, Outbound
from bot.normalize import Normalized, normalize
from bot.privacy import mask_phone, mask_phones_in
from bot.texts import texts_for
from handlers import deeds
from handlers import help as help_handlers
from handlers.base import Context, Message, Route, Sender, Settings
from storage.repositories import Repositories

log = logging.getLogger(__name__)

DEFAULT_REPORT = Route("deed.free_text", deeds.report)
DEFAULT_HELP = Route("help.default", help_handlers.not_understood)
# Keywords end where a Latin word would go on: "hb 今天", "hb今天", but not "hbo".
_LATIN_TAIL = re.compile(r"[a-z0-9]")
_WHOLE_TRAILING = " .!。！~"
_SEPARATORS = ":,，：、"


@dataclass(frozen=True, slots=True)
class Pick:
    route: Route
    keyword: str | None
    language: str | None  # the language the keyword was written in, if it tells
    args_at: int  # index in the folded text where the handler's text begins


class Router:
    def __init__(
        self,
        repos: Repositories,
        routes: list[Route],
        clock: Clock,
        settings: Settings,
    ) -> None:
        self.repos = repos
        self.clock = clock
        self.settings = settings
        self._whole: dict[str, tuple[Route, str]] = {}
        # Prefix keywords, longest first, so that a longer keyword wins over its prefix.
        self._prefix: list[tuple[str, Route, str]] = []
        for route in routes:
            for words, language in ((route.zh, "zh-CN"), (route.en, "en")):
                for word in words:
                    if route.whole:
                        self._whole[word] = (route, language)
                    else:
                        self._prefix.append((word, route, language))
        self._prefix.sort(key=lambda item: -len(item[0]))

    def pick(self, text: Normalized, sender: Sender) -> Pick:
        folded = text.folded
        whole = folded.rstrip(_WHOLE_TRAILING) or folded
        if whole in self._whole:
            route, language = self._whole[whole]
            return Pick(route, whole, _language_of(whole, language), len(folded))
        for word, route, language in self._prefix:
            if not folded.startswith(word):
                continue
            tail = folded[len(word) : len(word) + 1]
            if tail and word.isascii() and _LATIN_TAIL.match(tail):
                continue
            if (
                tail
                and not route.touching
                and not (
                    tail.isspace() or tail in _SEPARATORS or (tail.isascii() and tail.isalnum())
                )
            ):
                continue
            at = len(word)
            while at < len(folded) and (folded[at].isspace() or folded[at] in _SEPARATORS):
                at += 1
            return Pick(route, word, _language_of(word, language), at)
        if sender.is_member and folded and not folded.startswith("/"):
            return Pick(DEFAULT_REPORT, None, None, 0)
        return Pick(DEFAULT_HELP, None, None, 0)

    async def handle(self, inbound: Inbound) -> list[Outbound]:
        """Record the message durably, then handle it once; a repeat gets the same answer."""
        recorded = await self.repos.inbound.record(inbound)
        if not recorded.is_new:
            log.info(
                "message %s from %s seen before (%s): not handled again",
                recorded.id,
                mask_phone(inbound.sender.value),
                recorded.status,
            )
            if recorded.reply is None:
                return []
            return [Outbound(inbound.sender, body) for body in json.loads(recorded.reply)]
        return await self._process(recorded.id, inbound)

    async def _process(self, message_id: int, inbound: Inbound) -> list[Outbound]:
        record = await self.repos.people.resolve(inbound.sender)
        sender = Sender(inbound.sender, record)
        text = normalize(inbound.body)
        pick = self.pick(text, sender)
        language = record.language or pick.language or self.settings.language
        ctx = Context(sender, self.repos, texts_for(language), self.clock, self.settings)
        message = Message(
            id=message_id,
            inbound=inbound,
            text=text,
            args=text.original_from(pick.args_at),
            args_at=pick.args_at,
            keyword=pick.keyword,
        )
        status, error = "handled", None
        try:
            await pick.route.handler(message, ctx)
        except Exception as exc:
            # The message stays recorded (status failed) for someone to look at; the sender
            # hears that it was kept.
            log.exception("handler %s failed on message %s", pick.route.name, message_id)
            ctx.replies[:] = []
            ctx.reply("error.apology")
            status, error = "failed", mask_phones_in(f"{type(exc).__name__}: {exc}")
        await self.repos.inbound.finish(
            message_id,
            status=status,
            handler=pick.route.name,
            person_id=record.person_id,
            replies=[r.body for r in ctx.replies],
            error=error,
            now=self.clock.now(),
        )
        return ctx.replies

    async def recover(self) -> int:
        """Handle messages recorded by a run that stopped before handling them."""
        count = 0
        for message_id in await self.repos.inbound.unfinished():
            inbound = await self.repos.inbound.load(message_id)
            await self._process(message_id, inbound)
            count += 1
        if count:
            log.warning("handled %d messages left unhandled by an earlier run", count)
        return count


def _language_of(word: str, language: str) -> str | None:
    # "?" and digits say nothing about the language; "帮助" and "HELP" do.
    return language if any(c.isalpha() for c in word) else None
