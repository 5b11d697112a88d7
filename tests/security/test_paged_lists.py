"""12.8: lists are paged to fit two SMS segments, 更多 / MORE giving the next page.

Every page fits PAGE_SEGMENTS (so no SMS or TwiML reply grows past what Twilio accepts),
the pages together show every item once, and when the list is done 更多 means help's
page 2 again, as it always did.
"""

from __future__ import annotations

from bot.app import App
from bot.messages import Address, AddressKind
from bot.segments import count_segments
from handlers.paging import PAGE_SEGMENTS
from storage.models import Role
from storage.people import RosterEntry
from tests.conftest import SECRETARY
from tests.test_polls import comments, use_settings
from tests.test_public_notices import shortlisted
from tests.test_recommendations import LEADER

MORE_ZH = "（回复“更多”看下一页）"
MORE_EN = " (reply MORE for the next page)"


async def villagers(app: App, count: int) -> list[str]:
    branch = await app.repos.orgs.by_code("HX0101")
    assert branch is not None
    numbers = [f"+86139100{i:05d}" for i in range(count)]
    await app.repos.people.import_roster(
        [
            RosterEntry(branch.id, f"村民{i}", Address(AddressKind.SMS, n), Role.PUBLIC)
            for i, n in enumerate(numbers)
        ],
        app.clock.now(),
    )
    return numbers


async def read_all(phone, first: str, more: str = "更多", hint: str = MORE_ZH) -> list[str]:
    """Every page of a list, asking 更多 while a page says there is another."""
    [page] = await phone.says(first)
    got = [page]
    while page.endswith(hint):
        assert len(got) < 30, "the pages never end"
        [page] = await phone.says(more)
        got.append(page)
    for text in got:
        assert count_segments(text).segments <= PAGE_SEGMENTS, text
    return got


async def test_the_comment_list_is_paged_and_more_continues_it(county: App, phone):
    use_settings(county, comments_per_hour=100)
    numbers = await villagers(county, 24)
    for i, number in enumerate(numbers):
        await phone(number).says(f"评论 第{i}号意见：村口的路灯已经坏了一个多月，晚上出行很不方便")
    codes = {c["code"] for c in await comments(county)}
    assert len(codes) == 24
    secretary = phone(SECRETARY)
    pages = await read_all(secretary, "评论列表")
    assert len(pages) > 2
    shown = [code for code in codes if any(code in p for p in pages)]
    assert sorted(shown) == sorted(codes)  # every comment on some page
    # The list done, 更多 is help's page 2 again.
    assert await secretary.says("更多") == await secretary.says("帮助2")


async def test_objections_are_paged_for_the_leader(county: App, phone):
    use_settings(county, objections_per_hour=100)
    await shortlisted(phone, county)
    await phone(SECRETARY).says("公示")
    numbers = await villagers(county, 15)
    for i, number in enumerate(numbers):
        await phone(number).says(f"异议 G1 第{i}条：王志强修路的账目没有公开，群众有意见")
    pages = await read_all(phone(LEADER), "异议列表 G1")
    assert len(pages) > 2
    text = "".join(pages)
    assert all(f"第{i}条" in text for i in range(15))


async def test_a_members_reasons_are_paged_in_english_too(county: App, phone):
    numbers = await villagers(county, 12)
    for i, number in enumerate(numbers):
        await phone(number).says(f"推荐 王志强 第{i}件事：带头修通了村里的路，自己垫钱买水泥")
    pages = await read_all(phone(SECRETARY), "RECS 3", more="MORE", hint=MORE_EN)
    assert len(pages) > 1
    assert all(f"第{i}件事" in "".join(pages) for i in range(12))


async def test_more_without_a_list_is_helps_second_page(county: App, phone):
    secretary = phone(SECRETARY)
    assert await secretary.says("更多") == await secretary.says("帮助2")
