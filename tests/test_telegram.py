"""Telegram end to end: real Update JSON posted to the real ASGI app, and the real
python-telegram-bot client talking to a fake Bot API server on loopback.

The fake answers as Telegram does (`{"ok": true, "result": ...}`, or a scripted error) and
records every call; replies go out after the webhook's 200, so tests wait for the calls the
fake receives (an asyncio.Event, bounded), then stop the app, which finishes the replies
under way, and compare the complete list of calls.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from telegram import Update

from bot.app import App
from bot.channels.telegram import ALLOWED_UPDATES, MAX_TEXT, Received, convert, split_text
from bot.cli import main
from bot.clock import FixedClock
from bot.config import Config, load_config
from bot.messages import Address, AddressKind, Choice, Outbound
from bot.outbox import deliver
from bot.texts import texts_for
from bot.web.app import create_web_app
from storage.engine import as_datetime
from storage.models import Role
from tests.conftest import KEY_ENV, MEMBER, MEMBER_2, START, VILLAGER, Phone, populate_roster
from tests.servers import serve_asgi
from tests.test_conversations import deeds_of

TOKEN = "7012345678:AAHk-test_Token_0123456789abcdefghij"
SECRET = "webhook-Secret_0123456789"
PUBLIC_URL = "https://bot.example.org"
DATA = Path(__file__).parent / "data" / "telegram"
FIXTURES = {path.stem: json.loads(path.read_text("utf-8")) for path in DATA.glob("*.json")}
ZH, EN = texts_for("zh-CN"), texts_for("en")
WAIT = 5.0  # seconds: the longest any test waits for the fake to hear from the bot

MEMBER_CHAT = 5550001  # 李秀英 (MEMBER): her Telegram chat, linked to her phone
VILLAGER_CHAT = 5550002  # 赵大爷 (VILLAGER), linked likewise
NEW_CHAT = 5550009  # somebody the bot has never seen
GROUP_CHAT = -4012345678
SUPERGROUP_CHAT = -1001987654321

CONTACT_KEYBOARD = {
    "keyboard": [[{"text": ZH.get("link.button"), "request_contact": True}]],
    "resize_keyboard": True,
    "one_time_keyboard": True,
}


# --- real updates ------------------------------------------------------------------------


def _move(node: Any, old: int, new: int) -> None:
    """Every user and chat id `old` in the update becomes `new` (the bot's own id stays)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("id", "user_id") and value == old:
                node[key] = new
            else:
                _move(value, old, new)
    elif isinstance(node, list):
        for item in node:
            _move(item, old, new)


def update(kind: str, update_id: int, chat: int = MEMBER_CHAT, **fields: Any) -> dict[str, Any]:
    """The stored update tests/data/telegram/<kind>.json, from the user of private chat
    `chat`, with `fields` set on its message (or callback query); `language` sets the
    sender's language_code."""
    data = copy.deepcopy(FIXTURES[kind])
    data["update_id"] = update_id
    inner = next(value for key, value in data.items() if key != "update_id")
    _move(data, inner["from"]["id"], chat)
    if "language" in fields:
        inner["from"]["language_code"] = fields.pop("language")
    inner.update(fields)
    text = fields.get("text", "")
    if text.startswith("/"):
        inner["entities"] = [{"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}]
    return data


def contact(phone: str, user_id: int | None) -> dict[str, Any]:
    shared = {"phone_number": phone, "first_name": "秀英", "last_name": "李"}
    return shared | ({"user_id": user_id} if user_id is not None else {})


def error(code: int, description: str, **parameters: int) -> dict[str, Any]:
    answer: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    return answer | ({"parameters": parameters} if parameters else {})


TOO_MANY = error(429, "Too Many Requests: retry after 7", retry_after=7)
BLOCKED = error(403, "Forbidden: bot was blocked by the user")
MIGRATED = error(
    400,
    "Bad Request: group chat was upgraded to a supergroup chat",
    migrate_to_chat_id=SUPERGROUP_CHAT,
)
NOT_FOUND = error(400, "Bad Request: chat not found")


# --- the fake Bot API ----------------------------------------------------------------------


@dataclass
class Call:
    method: str
    params: dict[str, Any]


@dataclass
class FakeBotApi:
    """`/bot{token}/{method}` on loopback: records each call, answers like Telegram."""

    url: str = ""
    calls: list[Call] = field(default_factory=list)
    scripted: dict[str, list[dict[str, Any] | None]] = field(default_factory=dict)
    updates: list[dict[str, Any]] = field(default_factory=list)  # for getUpdates, once each
    _heard: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(2001))

    def script(self, method: str, *answers: dict[str, Any] | None) -> None:
        """The next calls of `method` get these answers in turn (None: succeed)."""
        self.scripted.setdefault(method, []).extend(answers)

    def sent(self, *methods: str) -> list[Call]:
        """Calls of these methods, or every call that acts on a chat."""
        wanted = methods or ("sendMessage", "answerCallbackQuery")
        return [call for call in self.calls if call.method in wanted]

    async def wait_for(self, count: int, *methods: str) -> list[Call]:
        """Wait (bounded) until `count` such calls have arrived."""
        async with asyncio.timeout(WAIT):
            while len(self.sent(*methods)) < count:
                self._heard.clear()
                await self._heard.wait()
        return self.sent(*methods)

    async def endpoint(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        body = (await request.body()).decode()
        if request.headers.get("content-type", "").startswith("application/json"):
            params = json.loads(body or "{}")
        else:  # python-telegram-bot posts form fields, objects as JSON strings
            params = dict(parse_qsl(body, keep_blank_values=True))
            for name in ("reply_markup", "allowed_updates"):
                if name in params:
                    params[name] = json.loads(params[name])
        if "chat_id" in params:
            params["chat_id"] = str(params["chat_id"])
        self.calls.append(Call(method, params))
        self._heard.set()
        if request.path_params["token"] != TOKEN:
            return self._answer(error(401, "Unauthorized"))
        if self.scripted.get(method):
            answer = self.scripted[method].pop(0)
            if answer is not None:
                return self._answer(answer)
        if method == "getMe":
            return self._answer(FIXTURES["get_me"])
        if method in ("setWebhook", "deleteWebhook", "answerCallbackQuery"):
            return self._answer(True)
        if method == "getUpdates":
            if self.updates:
                return self._answer([self.updates.pop(0)])
            await asyncio.sleep(0.1)  # a long poll that found nothing, kept short
            return self._answer([])
        if method == "sendMessage":
            return self._answer(self._message(params))
        return self._answer(error(404, "Not Found: method not found"))

    def _message(self, params: dict[str, Any]) -> dict[str, Any]:
        text = params.get("text", "")
        if not text:  # Telegram refuses these; so must the fake
            return error(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            return error(400, "Bad Request: message is too long")
        chat = int(params["chat_id"])
        me = FIXTURES["get_me"]
        return {
            "message_id": next(self._ids),
            "from": {k: me[k] for k in ("id", "is_bot", "first_name", "username")},
            "chat": {"id": chat, "type": "private" if chat > 0 else "supergroup"},
            "date": int(START.timestamp()),
            "text": text,
        }

    @staticmethod
    def _answer(answer: Any) -> JSONResponse:
        if isinstance(answer, dict) and answer.get("ok") is False:
            return JSONResponse(answer, status_code=answer["error_code"])
        return JSONResponse({"ok": True, "result": answer})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/bot{token}/{method}", self.endpoint, methods=["POST"])])


def said(call: Call) -> tuple[Any, ...]:
    """What a call did, in the terms the tables below use."""
    if call.method == "sendMessage":
        params = call.params
        return ("sendMessage", params["chat_id"], params["text"], params.get("reply_markup"))
    if call.method == "answerCallbackQuery":
        return ("answerCallbackQuery", call.params["callback_query_id"])
    return (call.method,)


def send(chat: int, text: str, markup: dict[str, Any] | None = None) -> tuple[Any, ...]:
    return ("sendMessage", str(chat), text, markup)


def answer(callback_id: str) -> tuple[Any, ...]:
    return ("answerCallbackQuery", callback_id)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    api = FakeBotApi()
    async with serve_asgi(api.app()) as url:
        api.url = url
        yield api


# --- the bot, configured for Telegram ----------------------------------------------------


def telegram_config(
    tmp_path: Path, db_url: str, api_url: str, *, mode: str = "webhook", secret: bool = True
) -> Config:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[telegram]\nenabled = true\nmode = "{mode}"\npublic_url = "{PUBLIC_URL}"\n'
        f'api_base_url = "{api_url}"\n'
    )
    env = {"GRASSROOTS_DATABASE_URL": db_url, "TELEGRAM_BOT_TOKEN": TOKEN, **KEY_ENV}
    if secret:
        env["TELEGRAM_WEBHOOK_SECRET"] = SECRET
    return load_config(path, env=env)


def chat_address(chat: int) -> Address:
    return Address(AddressKind.TELEGRAM, str(chat))


async def person_of(app: App, address: Address) -> int | None:
    return (await app.repos.people.resolve(address)).person_id


async def prepare(app: App, linked: bool) -> None:
    """The county of conftest; 李秀英 and 赵大爷 have linked their Telegram chats."""
    await populate_roster(app)
    if linked:
        now = app.clock.now()
        sms = AddressKind.SMS
        await app.repos.people.link(chat_address(MEMBER_CHAT), Address(sms, MEMBER), now)
        await app.repos.people.link(chat_address(VILLAGER_CHAT), Address(sms, VILLAGER), now)


@dataclass
class Site:
    url: str
    app: App
    client: httpx.AsyncClient
    fake: FakeBotApi

    async def post(self, body: dict[str, Any] | bytes, secret: str | None = SECRET) -> Any:
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        if isinstance(body, bytes):
            return await self.client.post(
                self.url + "/telegram/webhook", content=body, headers=headers
            )
        return await self.client.post(self.url + "/telegram/webhook", json=body, headers=headers)

    async def stored(self, update_id: int) -> dict[str, Any] | None:
        row = await self.app.repos.db.fetchrow(
            "SELECT sender, body, status, handler FROM inbound_messages "
            "WHERE channel = 'telegram' AND provider_id = :id",
            {"id": str(update_id)},
        )
        if row is None:
            return None
        return {**row, "body": self.app.repos.inbound.open_body(row["body"])}  # sealed on disk


@asynccontextmanager
async def serving(
    config: Config,
    clock: FixedClock,
    fake: FakeBotApi,
    *,
    linked: bool = True,
    polling: bool | None = None,
) -> AsyncIterator[Site]:
    """The real ASGI app on loopback; leaving it stops the app and finishes the replies."""
    web = create_web_app(config, clock, with_scheduler=False, telegram_polling=polling)
    async with serve_asgi(web) as url, httpx.AsyncClient(timeout=10) as client:
        app: App = web.state.bot
        await prepare(app, linked)
        yield Site(url, app, client, fake)


class Chat:
    """A Telegram user talking to the bot over the webhook: `await chat.says("/me")`."""

    update_ids = itertools.count(815791001)

    def __init__(self, site: Site, chat: int) -> None:
        self.site = site
        self.chat = chat

    async def says(self, text: str) -> list[tuple[str, Any]]:
        return await self._post(update("message", next(self.update_ids), self.chat, text=text))

    async def shares(self, phone: str) -> list[tuple[str, Any]]:
        shared = contact(phone, self.chat)
        return await self._post(update("contact", next(self.update_ids), self.chat, contact=shared))

    async def _post(self, body: dict[str, Any]) -> list[tuple[str, Any]]:
        before = len(self.site.fake.sent("sendMessage"))
        assert (await self.site.post(body)).status_code == 200
        calls = await self.site.fake.wait_for(before + 1, "sendMessage")
        return [(c.params["text"], c.params.get("reply_markup")) for c in calls[before:]]


# --- the webhook, case by case -----------------------------------------------------------


async def reported_once(app: App) -> None:
    [deed] = await deeds_of(app, MEMBER)
    assert (deed["category"], deed["body"]) == ("service", "看望老人")


async def joined_hx0101(app: App) -> None:
    record = await app.repos.people.resolve(chat_address(NEW_CHAT))
    assert [(g.org_code, g.role) for g in record.grants] == [("HX0101", Role.PUBLIC)]


async def linked_to_member(app: App) -> None:
    member = await person_of(app, Address(AddressKind.SMS, MEMBER))
    assert member is not None and await person_of(app, chat_address(NEW_CHAT)) == member


async def nothing_linked(app: App) -> None:
    assert await person_of(app, chat_address(NEW_CHAT)) is None
    addresses = await app.repos.db.fetchval(
        "SELECT COUNT(*) AS n FROM addresses WHERE kind = 'telegram' AND value = :v",
        {"v": str(NEW_CHAT)},
    )
    assert addresses == 0


async def member_chat_opted_out(app: App) -> None:
    assert (await app.repos.people.resolve(chat_address(MEMBER_CHAT))).opted_out_at is not None
    assert (await app.repos.people.resolve(Address(AddressKind.SMS, MEMBER))).opted_out_at is None


def sender_of(body: dict[str, Any]) -> str:
    """The chat of a private update: its user's id."""
    inner = next(value for key, value in body.items() if key != "update_id")
    return str(inner["from"]["id"])


@dataclass(frozen=True)
class Case:
    label: str
    body: dict[str, Any] | bytes
    secret: str | None = SECRET
    status: int = 200
    stored: tuple[str, str] | None = None  # (body, handler) of the recorded message
    calls: tuple[tuple[Any, ...], ...] = ()  # what the fake Bot API received, in order
    then: Callable[[App], Awaitable[None]] | None = None  # what changed in storage

    @property
    def update_id(self) -> int | None:
        return self.body.get("update_id") if isinstance(self.body, dict) else None


REPORT = "汇报 #服务 看望老人"
RECORDED = ZH.get("deed.recorded", category=ZH.get("category.service"), week=1, streak=1)
CASES = [
    Case(
        "report from a linked member",
        update("message", 101, MEMBER_CHAT, text=REPORT),
        stored=(REPORT, "deed"),
        calls=(send(MEMBER_CHAT, RECORDED),),
        then=reported_once,
    ),
    Case(
        "report from a stranger",
        update("message", 102, NEW_CHAT, text=REPORT),
        stored=(REPORT, "deed"),
        calls=(send(NEW_CHAT, ZH.get("deed.link_first")),),  # an unlinked chat: link first
    ),
    Case(
        "/start with a deep link joins the branch",
        update("message", 103, NEW_CHAT, text="/start HX0101"),
        stored=("加入 HX0101", "join"),
        calls=(
            send(NEW_CHAT, ZH.get("join.welcome_theme", name="东坡村党支部", theme="脱贫致富")),
        ),
        then=joined_hx0101,
    ),
    Case(
        "/start alone offers to link a phone",
        update("message", 104, NEW_CHAT, text="/start"),
        stored=("绑定", "link"),
        calls=(send(NEW_CHAT, ZH.get("link.ask"), CONTACT_KEYBOARD),),
    ),
    Case(
        "/report",
        update("message", 105, MEMBER_CHAT, text="/report 修好了村口的路灯"),
        stored=("汇报 修好了村口的路灯", "deed"),
        calls=(send(MEMBER_CHAT, ZH.get("deed.recorded_plain", week=1, streak=1)),),
    ),
    Case(
        "/me",
        update("message", 106, MEMBER_CHAT, text="/me"),
        stored=("查询", "record"),
        calls=(send(MEMBER_CHAT, ZH.get("record.none")),),
    ),
    Case(
        "/me from an English app",
        update("message", 107, MEMBER_CHAT, text="/me@chuangxian_bot", language="en"),
        stored=("ME", "record"),
        calls=(send(MEMBER_CHAT, EN.get("record.none")),),
    ),
    Case(
        "inline button pressed",
        update("callback_query", 108, VILLAGER_CHAT),
        stored=("2", "help.default"),
        calls=(
            answer("2386701962785541234"),
            send(VILLAGER_CHAT, ZH.get("help.unknown") + ZH.get("help.public")),
        ),
    ),
    Case(
        "own contact shared, without a plus",
        update("contact", 109, NEW_CHAT, contact=contact("8613800001101", NEW_CHAT)),
        stored=("", "link.contact"),
        calls=(send(NEW_CHAT, ZH.get("link.done_named", name="李秀英", phone=MEMBER)),),
        then=linked_to_member,
    ),
    Case(
        "own contact shared, in E.164",
        update("contact", 110, NEW_CHAT, contact=contact(MEMBER, NEW_CHAT)),
        stored=("", "link.contact"),
        calls=(send(NEW_CHAT, ZH.get("link.done_named", name="李秀英", phone=MEMBER)),),
        then=linked_to_member,
    ),
    Case(
        "someone else's contact",
        update("contact", 111, NEW_CHAT, contact=contact(MEMBER_2, 5550077)),
        stored=("", "link.contact"),
        calls=(send(NEW_CHAT, ZH.get("link.refused"), CONTACT_KEYBOARD),),
        then=nothing_linked,
    ),
    Case(
        "a contact card of somebody not on Telegram",
        update("contact", 112, NEW_CHAT, contact=contact(MEMBER, None)),
        stored=("", "link.contact"),
        calls=(send(NEW_CHAT, ZH.get("link.refused"), CONTACT_KEYBOARD),),
        then=nothing_linked,
    ),
    Case("edited message", update("edited_message", 113)),
    Case("sticker", update("sticker", 114)),
    Case("group chat", update("group_message", 115)),
    Case("bot blocked", update("my_chat_member", 116), then=member_chat_opted_out),
    Case("business message", update("business_message", 117)),
    Case(
        "a kind of update not yet invented",
        {"update_id": 118, "guest_reaction": {"chat": {"id": MEMBER_CHAT}, "emoji": "👍"}},
    ),
    Case("wrong secret", update("message", 119, text=REPORT), secret="guessed", status=403),
    Case("no secret", update("message", 120, text=REPORT), secret=None, status=403),
    Case("empty secret", update("message", 121, text=REPORT), secret="", status=403),
    # With the right secret, what cannot be used is acknowledged and dropped: anything but a
    # 200 has Telegram deliver it again (tests/security/test_malformed_updates.py).
    Case("not JSON", b"update_id=122&text=hi"),
    Case("JSON but no update", b'{"message": {"text": "hi"}}'),
    Case("JSON list", b"[1, 2]"),
    Case("update missing its chat", b'{"update_id": 125, "message": {"text": "x"}}'),
]


@pytest.mark.parametrize("case", CASES, ids=[case.label for case in CASES])
async def test_webhook_cases(case: Case, fake: FakeBotApi, tmp_path, db_url, clock):
    async with serving(telegram_config(tmp_path, db_url, fake.url), clock, fake) as site:
        response = await site.post(case.body, case.secret)
        assert response.status_code == case.status, response.text
        await fake.wait_for(len(case.calls))
        if case.stored is None:
            assert await site.app.repos.inbound.count() == 0
        else:
            assert case.update_id is not None
            stored = await site.stored(case.update_id)
            assert stored is not None
            assert (stored["sender"], stored["body"], stored["handler"], stored["status"]) == (
                sender_of(case.body),
                *case.stored,
                "handled",
            )
        if case.then is not None:
            await case.then(site.app)
    assert [said(call) for call in fake.sent()] == list(case.calls)  # and nothing else


@pytest.mark.parametrize("handled_first", [False, True], ids=["at once", "after the reply"])
async def test_a_redelivered_update_is_handled_once(
    handled_first: bool, fake: FakeBotApi, tmp_path, db_url, clock
):
    body = update("message", 201, MEMBER_CHAT, text=REPORT)
    async with serving(telegram_config(tmp_path, db_url, fake.url), clock, fake) as site:
        assert (await site.post(body)).status_code == 200
        if handled_first:
            await fake.wait_for(1)
        assert (await site.post(body)).status_code == 200
        await fake.wait_for(1)
        assert await site.app.repos.inbound.count() == 1
        assert len(await deeds_of(site.app, MEMBER)) == 1
    assert [said(call) for call in fake.sent()] == [send(MEMBER_CHAT, RECORDED)]


async def test_a_reply_refused_because_the_user_blocked_the_bot_opts_the_chat_out(
    fake: FakeBotApi, tmp_path, db_url, clock
):
    fake.script("sendMessage", BLOCKED)
    async with serving(telegram_config(tmp_path, db_url, fake.url), clock, fake) as site:
        assert (await site.post(update("message", 301, MEMBER_CHAT, text="/me"))).status_code == 200
        await fake.wait_for(1)
    async with serving(telegram_config(tmp_path, db_url, fake.url), clock, fake) as site:
        await member_chat_opted_out(site.app)
        assert (await site.stored(301))["status"] == "handled"


async def test_without_a_webhook_secret_the_webhook_accepts_nothing(
    fake: FakeBotApi, tmp_path, db_url, clock
):
    config = telegram_config(tmp_path, db_url, fake.url, mode="polling", secret=False)
    forged = update("contact", 401, NEW_CHAT, contact=contact(MEMBER, NEW_CHAT))
    async with serving(config, clock, fake) as site:
        response = await site.post(forged, secret=None)
        linked = await person_of(site.app, chat_address(NEW_CHAT))
    assert response.status_code in (403, 404)
    assert linked is None


# --- python-telegram-bot against the fake: set-webhook, polling ---------------------------


@pytest.fixture
def keep_logging() -> Iterator[None]:
    """The CLI sets up logging for a process; give pytest's back afterwards."""
    root, alembic = logging.getLogger(), logging.getLogger("alembic")
    saved = root.handlers[:], root.level, alembic.level
    yield
    root.handlers[:], level, alembic_level = saved
    root.setLevel(level)
    alembic.setLevel(alembic_level)


def set_webhook(tmp_path: Path, api_url: str) -> Any:
    """`grassroots telegram set-webhook`, run by click (in a thread: it runs its own loop)."""
    database = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    telegram_config(tmp_path, database, api_url)  # writes config.toml
    return CliRunner().invoke(
        main,
        ["--lang", "en", "--config", str(tmp_path / "config.toml"), "telegram", "set-webhook"],
        env={
            "GRASSROOTS_DATABASE_URL": database,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            **KEY_ENV,
        },
    )


async def test_set_webhook_registers_url_secret_and_update_kinds(
    fake: FakeBotApi, tmp_path, keep_logging
):
    result = await asyncio.to_thread(set_webhook, tmp_path, fake.url)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"webhook set: {PUBLIC_URL}/telegram/webhook\n"
    assert [call.method for call in fake.calls] == ["getMe", "setWebhook"]
    params = fake.calls[1].params
    assert params["url"] == f"{PUBLIC_URL}/telegram/webhook"
    assert params["secret_token"] == SECRET
    assert params["allowed_updates"] == ["message", "callback_query", "my_chat_member"]


async def test_the_bot_token_stays_out_of_the_logs(fake: FakeBotApi, tmp_path, keep_logging):
    result = await asyncio.to_thread(set_webhook, tmp_path, fake.url)
    assert result.exit_code == 0, result.output
    assert TOKEN.split(":")[1] not in result.stderr


async def test_polling_fetches_an_update_handles_and_answers_it(
    fake: FakeBotApi, tmp_path, db_url, clock
):
    config = telegram_config(tmp_path, db_url, fake.url)
    async with serving(config, clock, fake, polling=True) as site:
        fake.updates.append(update("message", 501, MEMBER_CHAT, text="/report #学习 参加党课"))
        await fake.wait_for(1, "sendMessage")
        assert (await site.stored(501))["status"] == "handled"
        assert len(await deeds_of(site.app, MEMBER)) == 1
    study = ZH.get("deed.recorded", category=ZH.get("category.study"), week=1, streak=1)
    assert [said(call) for call in fake.sent()] == [send(MEMBER_CHAT, study)]
    assert "deleteWebhook" in [call.method for call in fake.calls]  # polling replaces it
    polls = fake.sent("getUpdates")
    assert all(call.params["allowed_updates"] == ALLOWED_UPDATES for call in polls)
    assert int(polls[-1].params["offset"]) == 502  # the update is confirmed on the way out


# --- sending through the outbox ------------------------------------------------------------


@pytest.fixture
async def bot(tmp_path, db_url, clock, fake: FakeBotApi) -> AsyncIterator[App]:
    """The app without its web server or dispatcher: the tests deliver by hand."""
    app = await App.open(telegram_config(tmp_path, db_url, fake.url), clock)
    try:
        await prepare(app, linked=True)
        yield app
    finally:
        await app.close()


QUEUED = itertools.count(1)


async def queue(app: App, chat: int, body: str, choices: tuple[Choice, ...] = ()) -> int:
    key = f"test:{next(QUEUED)}"
    await app.repos.outbox.enqueue(key, Outbound(chat_address(chat), body, choices), START)
    return await app.repos.db.fetchval(
        "SELECT id FROM outbox WHERE idempotency_key = :k", {"k": key}
    )


async def address_row(app: App, chat: int) -> dict[str, Any] | None:
    return await app.repos.db.fetchrow(
        "SELECT person_id, opted_out_at, invalid_at FROM addresses "
        "WHERE kind = 'telegram' AND value = :v",
        {"v": str(chat)},
    )


POLL = (Choice("1", "满意"), Choice("2", "基本满意"), Choice("3", "不满意"))


async def test_a_queued_message_is_sent_with_its_choices_as_buttons(bot: App, fake: FakeBotApi):
    outbox_id = await queue(bot, VILLAGER_CHAT, "您对支部的服务满意吗？", POLL)
    outcome = await deliver(bot.repos, bot.senders, outbox_id, START)
    assert outcome.status == "sent"
    buttons = {
        "inline_keyboard": [
            [{"text": "满意", "callback_data": "c:1"}],
            [{"text": "基本满意", "callback_data": "c:2"}],
            [{"text": "不满意", "callback_data": "c:3"}],
        ]
    }
    assert [said(call) for call in fake.sent()] == [
        send(VILLAGER_CHAT, "您对支部的服务满意吗？", buttons)
    ]
    stored = await bot.repos.outbox.get(outbox_id)
    assert (stored["status"], stored["provider_id"], stored["attempts"]) == (
        "sent",
        f"{VILLAGER_CHAT}:2001",
        1,
    )


@pytest.mark.parametrize("timedelta_env", ["", "1"], ids=["retry_after int", "as timedelta"])
async def test_429_retries_no_sooner_than_telegram_asks(
    timedelta_env: str, bot: App, fake: FakeBotApi, monkeypatch, recwarn
):
    monkeypatch.setenv("PTB_TIMEDELTA", timedelta_env)
    fake.script("sendMessage", TOO_MANY)
    outbox_id = await queue(bot, MEMBER_CHAT, "本周五召开党员大会")
    assert (await deliver(bot.repos, bot.senders, outbox_id, START)).status == "retry"
    stored = await bot.repos.outbox.get(outbox_id)
    assert (stored["status"], stored["error_code"], stored["attempts"]) == ("pending", "429", 1)
    assert as_datetime(stored["not_before"]) >= START + timedelta(seconds=7)
    assert (await address_row(bot, MEMBER_CHAT))["opted_out_at"] is None
    later = as_datetime(stored["not_before"])
    assert (await deliver(bot.repos, bot.senders, outbox_id, later)).status == "sent"
    assert [said(call) for call in fake.sent()] == [send(MEMBER_CHAT, "本周五召开党员大会")] * 2


async def test_403_blocked_marks_the_chat_opted_out_and_it_is_not_tried_again(
    bot: App, fake: FakeBotApi
):
    fake.script("sendMessage", BLOCKED)
    first = await queue(bot, MEMBER_CHAT, "通知一")
    assert (await deliver(bot.repos, bot.senders, first, START)).status == "failed"
    stored = await bot.repos.outbox.get(first)
    assert (stored["status"], stored["error_code"], stored["last_error"]) == (
        "failed",
        "403",
        "Forbidden: bot was blocked by the user",
    )
    assert (await address_row(bot, MEMBER_CHAT))["opted_out_at"] is not None
    second = await queue(bot, MEMBER_CHAT, "通知二")
    assert (await deliver(bot.repos, bot.senders, second, START)).status == "failed"
    assert len(fake.sent()) == 1  # the second was not attempted


async def test_400_chat_not_found_marks_the_chat_invalid(bot: App, fake: FakeBotApi):
    fake.script("sendMessage", NOT_FOUND)
    outbox_id = await queue(bot, MEMBER_CHAT, "通知")
    assert (await deliver(bot.repos, bot.senders, outbox_id, START)).status == "failed"
    row = await address_row(bot, MEMBER_CHAT)
    assert row["invalid_at"] is not None and row["opted_out_at"] is None


async def test_a_group_upgraded_to_a_supergroup_is_followed_and_resent(bot: App, fake: FakeBotApi):
    branch = await bot.repos.orgs.by_code("HX0101")
    await bot.repos.people.join(chat_address(GROUP_CHAT), branch.id, Role.PUBLIC, None, START)
    fake.script("sendMessage", MIGRATED)
    outbox_id = await queue(bot, GROUP_CHAT, "支部群通知")
    assert (await deliver(bot.repos, bot.senders, outbox_id, START)).status == "sent"
    assert [said(call) for call in fake.sent()] == [
        send(GROUP_CHAT, "支部群通知"),
        send(SUPERGROUP_CHAT, "支部群通知"),
    ]
    assert await address_row(bot, GROUP_CHAT) is None
    moved = await address_row(bot, SUPERGROUP_CHAT)
    assert moved is not None and moved["person_id"] is not None
    assert (await bot.repos.outbox.get(outbox_id))["provider_id"].startswith(f"{SUPERGROUP_CHAT}:")


# --- long texts and buttons -----------------------------------------------------------------

LINE = "东坡村党支部本周汇报：" + "看望孤寡老人，" * 20  # 151 characters


@pytest.mark.parametrize(
    ("text", "sizes"),
    [
        ("短", [1]),
        ("汇" * MAX_TEXT, [MAX_TEXT]),
        ("汇" * (MAX_TEXT + 1), [MAX_TEXT, 1]),
        ("汇" * 10_000, [MAX_TEXT, MAX_TEXT, 10_000 - 2 * MAX_TEXT]),
        ("\n".join([LINE] * 60), [26 * 152 - 1, 26 * 152 - 1, 8 * 152 - 1]),
    ],
    ids=["short", "exactly the limit", "one over", "no line breaks", "lines"],
)
def test_split_text_keeps_every_piece_within_telegrams_limit(text: str, sizes: list[int]):
    pieces = split_text(text)
    assert [len(piece) for piece in pieces] == sizes
    assert all(0 < len(piece) <= MAX_TEXT for piece in pieces)
    joiner = "\n" if "\n" in text else ""
    assert joiner.join(pieces) == text  # cut at line breaks, nothing lost


async def test_a_long_message_goes_out_in_pieces_with_the_buttons_on_the_last(
    bot: App, fake: FakeBotApi
):
    body = "\n".join([LINE] * 60)
    outbox_id = await queue(bot, VILLAGER_CHAT, body, POLL)
    assert (await deliver(bot.repos, bot.senders, outbox_id, START)).status == "sent"
    calls = fake.sent("sendMessage")
    assert [len(call.params["text"]) for call in calls] == [26 * 152 - 1, 26 * 152 - 1, 8 * 152 - 1]
    assert [call.params.get("reply_markup") is not None for call in calls] == [False, False, True]
    assert "\n".join(call.params["text"] for call in calls) == body


async def test_callback_data_stays_within_64_bytes(bot: App, fake: FakeBotApi):
    long_key = "评议:五个好:" + "群众反映好" * 10  # 168 bytes of UTF-8
    choices = (Choice("1", "好"), Choice(long_key, "很长的选项"))
    outbox_id = await queue(bot, VILLAGER_CHAT, "请评议", choices)
    assert (await deliver(bot.repos, bot.senders, outbox_id, START)).status == "sent"
    [call] = fake.sent("sendMessage")
    data = [row[0]["callback_data"] for row in call.params["reply_markup"]["inline_keyboard"]]
    assert data[0] == "c:1"
    assert all(len(d.encode()) <= 64 and d.startswith("c:") for d in data)
    assert long_key.startswith(data[1][2:])  # cut on a character boundary, never mid-character


async def test_trailing_line_breaks_past_the_limit_do_not_make_an_empty_piece(
    bot: App, fake: FakeBotApi
):
    body = "汇" * (MAX_TEXT - 1) + "\n\n"
    outbox_id = await queue(bot, MEMBER_CHAT, body)
    outcome = await deliver(bot.repos, bot.senders, outbox_id, START)
    # Today: the text goes out, then an empty second piece is refused and the row is failed.
    assert fake.sent()[0].params["text"] == "汇" * (MAX_TEXT - 1)
    assert outcome.status == "sent"
    assert all(split_text(body))


async def test_a_retry_after_a_partial_send_does_not_repeat_the_pieces_delivered(
    bot: App, fake: FakeBotApi, recwarn
):
    body = "\n".join([LINE] * 30)  # two pieces
    fake.script("sendMessage", None, TOO_MANY)
    outbox_id = await queue(bot, MEMBER_CHAT, body)
    assert (await deliver(bot.repos, bot.senders, outbox_id, START)).status == "retry"
    later = START + timedelta(minutes=5)
    assert (await deliver(bot.repos, bot.senders, outbox_id, later)).status == "sent"
    texts = [call.params["text"] for call in fake.sent("sendMessage")]
    assert texts.count(texts[0]) == 1


# --- one member, two channels ---------------------------------------------------------------


async def test_reports_by_sms_and_by_telegram_count_for_one_member(
    fake: FakeBotApi, tmp_path, db_url, clock
):
    config = telegram_config(tmp_path, db_url, fake.url)
    async with serving(config, clock, fake, linked=False) as site:
        sms, telegram = Phone(site.app, MEMBER), Chat(site, NEW_CHAT)

        assert await sms.says("汇报 #服务 看望老人") == [RECORDED]
        assert await telegram.says("/start") == [(ZH.get("link.ask"), CONTACT_KEYBOARD)]
        assert await telegram.shares(MEMBER) == [
            (ZH.get("link.done_named", name="李秀英", phone=MEMBER), None)
        ]
        study = ZH.get("deed.recorded", category=ZH.get("category.study"), week=2, streak=1)
        assert await telegram.says("/report #学习 参加党课") == [(study, None)]

        summary = "本周2条，累计2条：学习1/1，佳绩0/0，服务1/1，守法0/0，正气0/0（本周/累计）"
        assert await sms.says("查询") == [summary]
        assert await telegram.says("/me") == [(summary, None)]
        assert len(await deeds_of(site.app, MEMBER)) == 2


# --- a message recorded before the 200, handled after a restart -----------------------------


async def test_a_contact_share_interrupted_by_a_restart_still_links(bot: App):
    shared = update("contact", 601, NEW_CHAT, contact=contact(MEMBER, NEW_CHAT))
    assert bot.telegram is not None
    received = convert(Update.de_json(shared, bot.telegram.bot), START)
    assert isinstance(received, Received)
    await bot.router.accept(received.inbound)  # recorded and answered 200, then killed
    assert await bot.router.recover() == 1
    assert await person_of(bot, chat_address(NEW_CHAT)) == await person_of(
        bot, Address(AddressKind.SMS, MEMBER)
    )


# --- buttons we did not make, and a user who comes back -----------------------------------


async def test_a_button_the_bot_did_not_make_is_answered_and_ignored(
    fake: FakeBotApi, tmp_path, db_url, clock
):
    async with serving(telegram_config(tmp_path, db_url, fake.url), clock, fake) as site:
        body = update("callback_query", 130, VILLAGER_CHAT, data="other:1")
        assert (await site.post(body)).status_code == 200
        await fake.wait_for(1)
        assert await site.app.repos.inbound.count() == 0
    # Answered, so the button stops spinning; nothing else.
    assert [said(call) for call in fake.sent()] == [answer("2386701962785541234")]


async def test_unblocking_the_bot_opts_the_chat_back_in(fake: FakeBotApi, tmp_path, db_url, clock):
    async with serving(telegram_config(tmp_path, db_url, fake.url), clock, fake) as site:
        blocked = update("my_chat_member", 131)
        assert (await site.post(blocked)).status_code == 200
        await member_chat_opted_out(site.app)
        back = copy.deepcopy(blocked) | {"update_id": 132}
        inner = back["my_chat_member"]
        inner["old_chat_member"], inner["new_chat_member"] = (
            inner["new_chat_member"],
            inner["old_chat_member"],
        )
        assert (await site.post(back)).status_code == 200
        record = await site.app.repos.people.resolve(chat_address(MEMBER_CHAT))
        assert record.opted_out_at is None
