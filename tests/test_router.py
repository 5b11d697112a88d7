"""How the router picks one handler for one message."""

from __future__ import annotations

import pytest

from bot.messages import Address, AddressKind
from bot.normalize import normalize
from handlers.base import Sender
from storage.models import Grant, Role, SenderRecord


def sender(*roles: Role) -> Sender:
    grants = tuple(Grant(r, 1, "HX0101", "东坡村党支部", "branch", None) for r in roles)
    return Sender(
        Address(AddressKind.SMS, "+8613800001101"),
        SenderRecord(1 if roles else None, 1 if roles else None, None, None, None, grants),
    )


@pytest.fixture
def router(app):
    return app.router


@pytest.mark.parametrize(
    ("text", "roles", "route", "language", "args"),
    [
        ("TD", (Role.MEMBER,), "optout.stop", "zh-CN", ""),
        ("stop", (), "optout.stop", "en", ""),
        ("退订！", (), "optout.stop", "zh-CN", ""),
        ("订阅", (), "optout.start", "zh-CN", ""),
        ("帮助", (Role.MEMBER,), "help", "zh-CN", ""),
        ("?", (), "help", None, ""),
        ("帮助五保户修缮房屋", (Role.MEMBER,), "deed.free_text", None, "帮助五保户修缮房屋"),
        ("帮助五保户修缮房屋", (Role.PUBLIC,), "help.default", None, "帮助五保户修缮房屋"),
        ("汇报今天修路", (Role.MEMBER,), "deed", "zh-CN", "今天修路"),
        ("HB：今天修路", (Role.MEMBER,), "deed", "zh-CN", "今天修路"),
        ("hbo is on tv", (Role.MEMBER,), "deed.free_text", None, "hbo is on tv"),
        ("Report: fixed it", (), "deed", "en", "fixed it"),
        ("加入 HX0101", (), "join", "zh-CN", "HX0101"),
        ("加入HX0101", (), "join", "zh-CN", "HX0101"),
        ("加入了志愿队", (Role.MEMBER,), "deed.free_text", None, "加入了志愿队"),
        ("JR hx0101", (), "join", "zh-CN", "hx0101"),
        ("joined the patrol", (Role.MEMBER,), "deed.free_text", None, "joined the patrol"),
        ("查询", (Role.MEMBER,), "record", "zh-CN", ""),
        ("me", (Role.MEMBER,), "record", "en", ""),
        ("me too", (Role.MEMBER,), "deed.free_text", None, "me too"),
        ("/unknown", (Role.MEMBER,), "help.default", None, "/unknown"),
        ("", (Role.MEMBER,), "help.default", None, ""),
        ("帮助？", (Role.MEMBER,), "help", "zh-CN", ""),
        ("查询?", (Role.MEMBER,), "record", "zh-CN", ""),
        ("怎么用？", (Role.MEMBER,), "help.default", None, "怎么用？"),  # a question
        ("help me", (Role.MEMBER,), "deed.free_text", None, "help me"),
        ("退订，谢谢", (Role.MEMBER,), "optout.stop", "zh-CN", ""),
        ("请退订", (Role.MEMBER,), "optout.stop", "zh-CN", ""),
        ("我要退订短信。", (Role.PUBLIC,), "optout.stop", "zh-CN", ""),
        (
            "退订了报纸，省下钱捐给了困难户",
            (Role.MEMBER,),
            "deed.free_text",
            None,
            "退订了报纸，省下钱捐给了困难户",
        ),
        ("通知了全体党员", (Role.SECRETARY,), "deed.free_text", None, "通知了全体党员"),
        ("通知 周五开会", (Role.SECRETARY,), "notice", "zh-CN", "周五开会"),
        ("不要再给我发短信了", (Role.MEMBER,), "optout.stop", "zh-CN", ""),
        ("stop sending me messages", (), "optout.stop", "en", ""),
        (
            "今天给村民发短信通知开会",
            (Role.MEMBER,),
            "deed.free_text",
            None,
            "今天给村民发短信通知开会",
        ),
        ("hb的格式是什么", (Role.MEMBER,), "help.default", None, "hb的格式是什么"),  # not a report
        ("汇报怎么写", (Role.MEMBER,), "help.default", None, "汇报怎么写"),
        ("明天开会吗", (Role.MEMBER,), "help.default", None, "明天开会吗"),  # a question
        ("请问明天几点开会", (Role.MEMBER,), "help.default", None, "请问明天几点开会"),
        (
            "#服务 帮老人挑水了吗？",
            (Role.MEMBER,),
            "deed.free_text",
            None,
            "#服务 帮老人挑水了吗？",
        ),
    ],
)
def test_pick(router, text, roles, route, language, args):
    normalized = normalize(text)
    pick = router.pick(normalized, sender(*roles))
    assert (pick.route.name, pick.language, normalized.original_from(pick.args_at)) == (
        route,
        language,
        args,
    )


def test_a_members_photo_without_words_is_a_report(router):
    pick = router.pick(normalize(""), sender(Role.MEMBER), attachments=True)
    assert pick.route.name == "deed.free_text"
    assert router.pick(normalize(""), sender(Role.PUBLIC), attachments=True).route.name == (
        "help.default"  # a villager's photo: a message to the branch, from there
    )
