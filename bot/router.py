"""The router: record, resolve, pick one handler, answer; nothing sent is ever lost.

Precedence for one message (DESIGN.md §4): opt-out words (also as people say them: "别再发
了"), then a question about using the service (help, even if it begins with a keyword: "hb的
格式是什么"), then an explicit keyword, then the sender's default action: a member's free text
or photo is a deed report (handlers/deeds.py tells acknowledgements apart); anyone else's goes
to handlers/help.not_understood (everyday words, a villager's message to the branch, help).
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.clock import Clock
from bot.everyday import is_opt_out, is_question, is_usage_question
from bot.messages import Inbound, Outbound
from bot.normalize import Normalized, normalize
from bot.privacy import mask_phone, mask_phones_in
from bot.texts import texts_for
from handlers.base import Context, Interceptor, Message, Resumer, Route, Sender, Settings
from storage.models import Recorded, SenderRecord
from storage.pending import Pending
from storage.repositories import Repositories

log = logging.getLogger(__name__)

# Keywords end where a Latin word would go on: "hb 今天", "hb今天", but not "hbo".
_LATIN_TAIL = re.compile(r"[a-z0-9]")
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
        *,
        report: Route,
        fallback: Route,
        contact: Route,
        interceptors: Sequence[tuple[str, Interceptor]] = (),
        resumers: Mapping[str, Resumer] | None = None,
    ) -> None:
        self.repos = repos
        # For text no keyword claimed, before the default action: an answer to a question
        # asked back (resumers, by the question's kind), then answers to open polls.
        self.interceptors = list(interceptors)
        self.resumers = dict(resumers or {})
        self.contact = contact  # a shared phone number (Telegram)
        self.report = report  # a member's free text
        self.fallback = fallback  # anything else nobody claimed
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

    def pick(self, text: Normalized, sender: Sender, *, attachments: bool = False) -> Pick:
        folded = text.folded
        whole = _without_trailing_punctuation(folded) or folded
        if whole not in self._whole and is_opt_out(folded):
            whole = "stop" if folded.isascii() else "退订"
        if whole in self._whole:
            route, language = self._whole[whole]
            return Pick(route, whole, _language_of(whole, language), len(folded))
        if is_usage_question(folded):
            return Pick(self.fallback, None, None, 0)
        for word, route, language in self._prefix:
            if not folded.startswith(word):
                continue
            tail = folded[len(word) : len(word) + 1]
            if tail and word.isascii() and _LATIN_TAIL.match(tail):
                continue
            if (
                tail
                and not route.touching
                and not word.isascii()  # "TJ王志强": pinyin touching Chinese is unambiguous
                and not (
                    tail.isspace() or tail in _SEPARATORS or (tail.isascii() and tail.isalnum())
                )
            ):
                continue
            at = len(word)
            while at < len(folded) and (folded[at].isspace() or folded[at] in _SEPARATORS):
                at += 1
            return Pick(route, word, _language_of(word, language), at)
        # A member's free text (or photo) is a report, unless it is a command or a question
        # that is not clearly a report (one with a #category tag is).
        if (
            sender.is_member
            and (folded or attachments)
            and not folded.startswith("/")
            and not (is_question(folded) and "#" not in folded)
        ):
            return Pick(self.report, None, None, 0)
        return Pick(self.fallback, None, None, 0)

    async def handle(self, inbound: Inbound) -> list[Outbound]:
        """Record the message durably, then handle it once; a repeat gets the same answer."""
        return await self.respond(await self.accept(inbound), inbound)

    async def accept(self, inbound: Inbound) -> Recorded:
        """Record the message durably (a channel may answer its provider after this)."""
        return await self.repos.inbound.record(inbound)

    async def respond(
        self, recorded: Recorded, inbound: Inbound, *, via_outbox: bool = False
    ) -> list[Outbound]:
        """Handle a recorded message once; a repeat gets the answer given the first time.
        `via_outbox`: the replies are also queued in the outbox, in the handler's
        transaction (a channel that answers later, not in the webhook's response)."""
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
        return await self._process(recorded.id, inbound, recorded.sender, via_outbox)

    async def _process(
        self,
        message_id: int,
        inbound: Inbound,
        record: SenderRecord | None = None,
        via_outbox: bool = False,
    ) -> list[Outbound]:
        if record is None:
            record = await self.repos.people.resolve(inbound.sender)
        sender = Sender(inbound.sender, record)
        text = normalize(inbound.body)
        if inbound.contact is not None:  # a phone number shared to link identities
            pick = Pick(self.contact, None, None, 0)
        else:
            pick = self.pick(text, sender, attachments=bool(inbound.attachments))
        # The reply follows the keyword's language, else the person's stored choice, else
        # what their app says (a stranger on Telegram), else the deployment's. Only an
        # explicit switch (handlers/language.py) or Telegram's language on first contact
        # is ever stored.
        language = pick.language or record.language or inbound.language or self.settings.language
        ctx = Context(
            sender,
            self.repos,
            texts_for(language),
            self.clock,
            self.settings,
            message_id=message_id,
        )
        message = Message(
            id=message_id,
            inbound=inbound,
            text=text,
            args=text.original_from(pick.args_at),
            args_at=pick.args_at,
            keyword=pick.keyword,
        )
        name = pick.route.name
        try:
            if record.person_id is not None and record.language is None and inbound.language:
                await self.repos.people.set_language(record.person_id, inbound.language)
            # A question asked back is answered by the next message or not at all (taken
            # outside the unit below, so a handler that fails does not leave it waiting).
            pending = None
            if record.has_pending or record.address_id is None:  # else nothing to read
                pending = await self.repos.pending.take(inbound.sender, self.clock.now())
            # The handler's writes, the queued replies and the message's finish are one
            # unit: on PostgreSQL one transaction (a failure leaves none of them, and a
            # crash never leaves a message handled but not marked so).
            async with self.repos.db.unit():
                name = await self._run(pick, message, ctx, pending)
                await self._finish(message_id, ctx, name, record, "handled", None, via_outbox)
        except Exception as exc:
            # The message stays recorded (status failed) for someone to look at; the sender
            # hears that it was kept.
            log.exception("handler %s failed on message %s", name, message_id)
            ctx.replies[:] = []
            ctx.reply("error.apology")
            error = mask_phones_in(f"{type(exc).__name__}: {exc}")
            async with self.repos.db.unit():  # the apology and the finish, together
                await self._finish(message_id, ctx, name, record, "failed", error, via_outbox)
        return ctx.replies

    async def _run(
        self, pick: Pick, message: Message, ctx: Context, pending: Pending | None
    ) -> str:
        """Have the message handled; returns the name of whatever took it."""
        inbound = message.inbound
        if pick.keyword is None and inbound.contact is None:
            taken = await self._intercept(message, ctx, pending)
            if taken is not None:
                return taken
        await pick.route.handler(message, ctx)
        return pick.route.name

    async def _finish(
        self,
        message_id: int,
        ctx: Context,
        name: str,
        record: SenderRecord,
        status: str,
        error: str | None,
        via_outbox: bool,
    ) -> None:
        now = self.clock.now()
        if via_outbox:
            await self.repos.outbox.enqueue_replies(message_id, ctx.replies, now)
        await self.repos.inbound.finish(
            message_id,
            status=status,
            handler=ctx.handled_as or name,
            person_id=record.person_id,
            replies=[r.stored_body for r in ctx.replies],
            error=error,
            now=now,
        )

    async def _intercept(
        self, message: Message, ctx: Context, pending: Pending | None
    ) -> str | None:
        """The name of whatever took a message no keyword claimed, or None."""
        if pending is not None and (resume := self.resumers.get(pending.kind)):
            if await resume(message, ctx, pending.payload):
                return pending.kind
        for name, intercept in self.interceptors:
            if await intercept(message, ctx):
                return name
        return None

    async def recover(self, before: datetime | None = None) -> int:
        """Handle messages recorded by a run that stopped before handling them. Their
        senders are no longer waiting on a webhook, so the replies go out through the
        outbox. With several workers the scheduler's lease holder runs this, with `before`
        (only messages received earlier: a live worker may hold younger ones)."""
        count = 0
        while batch := await self.repos.inbound.unfinished(before=before):
            for message_id in batch:
                await self.handle_recorded(message_id)
                count += 1
        if count:
            log.warning("handled %d messages left unhandled by an earlier run", count)
        return count

    async def handle_recorded(self, message_id: int) -> None:
        """Handle one recorded message whose sender no longer waits on a webhook (recovery,
        `inbound retry`): the replies go out through the outbox."""
        inbound = await self.repos.inbound.load(message_id)
        await self._process(message_id, inbound, via_outbox=True)


def _without_trailing_punctuation(text: str) -> str:
    end = len(text)
    while end and (text[end - 1].isspace() or unicodedata.category(text[end - 1])[0] in "PS"):
        end -= 1
    return text[:end] if end else text  # "?" alone stays "?"


def _language_of(word: str, language: str) -> str | None:
    # "?" and digits say nothing about the language; "帮助" and "HELP" do.
    return language if any(c.isalpha() for c in word) else None
