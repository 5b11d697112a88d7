"""The console's doors: sign-in with a one-time code sent through the person's own channel,
the session cookie's flags, sign-out, `grassroots console revoke`, the home page and the
admins' audit log (issue 14, Access). Attacks on them are in tests/security/test_console_*."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.app import App
from bot.channels.base import Failure, plain_text
from bot.cli import main
from bot.clock import FixedClock
from bot.messages import Address, AddressKind, Outbound
from bot.segments import count_segments
from bot.texts import LANGUAGES, texts_for
from bot.web.console import codes
from bot.web.console.access import COOKIE
from bot.web.console.codes import CODE_TTL
from storage import audit
from storage.console_codes import ConsoleCodeRepository
from tests.conftest import KEY_ENV, SECRETARY
from tests.test_dispatcher import ZONE, FakeChannel, dispatcher
from tests.web.browser import ZH_PHONE, horizontal_overflow
from tests.web.conftest import Site
from tests.web.console_signin import (
    ADMIN,
    ask_code,
    browser_client,
    codes_sent,
    console_site,
    csrf_of,
    last_code,
    send_code,
    sign_in,
)
from tests.web.populate import LEADER_HX01, SECRETARY_HX0101


@pytest.fixture
async def console(db_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Site]:
    async for site in console_site(db_url, tmp_path, clock):
        yield site


def test_the_code_message_fits_one_sms_segment_in_both_languages() -> None:
    for language in LANGUAGES:
        body = texts_for(language).get("console.sign_in_code", code="999999", minutes=10)
        segments = count_segments(plain_text(Outbound(Address(AddressKind.SMS, "+1"), body)))
        assert segments.segments == 1, (language, body, segments)
    zh = texts_for("zh-CN").get("console.sign_in_code", code="123456", minutes=10)
    assert zh == "工作台登录验证码 123456，10分钟内有效。如非本人操作请忽略。"


async def test_a_secretary_signs_in_with_the_code_sent_to_their_phone(console: Site) -> None:
    client = browser_client(console)
    start = await client.get("/console/audit")
    assert start.status_code == 303
    assert start.headers["location"] == "/console/sign-in?next=/console/audit"

    asked = await ask_code(client, SECRETARY_HX0101, "/console/o/HX0101")
    assert asked.status_code == 200
    assert "验证码已经发出" in asked.text and "+8613800001100" in asked.text
    [message] = await codes_sent(console.app, SECRETARY_HX0101)
    # Through the outbox to their SMS address, urgent (quiet hours do not hold it) and not
    # worth sending once the code has expired.
    assert message["address_kind"] == "sms" and message["address"] == SECRETARY_HX0101
    assert message["urgent"]
    body = str(message["body"])
    assert re.fullmatch(r"工作台登录验证码 \d{6}，10分钟内有效。如非本人操作请忽略。", body)
    [stored] = await console.app.repos.db.fetch("SELECT * FROM console_codes")
    code = await last_code(console.app, SECRETARY_HX0101)
    assert code not in str(stored.values()) and SECRETARY_HX0101 not in str(stored.values())

    answer = await send_code(client, SECRETARY_HX0101, code, "/console/o/HX0101")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/o/HX0101"
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{COOKIE}=")
    ).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/console" in cookie
    assert "secure" not in cookie  # plain http on loopback: a Secure cookie would not return

    home = await client.get("/console")
    assert home.status_code == 200
    assert '<a href="/console/o/HX0101">东坡村党支部</a>' in home.text
    assert "书记" in home.text and "/console/audit" not in home.text  # not an admin
    assert "当前登录：张建国" in home.text
    [entry] = await audit.newest(console.app.repos.db)
    assert entry.action == "console.sign_in" and entry.person_name == "张建国"


async def test_the_cookies_are_secure_when_the_request_came_over_https(console: Site) -> None:
    """Behind a TLS proxy on the same host, uvicorn believes its X-Forwarded-Proto."""
    client = browser_client(console)
    client.headers["x-forwarded-proto"] = "https"
    page = await client.get("/console/sign-in")
    [form_cookie] = page.headers.get_list("set-cookie")
    assert "; secure" in form_cookie.lower()
    # httpx, like a browser, keeps a Secure cookie off plain http: send it by hand.
    pair = {"cookie": form_cookie.split(";")[0]}
    form = {"phone": SECRETARY_HX0101, "csrf": csrf_of(page.text), "next": "/console"}
    assert (await client.post("/console/sign-in", data=form, headers=pair)).status_code == 200
    form["code"] = await last_code(console.app, SECRETARY_HX0101)
    answer = await client.post("/console/sign-in/code", data=form, headers=pair)
    assert answer.status_code == 303
    cookies = [c.lower() for c in answer.headers.get_list("set-cookie")]
    session = next(c for c in cookies if c.startswith(f"{COOKIE}="))
    assert "; secure" in session and "httponly" in session and "samesite=lax" in session


async def test_sign_in_speaks_english_when_asked_and_keeps_it_through_the_forms(
    console: Site,
) -> None:
    client = browser_client(console)
    page = await client.get("/console/sign-in?lang=en")
    assert "Sign in to the organisers&#39; console" in page.text
    assert 'action="/console/sign-in?lang=en"' in page.text
    form = {"phone": LEADER_HX01, "csrf": csrf_of(page.text), "next": "/console"}
    asked = await client.post("/console/sign-in?lang=en", data=form)
    assert "a code has been sent to it, valid for 10 minutes" in asked.text
    assert 'action="/console/sign-in/code?lang=en"' in asked.text
    form["code"] = "not a code"
    wrong = await client.post("/console/sign-in/code?lang=en", data=form)
    assert wrong.status_code == 400 and "That code is wrong or no longer valid" in wrong.text
    # The language link of that page is a GET of the form's address: back to the start.
    back = await client.get("/console/sign-in/code?lang=zh-CN")
    assert back.status_code == 303 and back.headers["location"] == "/console/sign-in?lang=zh-CN"


async def test_a_leader_sees_the_organisations_they_run(console: Site) -> None:
    client = await sign_in(console, LEADER_HX01)
    home = await client.get("/console?lang=en")
    assert home.status_code == 200
    assert '<a href="/console/o/HX01?lang=en">青山镇党委</a>' in home.text
    assert "leader" in home.text and "HX0101" not in home.text
    assert home.headers["cache-control"] == "no-store"


async def test_the_code_goes_in_the_persons_language_to_their_preferred_address(
    app: App,
) -> None:
    """Telegram before SMS when Telegram is on (as broadcasts choose); opted-out addresses
    are skipped; the person's language, else the deployment's."""
    from tests.web.populate import load_demo

    await load_demo(app)
    now = app.clock.now()
    sms = Address(AddressKind.SMS, SECRETARY_HX0101)
    chat = Address(AddressKind.TELEGRAM, "555001")
    assert await app.repos.people.link(chat, sms, now)
    record = await app.repos.people.resolve(sms)
    assert record.person_id is not None
    await app.repos.people.set_language(record.person_id, "en")
    repo = ConsoleCodeRepository(app.repos.db)
    bodies = {"zh-CN": "中文 111111", "en": "English 111111"}

    async def issued(kinds: list[str]) -> dict[str, object] | None:
        done = await repo.issue(
            phone_key="k",
            code_hash="h",
            person_id=record.person_id,
            bodies=bodies,
            default_language="zh-CN",
            kinds=kinds,
            now=now,
            ttl=CODE_TTL,
        )
        if done.outbox_id is None:
            return None
        return await app.repos.outbox.get(done.outbox_id)

    both = await issued(["telegram", "sms"])
    assert both is not None and both["address_kind"] == "telegram"
    assert both["body"] == "English 111111"
    sms_only = await issued(["sms"])  # Telegram is off in this deployment
    assert sms_only is not None and sms_only["address"] == SECRETARY_HX0101
    await app.repos.people.opt_out(sms, now)
    assert await issued(["sms"]) is None  # their STOP holds for codes too


async def test_the_code_goes_out_in_quiet_hours_and_never_after_it_expired(county: App) -> None:
    county.clock.set(datetime(2026, 11, 26, 22, 30, tzinfo=ZONE))  # quiet: 21:00-08:00
    channel = FakeChannel()
    night = dispatcher(county, channel, quiet="21:00-08:00")
    assert await codes.ask(county, SECRETARY, "127.0.0.1") is None
    await night.drain_once()
    [sent] = channel.sent
    assert sent.to.value == SECRETARY and sent.body.startswith("工作台登录验证码 ")

    channel.fail[SECRETARY] = Failure.TRANSIENT  # the provider is down for a while
    await codes.ask(county, SECRETARY, "127.0.0.1")
    await night.drain_once()
    del channel.fail[SECRETARY]
    county.clock.advance(CODE_TTL)
    await night.drain_once()
    assert len(channel.sent) == 1  # a code that can no longer sign in is not sent
    [late] = await county.repos.db.fetch(
        "SELECT status FROM outbox WHERE idempotency_key LIKE 'console-code:%' ORDER BY id DESC"
        " LIMIT 1"
    )
    assert late["status"] == "cancelled"


async def test_sign_out_ends_the_session_at_once(console: Site) -> None:
    client = await sign_in(console, SECRETARY_HX0101)
    home = await client.get("/console")
    kept = client.cookies[COOKIE]
    out = await client.post("/console/sign-out", data={"csrf": csrf_of(home.text)})
    assert out.status_code == 303
    assert out.headers["location"] == "/console/sign-in?signed_out=1"
    assert client.cookies.get(COOKIE) is None  # the browser is told to forget it
    replay = browser_client(console)
    replay.cookies.set(COOKIE, kept)  # and a copy kept elsewhere is dead too
    assert (await replay.get("/console")).status_code == 303
    page = await client.get(out.headers["location"])
    assert "您已退出登录" in page.text
    actions = [e.action for e in await audit.newest(console.app.repos.db)]
    assert actions == ["console.sign_out", "console.sign_in"]


def _cli(db_url: str, tmp_path: Path, *args: str) -> tuple[int, str]:
    config = tmp_path / "cli.toml"
    config.write_text("[scheduler]\nenabled = false\n")
    env = {"GRASSROOTS_DATABASE_URL": db_url, **KEY_ENV}
    result = CliRunner().invoke(main, ["--config", str(config), *args], env=env)
    return result.exit_code, result.output


async def test_grassroots_console_revoke_ends_every_session_of_a_person(
    console: Site, db_url: str, tmp_path: Path
) -> None:
    console.clock.set(datetime.now(UTC))  # the command runs on the system's clock
    phone = await sign_in(console, SECRETARY_HX0101)
    laptop = await sign_in(console, SECRETARY_HX0101)
    other = await sign_in(console, LEADER_HX01)
    for client in (phone, laptop, other):
        assert (await client.get("/console")).status_code == 200
    code, output = await asyncio.to_thread(
        _cli, db_url, tmp_path, "console", "revoke", "138 0000 1100"
    )
    assert code == 0, output
    assert output.strip() == "已结束张建国的2个工作台登录。"
    for client in (phone, laptop):
        assert (await client.get("/console")).status_code == 303
    assert (await other.get("/console")).status_code == 200  # someone else's stay
    [entry, *_] = await audit.newest(console.app.repos.db)
    assert entry.action == "console.revoke" and entry.person_id is None  # the operator
    assert "张建国: 2" in entry.detail

    code, output = await asyncio.to_thread(
        _cli, db_url, tmp_path, "--lang", "en", "console", "revoke", "13912345678"
    )
    assert code == 1 and "No one on the roster has this number" in output


async def test_the_audit_log_lists_sign_ins_for_an_admin_newest_first_and_paged(
    console: Site,
) -> None:
    await sign_in(console, SECRETARY_HX0101)
    admin = await sign_in(console, ADMIN)
    page = await admin.get("/console/audit")
    assert page.status_code == 200
    rows = re.findall(r"<tr>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>", page.text)
    assert [who for _, who in rows] == ["钱管理", "张建国"]
    assert rows[0][0] == "2026-11-26 10:00"  # the deployment's time zone
    assert "登录工作台" in page.text
    assert "更早的记录" not in page.text
    home = await admin.get("/console")
    assert 'href="/console/audit"' in home.text and "和兴县委" in home.text

    for n in range(60):
        await audit.record(
            console.app.repos.db,
            person_id=None,
            action="test.step",
            detail=f"n{n}",
            at=console.clock.now(),
        )
    first = await admin.get("/console/audit")
    assert first.text.count("<tr>") - 1 == 50 and "n59" in first.text and "n9<" not in first.text
    older = re.search(r'href="(/console/audit\?before=\d+)" rel="next"', first.text)
    assert older
    second = await admin.get(older.group(1))
    assert second.text.count("<tr>") - 1 == 12  # ten steps and the two sign-ins
    assert "n9<" in second.text and "张建国" in second.text and 'rel="next"' not in second.text


async def test_sign_in_on_a_phone_in_the_browser(console: Site, browser, shoot) -> None:  # type: ignore[no-untyped-def]
    page = await browser.new_page(**ZH_PHONE)
    await page.goto(console.url + "/console")
    assert page.url.endswith("/console/sign-in?next=/console")
    assert await page.inner_text("h1") == "登录组织工作台"
    assert await horizontal_overflow(page) == 0
    await shoot(page, "console-sign-in")
    await page.get_by_label("手机号码").fill("138 0000 1100")
    await page.get_by_role("button", name="获取验证码").click()
    await page.wait_for_selector("text=输入验证码")
    assert await horizontal_overflow(page) == 0
    await shoot(page, "console-sign-in-code")
    code = await last_code(console.app, SECRETARY_HX0101)
    await page.get_by_label("验证码（6位数字）").fill(code)
    await page.get_by_role("button", name="登录", exact=True).click()
    await page.wait_for_url(console.url + "/console")
    assert await page.inner_text("h1") == "我负责的组织"
    assert await page.get_by_role("link", name="东坡村党支部").get_attribute("href") == (
        "/console/o/HX0101"
    )
    assert await horizontal_overflow(page) == 0
    await shoot(page, "console-home")
    await page.get_by_role("button", name="退出登录").click()
    await page.wait_for_selector("text=您已退出登录")
    await page.goto(console.url + "/console")
    assert "/console/sign-in" in page.url


async def test_the_audit_page_fits_a_phone(console: Site, browser, shoot) -> None:  # type: ignore[no-untyped-def]
    await sign_in(console, SECRETARY_HX0101)
    admin = await sign_in(console, ADMIN)
    console.clock.advance(timedelta(minutes=3))
    page = await browser.new_page(**ZH_PHONE)
    await page.context.add_cookies(
        [{"name": COOKIE, "value": admin.cookies[COOKIE], "url": console.url + "/console"}]
    )
    await page.goto(console.url + "/console/audit")
    assert await page.inner_text("h1") == "操作记录"
    assert await horizontal_overflow(page) == 0
    await shoot(page, "console-audit")
