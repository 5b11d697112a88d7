"""Every catalog entry, rendered with realistic worst-case values, fits its SMS budget.

A reply to something a person did (an acknowledgement, a refusal, a usage hint) and each help
page fit ONE segment: 70 characters of Chinese (UCS-2), 160 of plain English (GSM-7). What
carries a list, a poll's question with its options, results or the sender's own text may take
two. The budget is data (`BUDGETS`, by key prefix, longest prefix wins); a key nobody
classified is a reply and gets one segment, so a key added later is measured too.
"""

from __future__ import annotations

import string
from collections.abc import Callable

import pytest

from bot.channels.base import plain_text
from bot.messages import Address, AddressKind, Choice, Outbound
from bot.polls import MIN_BREAKDOWN, default_options, series_results_text
from bot.reach import CHATS, chats_text
from bot.segments import count_segments
from bot.texts import LANGUAGES, Texts, catalog, texts_for
from handlers.help import HELP_KEYS, MORE_KEYS
from storage.polls import Tally

ONE, TWO = 1, 2

# Key prefix → most segments; anything not listed is a reply to an action: ONE.
BUDGETS: dict[str, int] = {
    # Lists: as many items as the handler fits (it cuts with "等"); the frame must leave room.
    "commitment.list": TWO,
    "commitment.published": TWO,
    "comment.listing": TWO,
    "recommend.list.summary": TWO,
    "recommend.list.reasons": TWO,
    "recommend.pick": TWO,  # up to three people of one name, each with branch and number
    "recommend.did_you_mean": TWO,
    "public_notice.objection.list": TWO,
    "reminder.weekly": TWO,  # names the members who have not reported
    # Broadcasts that carry what someone wrote: the sender's text is theirs to keep short.
    "broadcast.signed": TWO,
    "commentary.signed": TWO,
    "briefing.signed": TWO,
    "public_notice.objection.to_": TWO,
    "public_notice.body": TWO,  # the names on notice and how to object
    "public_notice.outcome.body": TWO,
    "public_notice.outcome.reminder": TWO,
    # A commitment quoted back with its due date and the two ways to answer.
    "commitment.reminder": TWO,
    "commitment.prompt": TWO,
    # A poll: its invitation with the options under it, a preview of it, its results.
    "poll.ask": TWO,
    "poll.preview": TWO,
    "poll.series_preview": TWO,
    "poll.results": TWO,
    "poll.results_message": TWO,
    "poll.five_goods.result": TWO,
    # Digests: several parts in one message, once a week.
    "digest.": TWO,
    "commitment.digest": TWO,
    "commentary.digest": TWO,
    "featured.list": TWO,  # a page of the 推优 listing: numbered deeds, as 评论列表
}

# What the operator reads in a terminal (the CLI, serve's start-up), never sent by SMS.
TERMINAL = ("cli.", "channels.", "web.", "console.")

# Worst-case values that are real: a four-character name, a nine-character branch, three
# digits where a count goes. English gets pinyin, so it stays in GSM-7 as a reader's would.
ZH: dict[str, object] = {
    "name": "欧阳建国",
    "names": "欧阳建国、李秀英、王志强",
    "org": "青山镇东坡村党支部",
    "branch": "青山镇东坡村党支部",
    "code": "HX0101",
    "codes": "C12、C13、C14",
    "first": "C12",
    "example": "P12 1",
    "query": "欧阳建国",
    "who": "欧阳建国",
    "phone": "+8613800001100",
    "theme": "平安和谐社区",
    "role": "支部书记或上级党委负责人",
    "category": "服务群众",
    "label": "学习",
    "question": "您对村里今年新修的水泥路满意吗？",
    "option": "基本满意",
    "options": "满意/基本满意/不满意",
    "audience": "群众和党员",
    "body": "本月帮扶两户困难户修缮房屋",
    "text": "周五晚七点在村委会开党员大会，请准时参加",
    "reason": "群众反映有违规建房",
    "reasons": "带头修路；热心帮扶困难户",
    "date": "12月31日",
    "last_day": "12月31日",
    "closes": "12-31 18:00",
    "closed": "12-31 18:00",
    "when": "周五18:00",
    "time": "18:00",
    "weekday": "周五",
    "day": "31",
    "month": "12",
    "year": "2026",
    "outcome": "予以表彰",
    "mark": "[待审]",
    "notes": "12月31日前，进展12次",
    "suggestions": "HX0101 东坡村党支部，HX0102 西岭村党支部",
    "summary": "满意12票（50%）；基本满意8票（33%）；不满意4票（17%）",
    "turnout": "参与128/300人（43%）",
    "publication": "将于周五18:00向群众公示。",
    "due": "（12月31日到期）",
    "items": "C12欧阳建国：本月帮扶两户困难户（12月31日前）",
    "top": "最活跃：欧阳建国、李秀英。",
    "segments": 3,
    "id": 10234,
    "n": 12,
    "number": 12,
    "days": 7,
    "max": 9,
    "minimum": 5,
    "limit": 5,
    "share": 100,
    "rate": 100,
}
EN: dict[str, object] = {
    **ZH,
    "name": "Ouyang Jianguo",
    "names": "Ouyang Jianguo, Li Xiuying, Wang Zhiqiang",
    "org": "Dongpo Village Party Branch",
    "branch": "Dongpo Village Party Branch",
    "codes": "C12, C13, C14",
    "query": "Ouyang Jianguo",
    "who": "Ouyang Jianguo",
    "theme": "peace and harmony",
    "role": "branch secretary, or a leader above the branch",
    "category": "serving the public",
    "label": "study",
    "question": "Are you satisfied with the new road built this year?",
    "option": "Fairly satisfied",
    "options": "Satisfied/Fairly satisfied/Dissatisfied",
    "audience": "villagers and members",
    "body": "help two families in need repair their houses",
    "text": "Party meeting at the village office on Friday at 7 pm",
    "reason": "houses built against the rules",
    "reasons": "led the road repair; helps families in need",
    "date": "Dec 31",
    "last_day": "12/31",
    "when": "Fri 18:00",
    "weekday": "Fri",
    "outcome": "commended",
    "mark": " [held]",
    "notes": "by Dec 31, progress reports: 12",
    "suggestions": "HX0101 Dongpo Village, HX0102 Xiling Village",
    "summary": "Satisfied 12 (50%); Fairly satisfied 8 (33%); Dissatisfied 4 (17%)",
    "turnout": "128/300 took part (43%)",
    "publication": "It goes to the public on Fri 18:00.",
    "due": " (due Dec 31)",
    "items": "C12 Ouyang Jianguo: help two families in need (by Dec 31)",
    "top": "Most active: Ouyang Jianguo, Li Xiuying.",
}
# A number goes where no value above is named: counts, weeks, streaks, people.
NUMBER = 128

# Placeholders whose value is itself rendered from the catalog, per key.
Compose = Callable[[Texts], object]


def _record_items(t: Texts) -> str:
    labels = ("study", "achievement", "service", "discipline", "integrity", "none")
    return t.get("list.separator").join(
        t.get("record.item", label=t.get(f"category.short.{c}"), week=3, total=128) for c in labels
    )


def _digest_items(t: Texts) -> str:
    labels = ("study", "achievement", "service", "discipline", "integrity")
    return t.get("list.separator").join(f"{t.get(f'category.short.{c}')}{NUMBER}" for c in labels)


def _every_chat(t: Texts) -> str:
    """A preview's chat part at its longest: someone reached on every chat channel."""
    return chats_text(t, {kind.value: NUMBER for kind in CHATS})


PER_KEY: dict[str, dict[str, Compose]] = {
    # A busy member: three-digit totals in every category, a dozen this week.
    "record.summary": {"items": _record_items, "week": lambda t: 12, "total": lambda t: 640},
    "digest.weekly": {"items": _digest_items},
    # Previews name each chat channel that reaches someone (bot/reach.py): all of them here.
    "poll.preview": {"chats": _every_chat},
    "poll.series_preview": {"chats": _every_chat},
    "notice.preview": {"chats": _every_chat},
}
# What {code} stands for, by key prefix: a poll, a commitment, a comment, a public notice;
# else an organisation.
CODES = {"poll.": "P128", "commitment.": "C128", "comment.": "K7Q2", "public_notice.": "G12"}


def placeholders(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def render(language: str, key: str, **overrides: object) -> str:
    texts = texts_for(language)
    values = {**(ZH if language == "zh-CN" else EN), **overrides}
    composed = PER_KEY.get(key, {})
    code = next((c for prefix, c in CODES.items() if key.startswith(prefix)), None)
    if code and "code" not in overrides:
        values["code"] = code
    params = {
        name: composed[name](texts) if name in composed else values.get(name, NUMBER)
        for name in placeholders(catalog(language)[key])
    }
    return texts.get(key, **params)


def budget(key: str) -> int:
    matches = [prefix for prefix in BUDGETS if key.startswith(prefix)]
    return BUDGETS[max(matches, key=len)] if matches else ONE


def segments(body: str) -> int:
    return count_segments(body).segments


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("key", sorted(k for k in catalog("zh-CN") if not k.startswith(TERMINAL)))
def test_every_entry_fits_its_budget(language, key):
    body = render(language, key)
    assert segments(body) <= budget(key), (key, count_segments(body), body)


def test_every_budget_names_keys_that_exist():
    """A stale prefix would silently stop measuring what it was written for."""
    keys = catalog("zh-CN")
    for prefix in BUDGETS:
        assert any(k.startswith(prefix) for k in keys), prefix


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("page", [HELP_KEYS, MORE_KEYS], ids=["page1", "page2"])
def test_each_role_has_a_help_page_in_one_segment(language, page):
    for key in page.values():
        body = render(language, key)
        assert segments(body) == ONE, (key, count_segments(body), body)


@pytest.mark.parametrize("language", LANGUAGES)
def test_help_after_not_understood_still_fits_one_segment(language):
    """Someone the bot did not understand hears so, and what to do, in one SMS."""
    texts = texts_for(language)
    for prefix in (texts.get("help.unknown"), texts.get("help.empty")):
        for key in HELP_KEYS.values():
            body = prefix + render(language, key)
            assert segments(body) == ONE, (key, count_segments(body), body)


# Replies made of several entries (handlers append one to another): each a reply, ONE.
COMPOSITES = [
    ("poll.thanks", "poll.comment_kept"),
    ("poll.thanks", "poll.comment_limit"),
    ("poll.changed", "poll.comment_kept"),
    ("poll.changed", "poll.comment_limit"),
]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("keys", COMPOSITES, ids="+".join)
def test_replies_made_of_several_entries_fit_one_segment(language, keys):
    body = "".join(render(language, key) for key in keys)
    assert segments(body) == ONE, (count_segments(body), body)


FIVE_GOODS_QUESTIONS = [f"poll.five_goods.q{i}" for i in range(1, 6)]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("question", ["custom", *FIVE_GOODS_QUESTIONS])
def test_a_poll_invitation_with_its_options_fits_two_segments(language, question):
    """As a basic phone shows it: the question, then the options numbered under it."""
    texts = texts_for(language)
    asked = (
        render(language, "poll.ask", code="P128")
        if question == "custom"
        else render(language, "poll.ask", code="P128", question=texts.get(question))
    )
    zh, en = default_options()
    options = zh if language == "zh-CN" else en
    shown = plain_text(
        Outbound(
            Address(AddressKind.SMS, "+8613900001101"),
            asked,
            tuple(Choice(f"P128 {i}", label) for i, label in enumerate(options, 1)),
        )
    )
    assert segments(shown) <= TWO, (count_segments(shown), shown)


def _tally(counts: list[int]) -> Tally:
    return Tally(sum(counts), counts, {}, sum(counts))


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    "counts",
    [
        [[64, 43, 21]] * 5,  # every question answered by enough people
        [[3, 1, 0]] * 5,  # too few everywhere
        [[8, 3, 0]] * 4 + [[6, 3, 0]],  # the last question lost a few people
        [[128, 0, 0], [0, 128, 0], [0, 0, 128], [43, 43, 42], [100, 27, 1]],
    ],
    ids=["enough", "too-few", "mixed", "lopsided"],
)
def test_a_five_goods_result_fits_two_segments_and_states_privacy_once(language, counts):
    texts = texts_for(language)
    values = ZH if language == "zh-CN" else EN
    zh, en = default_options()
    body = series_results_text(
        texts,
        org=str(values["org"]),
        codes="P128-P132",
        options=zh if language == "zh-CN" else en,
        tallies=[_tally(c) for c in counts],
        turnout=texts.get("poll.turnout", answered=128, audience=300, rate=43),
    )
    assert segments(body) <= TWO, (count_segments(body), body)
    rule = texts.get("poll.five_goods.privacy", minimum=MIN_BREAKDOWN)
    hidden = sum(1 for c in counts if sum(c) < MIN_BREAKDOWN)
    assert body.count(rule) == (1 if hidden else 0), body
