"""12.9: no membership by enumeration, no existence told by a refusal.

推荐 <number> means a number the bot listed to that very sender, never a roster position:
walking 推荐 1, 推荐 2, ... learns nothing. And a code (a hidden comment's, a notice's)
outside one's reach is refused the same way as a code that does not exist.
"""

from __future__ import annotations

from bot.app import App
from storage.models import Role
from tests.conftest import MEMBER, SECRETARY, STRANGER, VILLAGER
from tests.test_polls import NEEDS_SECRETARY, add_person, comments, use_settings
from tests.test_public_notices import shortlisted
from tests.test_recommendations import UNLISTED, WEST_SECRETARY, add_people, stored


async def test_walking_the_roster_by_number_learns_nothing(phone, county: App):
    await add_people(county)
    answers = {n: await phone(VILLAGER).says(f"推荐 {n} 带头修路") for n in range(1, 8)}
    assert all(a == [UNLISTED] for a in answers.values()), answers
    assert await stored(county) == []


async def test_a_number_means_the_list_the_bot_sent_that_sender(phone, county: App):
    villager = phone(VILLAGER)
    [asked] = await villager.says("推荐 王志刚 帮邻居修屋顶")
    assert asked.startswith("没有找到“王志刚”。您是指：1. 王志强")
    await villager.says("天气预报")  # the question lapses; the list it showed is remembered
    assert await villager.says("推荐 1 帮邻居修屋顶") == ["已收到您对王志强的推荐，谢谢参与！"]
    # Another sender was listed nothing: their 1 is nobody.
    assert await phone(MEMBER).says("推荐 1 帮邻居修屋顶") == [UNLISTED]
    # The secretary's 推荐列表 lists roster numbers to the secretary; those count for them.
    [listing] = await phone(SECRETARY).says("推荐列表")
    assert "3号王志强" in listing
    assert await phone(SECRETARY).says("推荐 3 修路带头") == ["已收到您对王志强的推荐，谢谢参与！"]
    assert await phone(SECRETARY).says("推荐 2 调解纠纷") == [UNLISTED]  # 2 was not listed
    assert [r[1:3] for r in await stored(county)] == [("王志强", "赵大爷"), ("王志强", "张建国")]


async def test_a_hidden_comments_code_is_refused_like_a_missing_one(phone, county: App):
    use_settings(county, hold_words=("骗子",))
    await phone(VILLAGER).says("评论 会计是骗子")
    [held] = await comments(county)
    real, missing = held["code"], "ZZZZ"
    for number in (VILLAGER, MEMBER, STRANGER):
        for verb in ("公开", "隐藏"):
            assert await phone(number).says(f"{verb} {real}") == [NEEDS_SECRETARY]
            assert await phone(number).says(f"{verb} {missing}") == [NEEDS_SECRETARY]
    await add_person(county, "HX0102", "孙书记", WEST_SECRETARY, Role.SECRETARY)
    west = phone(WEST_SECRETARY)
    assert (await west.says(f"隐藏 {real}"))[0].replace(real, "?") == (
        await west.says(f"隐藏 {missing}")
    )[0].replace(missing, "?")
    assert [c["status"] for c in await comments(county)] == ["held"]


async def test_a_notices_code_is_refused_like_a_missing_one(phone, county: App):
    await shortlisted(phone, county)
    await phone(SECRETARY).says("公示")
    for number, command in (
        (STRANGER, "异议 G{} 不同意"),
        (WEST_SECRETARY, "异议 G{} 不同意"),
        (WEST_SECRETARY, "异议列表 G{}"),
        (WEST_SECRETARY, "公示结果 G{} 表彰"),
        (MEMBER, "公示结果 G{} 表彰"),
    ):
        real = await phone(number).says(command.format(1))
        missing = await phone(number).says(command.format(9))
        assert [r.replace("G1", "G?") for r in real] == [r.replace("G9", "G?") for r in missing], (
            number,
            command,
        )
