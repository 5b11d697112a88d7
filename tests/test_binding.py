"""Binding a WeChat follower to the roster: `绑定 <手机号>`, a code by SMS, the code replied.

The chat is a WeChat OpenID talking to the router as the WeChat adapter makes it talk; the
code is read from the outbox row that would be texted, as the phone's owner reads it.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from bot.app import App
from bot.messages import Address, AddressKind, Channel, Inbound
from bot.one_time_codes import CODE_TTL, MAX_TRIES
from handlers.binding import ASK_PER_NUMBER
from tests.conftest import MEMBER, STRANGER, VILLAGER, Phone
from tests.test_conversations import deeds_of
from tests.test_polls import opened_by_secretary

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
OTHER_OPENID = "oUpF8uN95UJwbkOJ0mQzYzT2gwEk"


class Follower:
    """A WeChat follower: `await follower.says("绑定 ...")` returns the replies."""

    def __init__(self, app: App, openid: str) -> None:
        self.app = app
        self.address = Address(AddressKind.WECHAT, openid)

    async def says(self, body: str) -> list[str]:
        inbound = Inbound(
            Channel.WECHAT, uuid.uuid4().hex, self.address, body, self.app.clock.now()
        )
        return [reply.body for reply in await self.app.router.handle(inbound)]

    async def says_one(self, body: str) -> str:
        replies = await self.says(body)
        assert len(replies) == 1, replies
        return replies[0]


async def texts_to(app: App, number: str) -> list[str]:
    rows = await app.repos.db.fetch(
        "SELECT body FROM outbox WHERE address_kind = 'sms' AND address = :a ORDER BY id",
        {"a": number},
    )
    return [r["body"] for r in rows]


def code_in(text: str) -> str:
    found = re.search(r"\d{6}", text)
    assert found, text
    return found.group(0)


async def test_a_follower_binds_by_a_code_texted_to_the_roster_phone(county: App):
    follower = Follower(county, OPENID)

    assert await follower.says_one("绑定 138 0000 1101") == (
        "如+86138****1101在名册中，验证码已用短信发出，请在10分钟内直接回复验证码。"
    )
    [text] = await texts_to(county, MEMBER)
    assert text.startswith("绑定验证码") and "10分钟内有效" in text
    row = await county.repos.db.fetchrow(
        "SELECT urgent, expires_at FROM outbox WHERE address = :a", {"a": MEMBER}
    )
    assert row["urgent"]  # quiet hours do not hold a code back

    # The code, typed full-width as some phones do, links the chat to 李秀英.
    code = code_in(text).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    reply = await follower.says_one(code)
    assert reply == "李秀英您好，已绑定手机号+8613800001101，短信和这里的汇报合并计算。"
    record = await county.repos.people.resolve(follower.address)
    assert record.name == "李秀英"

    # Her report from WeChat counts with her SMS reports.
    assert (await follower.says_one("汇报 帮五保户修了屋顶")).startswith("已记录")
    assert [d["body"] for d in await deeds_of(county, MEMBER)] == ["帮五保户修了屋顶"]

    # The code is used once; asking for the number it is bound to sends nothing.
    assert await follower.says_one("绑定 13800001101") == "这里已绑定手机号+86138****1101。"
    assert len(await texts_to(county, MEMBER)) == 1


async def test_a_code_works_only_in_the_chat_that_asked_and_burns(county: App):
    follower, other = Follower(county, OPENID), Follower(county, OTHER_OPENID)
    await follower.says("绑定 13800001101")
    code = code_in((await texts_to(county, MEMBER))[-1])
    wrong = f"{(int(code) + 1) % 10**6:06d}"

    await other.says("bd 13800001101")  # another chat's request: its own code
    assert (await other.says_one(code)).startswith("验证码不对或已过期")
    assert (await county.repos.people.resolve(other.address)).person_id is None

    # Wrong guesses up to the limit burn the code: even the right one no longer works.
    for _ in range(MAX_TRIES - 1):
        assert (await follower.says_one(wrong)).startswith("验证码不对")
    assert await follower.says_one(wrong) == "验证码错误次数过多，已失效。请重新发送“绑定 手机号”。"
    await follower.says(code)
    assert (await county.repos.people.resolve(follower.address)).person_id is None


async def test_an_expired_code_does_not_bind(county: App):
    follower = Follower(county, OPENID)
    await follower.says("绑定 13800001101")
    code = code_in((await texts_to(county, MEMBER))[-1])
    county.clock.advance(CODE_TTL + timedelta(seconds=1))
    assert "已绑定" not in await follower.says_one(code)
    assert (await county.repos.people.resolve(follower.address)).person_id is None


async def test_a_number_off_the_roster_gets_the_same_answer_and_no_text(county: App):
    follower = Follower(county, OPENID)
    answer = await follower.says_one(f"绑定 {STRANGER}")
    assert answer == "如+86139****5678在名册中，验证码已用短信发出，请在10分钟内直接回复验证码。"
    assert await texts_to(county, STRANGER) == []
    # Guessing binds nothing: nobody holds the number.
    assert (await follower.says_one("123456")).startswith("验证码不对")


async def test_asking_is_limited_per_number_whoever_asks(county: App):
    for i in range(ASK_PER_NUMBER):
        await Follower(county, f"{OPENID}{i}").says("绑定 13800001101")
    assert len(await texts_to(county, MEMBER)) == ASK_PER_NUMBER
    late = await Follower(county, OTHER_OPENID).says_one("绑定 13800001101")
    assert late == "请求过于频繁，请一小时后再试。"
    assert len(await texts_to(county, MEMBER)) == ASK_PER_NUMBER


async def test_usage_and_wrong_doors(county: App, phone):
    follower = Follower(county, OPENID)
    assert await follower.says_one("绑定") == (
        "请发送“绑定 手机号”，如“绑定 13800001101”，验证码会用短信发到该号码。"
    )
    assert (await follower.says_one("绑定 12345")).startswith("手机号有误")
    assert (await follower.says_one("BIND 13800001101")).startswith("If +86138****1101 is on")
    # An SMS number is the sender's own already.
    assert (
        await phone(MEMBER).says_one("绑定 13800001102") == "绑定手机号请在微信或Telegram中进行。"
    )


async def test_answers_from_wechat_and_sms_then_binding_keeps_the_later(county: App):
    """As a shared Telegram contact does (tests/security/test_link_double_vote.py): a villager
    who answered a poll both from WeChat (before binding) and by SMS counts once."""
    follower = Follower(county, OPENID)
    assert "东坡村" in (await follower.says("加入 HX0101"))[0]
    poll = await opened_by_secretary(county)
    assert (await Phone(county, VILLAGER).says("1"))[0].startswith("已记录：")
    county.clock.advance(timedelta(minutes=5))
    assert (await follower.says(f"{poll.code} 2"))[0].startswith("已记录：")
    tally = await county.repos.polls.tally(poll)
    assert (tally.total, tally.participants) == (2, 2)  # two people, as far as anyone knew

    await follower.says(f"绑定 {VILLAGER}")
    assert (await follower.says_one(code_in((await texts_to(county, VILLAGER))[-1]))).startswith(
        "赵大爷您好，已绑定"
    )
    tally = await county.repos.polls.tally(poll)
    assert (tally.total, tally.participants, tally.counts) == (1, 1, (0, 1, 0))
