"""The browser sandbox in Chromium at 360 px: a member's report answered in the page, a
secretary's notice reaching a member's tab live, a poll's options as buttons that answer
it, and no sideways scrolling. Screenshots are saved (`shoot`): look at them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from bot.clock import FixedClock
from bot.texts import Texts
from tests.web.browser import EN_PHONE, ZH_PHONE, horizontal_overflow
from tests.web.conftest import Site, _site
from tests.web.populate import MEMBERS_HX0101, SECRETARY_HX0101, VILLAGERS_HX0101, load_demo
from tests.web.test_sandbox import sandbox_config

ZH = Texts("zh-CN")
MEMBER, SECRETARY, VILLAGER = MEMBERS_HX0101[0], SECRETARY_HX0101, VILLAGERS_HX0101[0]
# Without the arrival animation, so that screenshots show messages, not fades.
PHONE: dict[str, Any] = {**ZH_PHONE, "reduced_motion": "reduce"}
WAIT = 10_000  # ms: generous; the figure is measured and printed, not asserted


@pytest.fixture
async def sandbox(db_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Site]:
    async for opened in _site(sandbox_config(db_url, tmp_path), clock):
        await load_demo(opened.app)
        yield opened


def chat_url(site: Site, phone: str) -> str:
    return f"{site.url}/sandbox/chat?phone={quote(phone)}"


async def send(site: Site, page: Any, text: str) -> None:
    site.clock.advance(timedelta(seconds=30))
    await page.fill("#sb-body", text)
    await page.press("#sb-body", "Enter")


async def test_the_picker_fits_a_phone_and_opens_a_persons_phone(
    sandbox: Site, browser: Any, shoot: Any
) -> None:
    page = await browser.new_page(**PHONE)
    await page.goto(sandbox.url + "/sandbox")
    assert await horizontal_overflow(page) == 0
    await shoot(page, "sandbox-picker")
    await page.click("text=张建国")
    await page.wait_for_selector("h1:has-text('张建国')")
    assert "phone=%2B8613800001100" in page.url
    assert await horizontal_overflow(page) == 0
    english = await browser.new_page(**EN_PHONE, reduced_motion="reduce")
    await english.goto(chat_url(sandbox, VILLAGER))
    await send(sandbox, english, "help")
    await english.locator(".sb-theirs").first.wait_for(timeout=WAIT)
    assert await horizontal_overflow(english) == 0
    await shoot(english, "sandbox-villager-help-en")


async def test_a_members_report_is_answered_in_the_page(
    sandbox: Site, browser: Any, shoot: Any
) -> None:
    page = await browser.new_page(**PHONE)
    await page.goto(chat_url(sandbox, MEMBER))
    await send(sandbox, page, "#服务 帮五保户王大妈修好了屋顶")
    reply = page.locator(".sb-theirs .sb-bubble").last
    await reply.wait_for(timeout=WAIT)
    assert "服务群众" in await reply.inner_text()
    mine = page.locator(".sb-mine .sb-bubble")
    assert await mine.all_inner_texts() == ["#服务 帮五保户王大妈修好了屋顶"]
    meta = await page.locator(".sb-theirs .sb-segments").last.inner_text()
    assert meta == ZH.get("web.sandbox.segments", count=1)
    assert await page.input_value("#sb-body") == ""  # sent without reloading the page
    # What is already shown stays as it is (a screen reader hears only the new messages).
    await page.eval_on_selector(".sb-msg", "item => { item.dataset.seen = 'yes'; }")
    await send(sandbox, page, "查询")
    await page.locator(".sb-theirs").nth(1).wait_for(timeout=WAIT)
    assert await page.locator(".sb-msg[data-seen=yes]").count() == 1
    assert await page.locator(".sb-msg").count() == 4
    assert await horizontal_overflow(page) == 0
    await shoot(page, "sandbox-member-report")


async def test_a_secretarys_notice_reaches_a_members_open_tab(
    sandbox: Site, browser: Any, shoot: Any
) -> None:
    context = await browser.new_context(**PHONE)
    member = await context.new_page()
    await member.goto(chat_url(sandbox, MEMBER))
    secretary = await context.new_page()
    await secretary.goto(chat_url(sandbox, SECRETARY))
    notice = "明天上午九点在村委会开会，请准时参加"
    started = time.monotonic()
    await send(sandbox, secretary, f"通知 {notice}")
    await secretary.locator(".sb-theirs").last.wait_for(timeout=WAIT)
    arrived = member.locator(".sb-theirs .sb-bubble", has_text=notice)
    await arrived.wait_for(timeout=WAIT)
    took = time.monotonic() - started
    print(f"sandbox: a secretary's notice reached the member's tab in {took:.2f} s")
    assert await member.locator(".sb-msg").count() == 1
    await shoot(secretary, "sandbox-secretary-notice")
    await shoot(member, "sandbox-member-receives-notice")
    await context.close()


async def test_a_polls_options_are_buttons_that_answer_it(
    sandbox: Site, browser: Any, shoot: Any
) -> None:
    context = await browser.new_context(**PHONE)
    villager = await context.new_page()
    await villager.goto(chat_url(sandbox, VILLAGER))
    secretary = await context.new_page()
    await secretary.goto(chat_url(sandbox, SECRETARY))
    await send(sandbox, secretary, "评议 村里路灯修得满意吗/满意/基本满意/不满意")
    confirm = secretary.locator(".sb-choice", has_text=ZH.get("confirm.yes"))
    await confirm.wait_for(timeout=WAIT)
    await shoot(secretary, "sandbox-secretary-poll-confirm")
    sandbox.clock.advance(timedelta(seconds=30))
    await confirm.click()
    options = villager.locator(".sb-msg:not(.sb-waiting) .sb-choice")  # delivered
    await options.first.wait_for(timeout=WAIT)
    assert await options.all_inner_texts() == ["满意", "基本满意", "不满意"]
    assert await horizontal_overflow(villager) == 0
    await shoot(villager, "sandbox-villager-poll")
    sandbox.clock.advance(timedelta(seconds=30))
    await options.nth(0).click()
    thanks = villager.locator(
        ".sb-theirs .sb-bubble", has_text=ZH.get("poll.thanks", code="P1")[:6]
    )
    await thanks.wait_for(timeout=WAIT)
    mine = villager.locator(".sb-mine")
    await mine.wait_for(timeout=WAIT)
    assert ZH.get("web.sandbox.marker") in await mine.inner_text()
    await shoot(villager, "sandbox-villager-answered")
    await context.close()


async def test_without_script_the_form_posts_and_the_thread_comes_back(
    sandbox: Site, browser: Any, shoot: Any
) -> None:
    context = await browser.new_context(**PHONE, java_script_enabled=False)
    page = await context.new_page()
    await page.goto(chat_url(sandbox, MEMBER))
    long_word = "x" * 300  # an unbroken line must wrap, not widen the page
    await page.fill("#sb-body", f"查询 {long_word}")
    async with page.expect_navigation():
        await page.click(".sb-send")
    assert page.url.endswith("#latest")
    assert await page.locator(".sb-mine .sb-bubble").all_inner_texts() == [f"查询 {long_word}"]
    assert await page.locator(".sb-theirs").count() == 1
    assert await horizontal_overflow(page) == 0
    await shoot(page, "sandbox-no-script")
    await context.close()
