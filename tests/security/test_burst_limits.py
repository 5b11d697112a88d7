"""12.7: per-sender limits hold against a burst of concurrent messages from one sender.

Forty messages arriving at once through the router (as the webhook hands them over) must
not walk past a limit that counts only finished messages: each use takes its slot
atomically before the work is done, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from bot.app import App
from tests.conftest import SECRETARY, VILLAGER, Phone
from tests.test_public_notices import RECEIVED, sent_to, shortlisted

BURST = 40


def use_limits(app: App, **limits: int) -> None:
    app.router.settings = replace(app.router.settings, **limits)


async def burst(phone: Phone, bodies: list[str]) -> list[str]:
    replies = await asyncio.gather(*(phone.says(body) for body in bodies))
    return [r for rs in replies for r in rs]


async def test_forty_concurrent_comments_keep_only_the_limit(county: App, phone):
    replies = await burst(phone(VILLAGER), [f"评论 路灯第{i}次坏了，请修" for i in range(BURST)])
    assert replies.count("评论已收到，谢谢！") == 5
    assert replies.count("您一小时内评论已满5条，这条评论未保存，请稍后再发。") == BURST - 5
    # Kept sealed until enough people have written (docs/privacy.md), or published.
    stored = await county.repos.db.fetchval(
        "SELECT (SELECT COUNT(*) FROM comments) + (SELECT COUNT(*) FROM pending_comments)"
    )
    assert stored == 5


async def test_a_burst_of_objections_reaches_the_secretary_only_up_to_the_limit(county: App, phone):
    await shortlisted(phone, county)
    await phone(SECRETARY).says("公示")
    use_limits(county, objections_per_hour=3)
    replies = await burst(phone(VILLAGER), [f"异议 G1 第{i}条意见" for i in range(20)])
    assert replies.count(RECEIVED) == 3
    over = "您一小时内已提出3条异议，这条未提交，请稍后再发。"
    assert replies.count(over) == 17
    assert len(await sent_to(county, SECRETARY)) == 3  # not 20 forwarded SMS
    # The next hour's objections are heard again.
    county.clock.advance(timedelta(hours=1))
    assert await phone(VILLAGER).says("异议 G1 又一条") == [RECEIVED]


async def test_recommendations_are_limited_per_sender(county: App, phone):
    use_limits(county, recommendations_per_hour=2)
    replies = await burst(phone(VILLAGER), [f"推荐 王志强 第{i}件好事" for i in range(BURST)])
    over = "您一小时内已推荐2次，这次未记录，请稍后再发。"
    assert replies.count(over) == BURST - 2


async def test_a_secretarys_notices_and_briefings_are_limited_per_day(county: App, phone):
    use_limits(county, notices_per_day=2, briefings_per_day=1)
    notices = await burst(phone(SECRETARY), [f"通知 明天{i}点开会" for i in range(12)])
    assert notices.count("今天已发2条通知，这条未发送，请明天再发。") == 10
    briefs = await burst(phone(SECRETARY), [f"通报 第{i}期工作进展" for i in range(6)])
    assert briefs.count("今天已发1条通报，这条未发送，请明天再发。") == 5
    broadcasts = await county.repos.db.fetchval("SELECT COUNT(*) FROM broadcasts")
    assert broadcasts == 3
