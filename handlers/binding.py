"""Binding a chat to a phone on the roster by a code texted to that phone.

A WeChat Official Account never learns a follower's number, and a chat cannot share a
contact as Telegram's can: `绑定 13800001101` texts a one-time code to that number through
the outbox, and the code replied in the chat links the chat to the number's person exactly
as a shared contact does (handlers/linking.py: roles, reports and open polls' answers join).
The code follows the console sign-in's rules and storage (bot/one_time_codes.py,
storage/console_codes.py): hashed, 10 minutes, used once, burned after 5 wrong guesses. It
is keyed by the chat, so a code works only in the chat that asked for it. Asking is limited
per chat and per number, so nobody can flood a phone with texts; the answer is the same
whether or not the number is on the roster, and a number nobody holds gets no text.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.messages import Address, AddressKind
from bot.one_time_codes import CODE_TTL, MAX_TRIES, looks_like_code, mac, new_code, typed_code
from bot.phones import to_e164
from bot.privacy import mask_phone
from bot.texts import LANGUAGES, texts_for
from handlers.base import Context, Message, Resumer, Route
from handlers.linking import link_phone
from storage.console_codes import ConsoleCodeRepository

PENDING = "bind.code"
WINDOW = timedelta(hours=1)
ASK_PER_NUMBER = 3  # codes texted to one number in WINDOW, whoever asks
ASK_PER_CHAT = 5  # codes one chat may ask for in WINDOW


def _chat(ctx: Context) -> str:
    address = ctx.sender.address
    return f"{address.kind}:{address.value}"


def _mac(ctx: Context, purpose: str, message: str) -> str:
    return mac(ctx.settings.secret_key, f"bind-{purpose}", message)


def _code_key(ctx: Context) -> str:
    """The code rows are the chat's: one live code per chat, a new request supersedes."""
    return _mac(ctx, "codes", f"chat:{_chat(ctx)}")


def _code_hash(ctx: Context, phone: str, code: str) -> str:
    return _mac(ctx, "codes", f"code:{_chat(ctx)}:{phone}:{code}")


async def _within_limits(ctx: Context, phone: str) -> bool:
    now, limits = ctx.now(), ctx.repos.limits
    chat = _mac(ctx, "limits", f"chat:{_chat(ctx)}")
    if await limits.take(chat, "bind-ask", now, WINDOW) > ASK_PER_CHAT:
        return False
    number = _mac(ctx, "limits", f"phone:{phone}")
    return await limits.take(number, "bind-ask", now, WINDOW) <= ASK_PER_NUMBER


async def bind(msg: Message, ctx: Context) -> None:
    kind = ctx.sender.address.kind
    if kind is AddressKind.SMS:  # the number is the sender's own already
        ctx.reply("link.not_here")
        return
    if not msg.args.strip():
        if kind is AddressKind.TELEGRAM:
            ctx.reply("link.ask", ask_contact=True)
        else:
            ctx.reply("bind.how")
        return
    phone = to_e164(msg.args)
    if phone is None:
        ctx.reply("bind.bad_phone")
        return
    holder = await ctx.repos.people.resolve(Address(AddressKind.SMS, phone))
    if holder.person_id is not None and holder.person_id == ctx.sender.person_id:
        ctx.reply("link.already", phone=mask_phone(phone))
        return
    if not await _within_limits(ctx, phone):
        ctx.reply("bind.too_many")
        return
    code = new_code()
    minutes = int(CODE_TTL.total_seconds() // 60)
    await ConsoleCodeRepository(ctx.repos.db).issue(
        phone_key=_code_key(ctx),
        code_hash=_code_hash(ctx, phone, code),
        person_id=holder.person_id,
        bodies={
            language: texts_for(language).get("bind.code_sms", code=code, minutes=minutes)
            for language in LANGUAGES
        },
        default_language=ctx.settings.language,
        kinds=[AddressKind.SMS.value],
        now=ctx.now(),
        ttl=CODE_TTL,
        value=phone,  # that very number, not another of its holder's
    )
    await ctx.ask_back(PENDING, {"phone": phone}, ttl=CODE_TTL)
    ctx.reply("bind.sent", phone=mask_phone(phone), minutes=minutes)


async def resume_code(msg: Message, ctx: Context, payload: dict[str, Any]) -> bool:
    """The code, replied in the chat that asked for it; anything else goes its way."""
    phone = str(payload.get("phone", ""))
    if not phone or not looks_like_code(msg.text.original):
        return False
    checked = await ConsoleCodeRepository(ctx.repos.db).check(
        phone_key=_code_key(ctx),
        code_hash=_code_hash(ctx, phone, typed_code(msg.text.original)),
        now=ctx.now(),
        max_tries=MAX_TRIES,
    )
    if checked.person_id is not None:
        await link_phone(ctx, phone)
    elif checked.burned:
        ctx.reply("bind.burned")
    else:  # wrong, or expired: another try while the code lives
        await ctx.ask_back(PENDING, payload, ttl=CODE_TTL)
        ctx.reply("bind.wrong_code")
    return True


# "绑定" alone is handlers/linking.py's (Telegram's contact button); with a number, it is here.
ROUTES = [Route("bind", bind, zh=("绑定", "bd"), en=("bind", "link"), touching=False)]
RESUMERS: dict[str, Resumer] = {PENDING: resume_code}
