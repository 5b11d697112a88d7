"""The console's branch page: what a secretary sees of their branch, and its buttons as doors
onto the same functions as the SMS commands (on SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import httpx

from bot.web.console.flash import COOKIE as FLASH
from scheduler.jobs import JobContext
from scheduler.sweeps import run_sweeps
from storage import audit
from tests.web.browser import PHONE, ZH_PHONE, horizontal_overflow
from tests.web.conftest import Site
from tests.web.populate import (
    LEADER_HX,
    LEADER_HX01,
    MEMBERS_HX0101,
    SECRETARY_HX0101,
    VILLAGERS_HX0101,
    says,
)

PAGE = "/console/o/HX0101/branch"
SECRETARY_HX0102 = "+8613800002100"
VILLAGERS_HX0102 = [f"+86139000021{n:02d}" for n in range(1, 11)]


def text_of(html: str) -> str:
    """The page as a reader sees it: tags dropped, entities read."""
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


async def comment_codes(site: Site, org_code: str) -> dict[str, str]:
    """The comments left for an organisation, body -> code, as its secretary lists them."""
    org = await site.app.repos.orgs.by_code(org_code)
    assert org is not None
    found = await site.app.repos.comments.for_orgs([org.id], limit=50, include_hidden=True)
    return {c.body: c.code for c in found}


async def sweep(site: Site) -> None:
    app = site.app
    await run_sweeps(
        JobContext(app.repos, app.config.zone, app.config.bot.language, lambda: None),
        site.clock.now(),
    )


async def test_a_secretary_sees_their_branch_and_another_branch_is_not_found(
    demo_site: Site,
) -> None:
    secretary = await demo_site.signed_in(SECRETARY_HX0101)
    page = await secretary.get(PAGE)
    assert page.status_code == 200
    seen = text_of(page.text)
    assert "东坡村党支部" in seen
    # Members with their counts; the branch's deeds; the closed poll's results.
    assert re.search(r"李秀英 \d+ \d+ \d+", seen)
    assert "组织合作社卖出土豆两吨" in seen
    assert '<svg class="chart bars"' in page.text
    assert page.headers["cache-control"] == "no-store"
    # Another branch answers exactly as an organisation that does not exist.
    other = await secretary.get("/console/o/HX0102/branch")
    unknown = await secretary.get("/console/o/NOSUCH/branch")
    assert other.status_code == unknown.status_code == 404
    assert other.text == unknown.text.replace("NOSUCH", "HX0102")  # (its language link)
    # A leader opens every branch below them, in either township only their own.
    leader = await demo_site.signed_in(LEADER_HX01)
    assert (await leader.get("/console/o/hx0102/branch")).status_code == 200
    assert (await leader.get("/console/o/HX0201/branch")).status_code == 404
    # Nobody signed in is sent to sign in.
    anonymous = await demo_site.get(PAGE, follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/console/sign-in?next=")


async def test_a_members_figures_are_those_the_sms_reply_to_a_report_gives(
    demo_site: Site,
) -> None:
    app = demo_site.app
    for days_ago in (2, 1):  # a streak across days: yesterday and the day before
        demo_site.clock.set(demo_site.clock.now() - timedelta(days=days_ago))
        await says(app, MEMBERS_HX0101[3], f"汇报 #学习 读了一章党史（{days_ago}）")
        demo_site.clock.set(demo_site.clock.now() + timedelta(days=days_ago))
    [reply] = await says(app, MEMBERS_HX0101[3], "汇报 #服务 帮邻居收玉米")  # 陈国平
    figures = re.search(r"本周第(\d+)条，连续(\d+)天", reply)
    assert figures, reply
    week, streak = figures.groups()
    total = await app.repos.db.fetchval(
        "SELECT COUNT(*) FROM deeds d JOIN addresses a ON a.person_id = d.person_id "
        "WHERE a.value = :phone",
        {"phone": MEMBERS_HX0101[3]},
    )
    secretary = await demo_site.signed_in(SECRETARY_HX0101)
    seen = text_of((await secretary.get(PAGE)).text)
    assert f"陈国平 {week} {total} {streak}" in seen
    assert int(streak) == 3


async def test_the_deeds_come_a_page_at_a_time(demo_site: Site) -> None:
    secretary = await demo_site.signed_in(SECRETARY_HX0101)
    first = text_of((await secretary.get(PAGE)).text)
    numbers = re.findall(r"第(\d+)号", first)
    assert len(numbers) == 10
    second = text_of((await secretary.get(PAGE + "?deeds=2")).text)
    later = re.findall(r"第(\d+)号", second)
    assert later and not set(later) & set(numbers)
    assert max(map(int, later)) < min(map(int, numbers))  # newest first
    beyond = text_of((await secretary.get(PAGE + "?deeds=999")).text)  # the last page
    assert "第4/4页" in beyond and re.findall(r"第(\d+)号", beyond)


async def latest_deed(site: Site, phone: str) -> tuple[int, str]:
    row = await site.app.repos.db.fetchrow(
        "SELECT d.id, d.body FROM deeds d JOIN addresses a ON a.person_id = d.person_id "
        "WHERE a.value = :phone ORDER BY d.id DESC LIMIT 1",
        {"phone": phone},
    )
    assert row is not None
    return row["id"], row["body"]


async def told(site: Site) -> dict[str, str]:
    rows = await site.app.repos.db.fetch(
        "SELECT address, body FROM outbox WHERE idempotency_key LIKE 'featured:%'"
    )
    return {r["address"]: r["body"] for r in rows}


async def test_a_deed_featured_from_the_console_is_featured_and_its_member_told(
    demo_site: Site,
) -> None:
    app = demo_site.app
    by_console, body = await latest_deed(demo_site, MEMBERS_HX0101[0])  # 李秀英
    by_sms, _ = await latest_deed(demo_site, MEMBERS_HX0101[1])  # 王志强
    [sms_reply] = await says(app, SECRETARY_HX0101, f"推优 {by_sms}")

    secretary = await demo_site.signed_in(SECRETARY_HX0101)
    page = await secretary.get(PAGE)
    assert f'name="deed" value="{by_console}"' in page.text
    posted = await secretary.post(
        PAGE + "/deed", data={"csrf": csrf_of(page.text), "deed": by_console, "do": "feature"}
    )
    assert posted.status_code == 303
    assert posted.headers["location"] == PAGE + f"#deed-{by_console}"
    back = text_of((await secretary.get(posted.headers["location"])).text)
    # The note is the SMS reply of the same function; the member is told as by SMS.
    done = "已将{n}号汇报（{name}）推为典型，在东坡村党支部公开页面展示，已告知本人。"
    assert done.format(n=by_console, name="李秀英") in back
    assert sms_reply == done.format(n=by_sms, name="王志强")
    messages = await told(demo_site)
    assert set(messages) == {MEMBERS_HX0101[0], MEMBERS_HX0101[1]}
    assert body.split("（")[0] in messages[MEMBERS_HX0101[0]]
    assert "已被推为典型" in messages[MEMBERS_HX0101[0]]
    org = await app.repos.orgs.by_code("HX0101")
    assert org is not None
    shown = await app.repos.featured.featured([org.id])
    assert {d.deed_id for d in shown} == {by_console, by_sms}
    assert "★ 典型" in back

    # Taken down from the console as 撤回推优 would: off the public pages.
    page = await secretary.get(PAGE)
    await secretary.post(
        PAGE + "/deed", data={"csrf": csrf_of(page.text), "deed": by_console, "do": "withdraw"}
    )
    assert {d.deed_id for d in await app.repos.featured.featured([org.id])} == {by_sms}
    logged = [(e.action, e.detail) for e in await audit.newest(app.repos.db)]
    assert logged == [
        ("deed.withdraw", f"{by_console} unfeatured"),
        ("deed.feature", f"{by_console} featured"),
    ]


async def test_hiding_a_comment_from_the_console_is_hiding_it_by_sms(demo_site: Site) -> None:
    app = demo_site.app
    await says(app, VILLAGERS_HX0101[0], "评论 路灯修好了，晚上亮堂")
    await says(app, VILLAGERS_HX0101[1], "评论 村口的水渠还没修")
    codes = await comment_codes(demo_site, "HX0101")
    by_sms, by_console = codes["路灯修好了，晚上亮堂"], codes["村口的水渠还没修"]

    sms_reply = await says(app, SECRETARY_HX0101, f"隐藏 {by_sms}")
    secretary = await demo_site.signed_in(SECRETARY_HX0101)
    token = csrf_of((await secretary.get(PAGE)).text)
    posted = await secretary.post(
        PAGE + "/comment",
        data={"csrf": token, "comment": by_console, "status": "hidden", "deeds": "2"},
    )
    assert posted.status_code == 303
    assert posted.headers["location"] == PAGE + f"?deeds=2#comment-{by_console}"
    # The same state, whichever door: hidden, and gone from what the public is shown.
    hidden = [await app.repos.comments.get(code) for code in (by_sms, by_console)]
    assert [c.status for c in hidden if c] == ["hidden", "hidden"]
    org = await app.repos.orgs.by_code("HX0101")
    assert org is not None
    public = await app.repos.comments.for_orgs([org.id], limit=50)
    assert not {c.code for c in public} & {by_sms, by_console}
    # The note after the redirect says it as the SMS reply does, once.
    back = await secretary.get(posted.headers["location"])
    assert f"评论{by_console}已隐藏。" in text_of(back.text)
    assert sms_reply == [f"评论{by_sms}已隐藏。"]
    # Written to the audit log: who, what, on which organisation, which comment.
    [entry] = await audit.newest(app.repos.db)
    assert (entry.person_name, entry.action, entry.org_code, entry.detail) == (
        "张建国",
        "comment.hide",
        "HX0101",
        f"{by_console} done",
    )
    assert FLASH in back.headers.get("set-cookie", "")  # cleared: shown once
    secretary.cookies.delete(FLASH, path="/console")
    again = await secretary.get(PAGE)
    assert "已隐藏。" not in text_of(again.text)
    # And published again from the console, as 公开 would.
    await secretary.post(
        PAGE + "/comment", data={"csrf": token, "comment": by_console, "status": "published"}
    )
    published = await app.repos.comments.get(by_console)
    assert published is not None and published.status == "published"


async def test_a_comment_of_another_branch_is_out_of_reach_whatever_the_url(
    demo_site: Site,
) -> None:
    app = demo_site.app
    await says(app, VILLAGERS_HX0101[0], "评论 支部书记办事公道")
    [code] = (await comment_codes(demo_site, "HX0101")).values()
    other = await demo_site.signed_in(SECRETARY_HX0102)
    token = csrf_of((await other.get("/console/o/HX0102/branch")).text)
    posted = await other.post(
        "/console/o/HX0102/branch/comment",
        data={"csrf": token, "comment": code, "status": "hidden"},
    )
    back = await other.get(posted.headers["location"])
    assert f"没有评论{code}。" in text_of(back.text)  # as if there were none
    found = await app.repos.comments.get(code)
    assert found is not None and found.status == "published"
    # The other branch's URL is not found, for a POST as for the page.
    refused = await other.post(
        PAGE + "/comment", data={"csrf": token, "comment": code, "status": "hidden"}
    )
    assert refused.status_code == 404
    # Whatever a form holds, the answer is a note, never a server error.
    for deed in ("", "x", "99999999999999999999", "-1"):
        odd = await other.post(
            "/console/o/HX0102/branch/deed", data={"csrf": token, "deed": deed, "do": "feature"}
        )
        assert odd.status_code == 303
    odd = await other.post(
        "/console/o/HX0102/branch/comment",
        data={"csrf": token, "comment": "<b>#x\n", "status": "hidden"},
    )
    assert odd.status_code == 303 and odd.headers["location"].endswith("#comments")


async def test_a_form_without_its_csrf_token_is_refused(demo_site: Site) -> None:
    app = demo_site.app
    await says(app, VILLAGERS_HX0101[0], "评论 希望多开几次村民大会")
    [code] = (await comment_codes(demo_site, "HX0101")).values()
    secretary = await demo_site.signed_in(SECRETARY_HX0101)
    form = {"comment": code, "status": "hidden"}
    assert (await secretary.post(PAGE + "/comment", data=form)).status_code == 403
    stale = {**form, "csrf": "not-the-session-token"}
    assert (await secretary.post(PAGE + "/comment", data=stale)).status_code == 403
    found = await app.repos.comments.get(code)
    assert found is not None and found.status == "published"


async def test_a_secretary_never_sees_who_objected_a_leader_above_does(demo_site: Site) -> None:
    app = demo_site.app
    await says(app, VILLAGERS_HX0101[0], "推荐 王志强 带头修路")
    await says(app, MEMBERS_HX0101[0], "推荐 王志强 帮五保户挑水")
    await says(app, SECRETARY_HX0101, "入围 3")
    await says(app, SECRETARY_HX0101, "公示")
    await says(app, VILLAGERS_HX0101[2], "异议 G1 修路的账目没有公开")  # 孙桂芳
    objection = "修路的账目没有公开"

    secretary = text_of((await (await demo_site.signed_in(SECRETARY_HX0101)).get(PAGE)).text)
    assert "公示G1" in secretary and "王志强" in secretary
    assert objection in secretary
    assert "孙桂芳" not in secretary and "13900001103" not in secretary
    assert "提出人只对上级党委可见" in secretary

    for leader in (LEADER_HX01, LEADER_HX):  # the township, and the county above it
        seen = text_of((await (await demo_site.signed_in(leader)).get(PAGE)).text)
        assert objection in seen
        assert "提出人：孙桂芳 +8613900001103" in seen


async def test_no_voter_choice_anywhere_on_the_page(demo_site: Site) -> None:
    """An open poll shows its turnout and nothing else; a closed one with fewer than
    MIN_BREAKDOWN answers shows how many answered, never how."""
    app = demo_site.app
    await says(app, SECRETARY_HX0102, "评议 水渠修得好吗/好/不好")
    await says(app, SECRETARY_HX0102, "确认")
    await sweep(demo_site)
    for phone, answer in zip(VILLAGERS_HX0102[:3], ["1", "2", "1"], strict=True):
        await says(app, phone, answer)
    secretary = await demo_site.signed_in(SECRETARY_HX0102)
    page = await secretary.get("/console/o/HX0102/branch")
    seen = text_of(page.text)
    assert "水渠修得好吗" in seen and "参与3/" in seen
    assert "<svg" not in page.text
    assert "不好" not in seen  # not even the options: nothing to hang a count on

    demo_site.clock.advance(timedelta(days=8))
    await sweep(demo_site)
    secretary = await demo_site.signed_in(SECRETARY_HX0102)  # the first session has ended
    closed = await secretary.get("/console/o/HX0102/branch")
    seen = text_of(closed.text)
    assert "已截止" in seen and "作答3人，不足10人不公布分项" in seen
    assert "<svg" not in closed.text and "不好" not in seen


async def test_villagers_messages_are_listed_masked_and_marked_read(demo_site: Site) -> None:
    app = demo_site.app
    await says(app, VILLAGERS_HX0101[4], "村东头的路灯又坏了，麻烦看看")  # 王秀兰
    secretary = await demo_site.signed_in(SECRETARY_HX0101)
    page = await secretary.get(PAGE)
    seen = text_of(page.text)
    assert "王秀兰 +86139****1105" in seen and "13900001105" not in seen
    message = re.search(r'name="message" value="(\d+)"', page.text)
    assert message
    posted = await secretary.post(
        PAGE + "/message", data={"csrf": csrf_of(page.text), "message": message.group(1)}
    )
    assert "已标为已读" in text_of((await secretary.get(posted.headers["location"])).text)
    org = await app.repos.orgs.by_code("HX0101")
    assert org is not None
    assert await app.repos.public_messages.count_new([org.id]) == 0


async def test_hiding_a_comment_by_its_button_on_a_phone(  # type: ignore[no-untyped-def]
    demo_site: Site, browser, shoot
) -> None:
    app = demo_site.app
    await says(app, VILLAGERS_HX0101[0], "评论 路灯修好了，晚上亮堂")
    await says(app, VILLAGERS_HX0101[1], "评论 村干部收礼，请查一查")
    await says(app, VILLAGERS_HX0101[3], "有事想跟书记说，低保评得不公平")
    codes = await comment_codes(demo_site, "HX0101")
    target = codes["村干部收礼，请查一查"]
    client: httpx.AsyncClient = await demo_site.signed_in(SECRETARY_HX0101)
    context = await browser.new_context(**ZH_PHONE)
    host = httpx.URL(demo_site.url).host
    for name, value in client.cookies.items():
        await context.add_cookies([{"name": name, "value": value, "domain": host, "path": "/"}])
    page = await context.new_page()
    await page.goto(demo_site.url + PAGE)
    assert await horizontal_overflow(page) == 0
    await shoot(page, "console-branch")
    await page.get_by_role("button", name=f"隐藏 {target}").click()
    await page.wait_for_url(f"**{PAGE}#comment-{target}")
    # The note is in the comment's card, where the page has scrolled: in sight.
    note = page.locator(f"#comment-{target} [role=status]")
    assert f"评论{target}已隐藏。" in await note.inner_text()
    box = await note.bounding_box()
    assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= PHONE["height"]
    assert await horizontal_overflow(page) == 0
    await shoot(page, "console-branch-hidden")
    found = await app.repos.comments.get(target)
    assert found is not None and found.status == "hidden"
    await context.close()


async def test_the_page_in_english_and_its_forms_keep_the_language(demo_site: Site) -> None:
    app = demo_site.app
    await says(app, VILLAGERS_HX0101[0], "评论 路灯修好了")
    [code] = (await comment_codes(demo_site, "HX0101")).values()
    secretary = await demo_site.signed_in(SECRETARY_HX0101)
    page = await secretary.get(PAGE + "?lang=en")
    seen = text_of(page.text)
    assert "Members' reports" in seen and "Villagers' messages" in seen
    assert f'action="{PAGE}/comment?lang=en"' in page.text
    posted = await secretary.post(
        PAGE + "/comment?lang=en",
        data={"csrf": csrf_of(page.text), "comment": code, "status": "hidden"},
    )
    assert posted.headers["location"] == PAGE + f"?lang=en#comment-{code}"
    back = text_of((await secretary.get(posted.headers["location"])).text)
    assert f"Comment {code} hidden." in back
