"""Featured deeds (典型, 推优 / 撤回推优), read as dialogues, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

from bot.app import App
from bot.messages import Address, AddressKind, Attachment, Channel, Inbound
from bot.segments import count_segments
from bot.texts import texts_for
from handlers import featured
from storage.models import Category, Role
from storage.people import RosterEntry
from tests.conftest import MEMBER, MEMBER_2, SECRETARY, VILLAGER

ZH, EN = texts_for("zh-CN"), texts_for("en")
TOWNSHIP_LEADER = "+8613800000001"  # 赵明, 青山镇党委, above 东坡村 and 西岭村
OTHER_LEADER = "+8613800000002"  # 钱平, 绿水镇党委, another township
WEST_SECRETARY = "+8613800002100"  # 孙书记, 西岭村党支部
WEST_MEMBER = "+8613800002101"  # 周红, 西岭村党支部


async def add_people(app: App) -> None:
    now = app.clock.now()
    await app.repos.orgs.upsert_many(
        [
            {"code": "HX02", "name": "绿水镇党委", "kind": "township", "parent_code": "HX"},
            {"code": "HX0201", "name": "南湾村党支部", "kind": "branch", "parent_code": "HX02"},
        ],
        now,
    )
    ids = {code: (await app.repos.orgs.by_code(code)).id for code in ("HX01", "HX02", "HX0102")}
    sms = AddressKind.SMS
    await app.repos.people.import_roster(
        [
            RosterEntry(ids["HX01"], "赵明", Address(sms, TOWNSHIP_LEADER), Role.LEADER),
            RosterEntry(ids["HX02"], "钱平", Address(sms, OTHER_LEADER), Role.LEADER),
            RosterEntry(ids["HX0102"], "孙书记", Address(sms, WEST_SECRETARY), Role.SECRETARY),
            RosterEntry(ids["HX0102"], "周红", Address(sms, WEST_MEMBER), Role.MEMBER),
        ],
        now,
    )


async def last_deed(app: App, number: str) -> int:
    return await app.repos.db.fetchval(
        "SELECT MAX(d.id) FROM deeds d JOIN addresses a ON a.person_id = d.person_id "
        "WHERE a.value = :n",
        {"n": number},
    )


async def reported(phone, app: App, number: str, text: str) -> int:
    assert (await phone(number).says_one(text)).startswith("已记录")
    return await last_deed(app, number)


async def told(app: App) -> list[tuple[str, str]]:
    rows = await app.repos.db.fetch(
        "SELECT idempotency_key, address, body FROM outbox "
        "WHERE idempotency_key LIKE 'featured:%' ORDER BY id"
    )
    return [(r["address"], r["body"]) for r in rows]


async def branch_ids(app: App, *codes: str) -> list[int]:
    return [(await app.repos.orgs.by_code(code)).id for code in codes]


def listed(listing: str) -> list[int]:
    return [int(n) for n in re.findall(r"(?:：|，)(\d+)★?[^\d：，]+：", listing)]


def reply(key: str, texts=ZH, **params: object) -> str:
    return texts.get(f"featured.reply.{key}", **params)


async def test_the_secretary_lists_features_and_the_member_is_told(phone, county: App):
    deed = await reported(phone, county, MEMBER, "汇报 #服务 帮五保户修屋顶")
    other = await reported(phone, county, MEMBER_2, "组织党员学习新党章")
    secretary = phone(SECRETARY)

    listing = await secretary.says_one("推优")
    assert listing == ZH.get(
        "featured.list",
        org="东坡村党支部",
        items=f"{other}王志强：组织党员学习新党章，{deed}李秀英：帮五保户修屋顶",
    )
    assert count_segments(listing).segments <= 2

    done = await secretary.says_one(f"推优 {deed}")
    assert done == reply("featured", number=deed, name="李秀英", org="东坡村党支部")
    assert count_segments(done).segments == 1
    message = ZH.get("featured.told", date="11月26日", body="帮五保户修屋顶", org="东坡村党支部")
    assert await told(county) == [(MEMBER, message)]
    assert count_segments(message).segments == 1

    [shown] = await county.repos.featured.featured(await branch_ids(county, "HX0101"), 10, 0)
    assert (shown.deed_id, shown.name, shown.org_code, shown.org_name) == (
        deed,
        "李秀英",
        "HX0101",
        "东坡村党支部",
    )
    assert (shown.category, shown.body, shown.local_day) == (
        Category.SERVICE,
        "帮五保户修屋顶",
        date(2026, 11, 26),
    )
    assert shown.featured_at == county.clock.now()
    # A page of the township rolls its branches up; another branch's page has none of it.
    township = await county.repos.orgs.subtree_ids((await county.repos.orgs.by_code("HX01")).id)
    assert await county.repos.featured.count(township) == 1
    assert await county.repos.featured.count(await branch_ids(county, "HX0102")) == 0

    # The list marks it; featuring it again changes nothing and tells nobody again.
    assert f"{deed}★李秀英" in await secretary.says_one("推优")
    assert await secretary.says_one(f"TY {deed}") == reply("already", number=deed)
    assert len(await told(county)) == 1


async def test_a_member_may_not_feature_and_hears_which_role_may(phone, county: App):
    deed = await reported(phone, county, MEMBER, "帮五保户修屋顶")
    refused = ZH.get("permission.refused", role=ZH.get("permission.role.secretary"))
    assert await phone(MEMBER_2).says(f"推优 {deed}") == [refused]
    assert await phone(MEMBER_2).says("推优") == [refused]
    assert await phone(VILLAGER).says(f"推优 {deed}") == [refused]
    assert await county.repos.featured.history(deed) == []


async def test_outside_their_scope_a_deed_is_answered_as_one_that_does_not_exist(
    phone, county: App
):
    await add_people(county)
    deed = await reported(phone, county, MEMBER, "帮五保户修屋顶")
    missing = deed + 1000
    for outsider in (WEST_SECRETARY, OTHER_LEADER):
        assert await phone(outsider).says(f"推优 {deed}") == [reply("not_found", number=deed)]
        assert await phone(outsider).says(f"推优 {missing}") == [reply("not_found", number=missing)]
        assert await phone(outsider).says(f"撤回推优 {deed}") == [reply("not_found", number=deed)]
    # Nor does the other branch's list show it; naming this branch is refused.
    assert str(deed) not in await phone(WEST_SECRETARY).says_one("推优")
    role = ZH.get("permission.role.secretary")
    assert await phone(WEST_SECRETARY).says("推优 HX0101") == [
        ZH.get("permission.refused_in", org="东坡村党支部", role=role)
    ]
    assert await county.repos.featured.history(deed) == []


async def test_a_leader_above_lists_their_subtree_and_features(phone, county: App):
    await add_people(county)
    east = await reported(phone, county, MEMBER, "帮五保户修屋顶")
    west = await reported(phone, county, WEST_MEMBER, "调解邻里纠纷")
    leader = phone(TOWNSHIP_LEADER)
    listing = await leader.says_one("推优")
    assert listing.startswith("青山镇党委近期汇报")
    assert f"{west}周红：调解邻里纠纷" in listing and f"{east}李秀英" in listing
    # Named by code, one branch of the subtree.
    assert str(east) not in await leader.says_one("推优 HX0102")

    assert await leader.says_one(f"推优 {west}") == reply(
        "featured", number=west, name="周红", org="西岭村党支部"
    )
    assert [a for a, _ in await told(county)] == [WEST_MEMBER]
    # The other township's leader neither sees nor features it.
    assert str(west) not in await phone(OTHER_LEADER).says_one("推优")


async def test_the_member_withdraws_and_the_deed_is_not_featured_again(phone, county: App):
    deed = await reported(phone, county, MEMBER, "帮五保户修屋顶")
    secretary = phone(SECRETARY)
    await secretary.says(f"推优 {deed}")
    ids = await branch_ids(county, "HX0101")
    assert [d.deed_id for d in await county.repos.featured.featured(ids, 10, 0)] == [deed]

    # Another member cannot take it down: for them it does not exist.
    assert await phone(MEMBER_2).says(f"撤回推优 {deed}") == [reply("not_found", number=deed)]
    county.clock.advance(timedelta(hours=1))
    assert await phone(MEMBER).says("撤回推优") == [reply("withdrawn", number=deed)]
    assert await county.repos.featured.featured(ids, 10, 0) == []
    assert await county.repos.featured.count(ids) == 0
    assert await phone(MEMBER).says("CHTY") == [reply("nothing_featured")]

    # The member said no: the secretary hears so, and the list leaves it out.
    assert await secretary.says(f"推优 {deed}") == [reply("declined", number=deed)]
    assert str(deed) not in await secretary.says_one("推优")
    # The history is kept, not deleted.
    [once] = await county.repos.featured.history(deed)
    assert (once.featured_by, once.withdrawn_by, once.by_member) == ("张建国", "李秀英", True)
    assert once.withdrawn_at == once.featured_at + timedelta(hours=1)


async def test_an_organiser_takes_a_deed_down_and_may_feature_it_again(phone, county: App):
    deed = await reported(phone, county, MEMBER, "帮五保户修屋顶")
    secretary = phone(SECRETARY)
    await secretary.says(f"推优 {deed}")
    assert await secretary.says(f"撤回推优 {deed}") == [reply("unfeatured", number=deed)]
    assert await secretary.says(f"撤回推优 {deed}") == [reply("not_featured", number=deed)]
    assert await phone(MEMBER).says("撤回推优") == [reply("nothing_featured")]
    # Not the member's no: it may go up again, and the member is told again.
    county.clock.advance(timedelta(days=1))
    assert (await secretary.says_one(f"推优{deed}")).startswith("已将")
    assert len(await told(county)) == 2
    assert [f.by_member for f in await county.repos.featured.history(deed)] == [False, False]


async def test_what_may_not_go_on_a_public_page(phone, county: App):
    secretary = phone(SECRETARY)
    photo = Inbound(
        Channel.SMS,
        uuid.uuid4().hex,
        Address(AddressKind.SMS, MEMBER),
        "",
        county.clock.now(),
        attachments=(Attachment("https://api.twilio.com/m/ME1", "image/jpeg"),),
    )
    everyday = await reported(phone, county, MEMBER_2, "汇报 收到")
    with_phone = await reported(phone, county, MEMBER, "帮老人联系13800009999的儿子")
    villager = await reported(phone, county, MEMBER, "看望赵大爷，帮他修好了屋顶")
    own = await reported(phone, county, SECRETARY, "组织全村清扫")
    await county.router.handle(photo)  # last: the member's next words would caption it
    photo_deed = await last_deed(county, MEMBER)
    cases = {
        photo_deed: "no_words",
        everyday: "everyday",
        with_phone: "has_phone",
        villager: "names_villager",
        own: "own",
    }
    for deed, key in cases.items():
        assert await secretary.says(f"推优 {deed}") == [reply(key, number=deed)], key
    # The list offers what may be featured (a villager's name is found on featuring only),
    # and never one's own deeds.
    assert listed(await secretary.says_one("推优")) == [villager]
    assert await told(county) == []
    assert await county.repos.featured.count(await branch_ids(county, "HX0101")) == 0


async def test_english_words_and_the_reply_language(phone, county: App):
    deed = await reported(phone, county, MEMBER, "visited two elderly villagers")
    await county.repos.people.set_language(
        await county.repos.db.fetchval(
            "SELECT person_id FROM addresses WHERE value = :v", {"v": MEMBER}
        ),
        "en",
    )
    assert await phone(SECRETARY).says(f"FEATURE {deed}") == [
        reply("featured", EN, number=deed, name="李秀英", org="东坡村党支部")
    ]
    [(_, message)] = await told(county)  # the Chinese branch name makes it UCS-2: two SMS
    assert message == EN.get(
        "featured.told", date="11/26", body="visited two elderly villagers", org="东坡村党支部"
    )
    assert await phone(MEMBER).says(f"UNFEATURE {deed}") == [reply("withdrawn", EN, number=deed)]
    assert await phone(SECRETARY).says("FEATURE twelve") == [EN.get("featured.usage")]


async def test_a_long_deed_is_cut_to_fit_one_message(phone, county: App):
    long = "带领党员志愿者" + "清理河道垃圾，" * 12 + "群众点赞"
    deed = await reported(phone, county, MEMBER, long)
    await phone(SECRETARY).says(f"推优 {deed}")
    [(_, message)] = await told(county)
    assert count_segments(message).segments == 1
    assert "带领党员志愿者清理河道" in message and "…" in message
    [shown] = await county.repos.featured.featured(await branch_ids(county, "HX0101"), 1, 0)
    assert shown.body == long  # the page shows the whole deed


async def test_a_long_list_comes_a_page_at_a_time(phone, county: App):
    numbers = []
    for i in range(featured.MAX_LISTED + 5):
        numbers.append(await reported(phone, county, MEMBER, f"第{i}次走访困难户，送去米面油"))
    secretary = phone(SECRETARY)
    first = await secretary.says_one("推优")
    assert first.endswith(ZH.get("paging.more"))
    assert str(numbers[-1]) in first  # the newest first
    pages = [first]
    while pages[-1].endswith(ZH.get("paging.more")):
        pages.append(await secretary.says_one("更多"))
    assert all(count_segments(p).segments <= 2 for p in pages)
    newest = numbers[::-1][: featured.MAX_LISTED]
    assert [n for p in pages for n in listed(p)] == newest  # at most MAX_LISTED


async def test_words_beginning_with_the_keyword_are_still_a_members_report(phone, county: App):
    member = phone(MEMBER)
    assert (await member.says_one("推优秀青年入党积极分子2名")).startswith("已记录")
    assert (await member.says_one("推优 工作我也参加了")).startswith("已记录")
    assert await county.repos.featured.count(await branch_ids(county, "HX0101")) == 0


async def test_featured_pages_newest_first_with_limit_and_offset(phone, county: App):
    await add_people(county)
    deeds = [
        await reported(phone, county, MEMBER, "帮五保户修屋顶"),
        await reported(phone, county, MEMBER_2, "组织党员学习"),
        await reported(phone, county, WEST_MEMBER, "调解邻里纠纷"),
    ]
    for deed in deeds:
        county.clock.advance(timedelta(minutes=5))
        await phone(TOWNSHIP_LEADER).says(f"推优 {deed}")
    repo = county.repos.featured
    township = await county.repos.orgs.subtree_ids((await county.repos.orgs.by_code("HX01")).id)
    assert [d.deed_id for d in await repo.featured(township, 10, 0)] == deeds[::-1]
    assert [d.deed_id for d in await repo.featured(township, 1, 1)] == [deeds[1]]
    assert await repo.count(township) == 3
    east = await branch_ids(county, "HX0101")
    assert [d.deed_id for d in await repo.featured(east, 10, 0)] == deeds[1::-1]
    assert await repo.featured([], 10, 0) == [] and await repo.count([]) == 0
    assert [d.org_code for d in await repo.featured(township, 10, 0)] == [
        "HX0102",
        "HX0101",
        "HX0101",
    ]
