"""What every handler receives: the message, and a context to act and answer through."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.messages import Address, Choice, Inbound, Outbound
from bot.normalize import Normalized
from bot.texts import Texts
from storage.models import Grant, Role, SenderRecord
from storage.outbox import OutboxRepository
from storage.repositories import Repositories

# Roles of a Party member: they report deeds and have a record.
MEMBER_ROLES = frozenset({Role.MEMBER, Role.SECRETARY})
# A question asked back waits this long for its answer (DESIGN.md §4: state expires).
ASK_BACK_TTL = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class Message:
    id: int  # the inbound log id
    inbound: Inbound
    text: Normalized
    args: str  # what follows the keyword, as the person wrote it (controls dropped, trimmed)
    args_at: int  # where that text begins in text.folded
    keyword: str | None  # the folded keyword that matched, None for a default action


@dataclass(frozen=True, slots=True)
class Sender:
    address: Address
    record: SenderRecord

    @property
    def person_id(self) -> int | None:
        return self.record.person_id

    @property
    def grants(self) -> tuple[Grant, ...]:
        return self.record.grants

    def grants_with(self, *roles: Role) -> list[Grant]:
        return [g for g in self.record.grants if g.role in roles]

    @property
    def is_member(self) -> bool:
        """A Party member: their free text is a report. Leaders are Party members too."""
        return bool(self.grants_with(*MEMBER_ROLES, Role.LEADER))

    @property
    def primary_role(self) -> Role | None:
        """The role that decides what help is shown: the most capable one held."""
        order = (Role.ADMIN, Role.LEADER, Role.SECRETARY, Role.MEMBER, Role.PUBLIC)
        held = {g.role for g in self.record.grants}
        return next((r for r in order if r in held), None)


@dataclass(frozen=True, slots=True)
class Settings:
    language: str
    zone: ZoneInfo
    secret_key: bytes = b""  # keys the ballots' hashes (GRASSROOTS_SECRET_KEY)
    comments_per_hour: int = 5
    objections_per_hour: int = 3  # the per-sender limits of [participation] (handlers/limits.py)
    recommendations_per_hour: int = 5
    notices_per_day: int = 10
    briefings_per_day: int = 10
    hold_words: tuple[str, ...] = ()  # a comment holding one waits for review
    poll_days: int = 7  # how long a poll created from chat stays open
    notice_days: int = 7  # a public notice (公示) period
    quiet: tuple[time, time] | None = None  # SMS quiet hours ([outbox] quiet_hours)


@dataclass(slots=True)
class Context:
    sender: Sender
    repos: Repositories
    texts: Texts
    clock: Clock
    settings: Settings
    replies: list[Outbound] = field(default_factory=list)
    message_id: int | None = None
    # The name the message log files this message under, when not the route's own.
    handled_as: str | None = None

    @property
    def outbox(self) -> OutboxRepository:
        return self.repos.outbox

    def now(self) -> datetime:
        return self.clock.now()

    def reply(
        self,
        key: str,
        *,
        choices: tuple[Choice, ...] = (),
        ask_contact: bool = False,
        **params: object,
    ) -> None:
        """Answer with a catalog text; `ask_contact` adds a "share my phone number" button
        on channels that have one."""
        self.replies.append(
            Outbound(
                self.sender.address,
                self.texts.get(key, **params),
                choices=choices,
                ask_contact=self.texts.get("link.button") if ask_contact else None,
            )
        )

    def say(
        self, body: str, *, choices: tuple[Choice, ...] = (), redacted: str | None = None
    ) -> None:
        """Answer with a text already composed from catalog entries; `redacted`, if given,
        is what a stored copy of the reply says instead (see Outbound.redacted)."""
        self.replies.append(Outbound(self.sender.address, body, choices=choices, redacted=redacted))

    async def ask_back(
        self, kind: str, payload: dict[str, Any], ttl: timedelta = ASK_BACK_TTL
    ) -> None:
        """Wait for the sender's next message as the answer to a question just asked; the
        resumer registered for `kind` gets it with `payload` (see Resumer)."""
        await self.repos.pending.ask(self.sender.address, kind, payload, self.now() + ttl)

    def zone_of(self, grant: Grant | None) -> ZoneInfo:
        if grant is not None and grant.org_timezone:
            return ZoneInfo(grant.org_timezone)
        return self.settings.zone

    def local_day(self, grant: Grant | None) -> date:
        return self.now().astimezone(self.zone_of(grant)).date()


Handler = Callable[[Message, Context], Awaitable[None]]
# Given a message no keyword claimed: True if it took it (an answer it was waiting for).
Interceptor = Callable[[Message, Context], Awaitable[bool]]
# Given a message and the payload of the question asked back: True if it answered it.
Resumer = Callable[[Message, Context, dict[str, Any]], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Route:
    """A handler and the words that call it.

    `whole`: the keyword must be the whole message (opt-out words, 帮助): otherwise a
    report beginning with "帮助五保户..." would be taken as a call for help.
    `zh` and `en` are folded keywords; which list matched decides the reply language for
    someone who has not chosen one.
    `touching`: text may follow a Chinese keyword without a space ("汇报今天..."). Off for
    加入, where "加入了志愿队" is a member's report, not a request to join; a code in Latin
    letters may still touch it ("加入HX0101").
    """

    name: str
    handler: Handler
    zh: tuple[str, ...] = ()
    en: tuple[str, ...] = ()
    whole: bool = False
    touching: bool = True
