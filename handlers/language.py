"""The reply language, switched only when the person asks: 中文 / Chinese, English / 英文.

Whole-message keywords (so "英文老师来村里了" stays a report), taken before poll answers.
Each word sits in the list of the language it switches to, so the router answers the
switch in the new language. The choice is stored for the person on every address; replies
to messages with a keyword still follow the keyword (bot/router.py), broadcasts follow it.
"""

from __future__ import annotations

from bot.texts import texts_for
from handlers.base import Context, Message, Route


async def _switch(ctx: Context, language: str) -> None:
    await ctx.repos.people.choose_language(ctx.sender.address, language, ctx.now())
    ctx.say(texts_for(language).get("language.set"))


async def to_chinese(msg: Message, ctx: Context) -> None:
    await _switch(ctx, "zh-CN")


async def to_english(msg: Message, ctx: Context) -> None:
    await _switch(ctx, "en")


ROUTES = [
    Route(
        "language.zh",
        to_chinese,
        zh=(
            *("中文", "汉语", "简体中文", "中文版", "用中文", "改中文", "改成中文", "切换中文"),
            *("中文回复", "请用中文", "chinese", "in chinese", "zhongwen"),
        ),
        whole=True,
    ),
    Route(
        "language.en",
        to_english,
        en=(
            *("english", "in english", "english please", "英文", "英语", "英文版", "用英文"),
            *("改英文", "改成英文", "切换英文", "英文回复", "请用英文", "yingwen"),
        ),
        whole=True,
    ),
]
