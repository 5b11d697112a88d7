"""One-time sign-in codes: made, sent through the person's own channel, checked, limited.

- A code is 6 digits, lives 10 minutes, signs in once, and burns after 5 wrong guesses
  (bot/one_time_codes.py, which WeChat binding shares).
- It is stored as an HMAC (deployment secret) of number and code; the number as an HMAC too.
- It goes out through the outbox, urgent (quiet hours do not hold it), to the person's
  preferred usable address: their Telegram chat when Telegram is on here, else their number
  (which, in the sandbox, is the sandbox's thread for that number).
- Asking and guessing are limited per number and per client address (storage/limits.py,
  taken atomically before the work): a burst of guesses gets exactly the limit through.
- Whatever the number, the answer and the work are the same: a stranger's number, a
  villager's and a secretary's each get a code row and the same page; only the outbox
  INSERT finds an address for the secretary.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from bot.app import App
from bot.messages import Address, AddressKind
from bot.one_time_codes import CODE_TTL, MAX_TRIES, mac, new_code, typed_code
from bot.texts import LANGUAGES, texts_for
from bot.web.console.access import CONSOLE_ROLES
from storage import audit
from storage.console_codes import ConsoleCodeRepository

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=1)
# (action in sender_limits, per number, per client address) in WINDOW.
ASK_LIMITS = ("console-ask", 5, 20)
GUESS_LIMITS = ("console-guess", 10, 30)


class Refusal(Enum):
    """Why a request did nothing; each has one wording for every number."""

    BAD_PHONE = "bad_phone"
    TOO_MANY = "too_many"
    BAD_CODE = "bad_code"


@dataclass(frozen=True, slots=True)
class SignedIn:
    person_id: int


def _mac(app: App, purpose: str, message: str) -> str:
    return mac(app.router.settings.secret_key, f"console-{purpose}", message)


def phone_key(app: App, phone: str) -> str:
    return _mac(app, "codes", f"phone:{phone}")


def code_hash(app: App, phone: str, code: str) -> str:
    return _mac(app, "codes", f"code:{phone}:{code}")


async def _within(app: App, limits: tuple[str, int, int], phone: str, client: str) -> bool:
    """Take a slot for the client address, then (if it had one) for the number."""
    action, per_phone, per_client = limits
    now, repo = app.clock.now(), app.repos.limits
    if await repo.take(_mac(app, "limits", f"client:{client}"), action, now, WINDOW) > per_client:
        return False
    return await repo.take(_mac(app, "limits", f"phone:{phone}"), action, now, WINDOW) <= per_phone


async def ask(app: App, phone: str, client: str) -> Refusal | None:
    """Send a code to the person holding `phone` if they may use the console; None (the
    same answer) whether or not a code was sent."""
    if not await _within(app, ASK_LIMITS, phone, client):
        return Refusal.TOO_MANY
    record = await app.repos.people.resolve(Address(AddressKind.SMS, phone))
    eligible = record.person_id is not None and any(g.role in CONSOLE_ROLES for g in record.grants)
    code = new_code()
    minutes = int(CODE_TTL.total_seconds() // 60)
    bodies = {
        language: texts_for(language).get("console.sign_in_code", code=code, minutes=minutes)
        for language in LANGUAGES
    }
    kinds = [AddressKind.SMS.value]
    if app.config.telegram.enabled:
        kinds.insert(0, AddressKind.TELEGRAM.value)
    issued = await ConsoleCodeRepository(app.repos.db).issue(
        phone_key=phone_key(app, phone),
        code_hash=code_hash(app, phone, code),
        person_id=record.person_id if eligible else None,
        bodies=bodies,
        default_language=app.config.bot.language,
        kinds=kinds,
        now=app.clock.now(),
        ttl=CODE_TTL,
    )
    if issued.outbox_id is not None:
        log.info("console code %s queued as outbox %s", issued.code_id, issued.outbox_id)
    return None


async def guess(app: App, phone: str, code: str, client: str) -> SignedIn | Refusal:
    """Check a guess at the number's code: who signs in, or why not (BAD_CODE for a wrong,
    expired, used or burned code and for a number with no code, alike)."""
    if not await _within(app, GUESS_LIMITS, phone, client):
        return Refusal.TOO_MANY
    code = typed_code(code)  # ６ and spaces typed too
    now = app.clock.now()
    checked = await ConsoleCodeRepository(app.repos.db).check(
        phone_key=phone_key(app, phone),
        code_hash=code_hash(app, phone, code),
        now=now,
        max_tries=MAX_TRIES,
    )
    if checked.burned and checked.burned_for is not None:
        await audit.record(
            app.repos.db, person_id=checked.burned_for, action="console.code_burned", at=now
        )
    if checked.person_id is None:
        return Refusal.BAD_CODE
    # The roster may have changed in the ten minutes: the role is checked again.
    found = await app.repos.console_sessions.address_of(checked.person_id)
    if found is None:
        return Refusal.BAD_CODE
    record = await app.repos.people.resolve(Address(AddressKind(found[0]), found[1]))
    if not any(g.role in CONSOLE_ROLES for g in record.grants):
        return Refusal.BAD_CODE
    return SignedIn(checked.person_id)
