"""What everyday texts mean, before any keyword: opting out in people's own words,
acknowledgements and thanks, and questions about how to use the service.

Each rule is a small grammar over the WHOLE message (NFKC, case-folded, punctuation, emoji
and spaces dropped), never a search for a word inside it: "收到通知后组织了学习" and
"好的，今天帮五保户挑水" are reports, "收到，谢谢" is not; "今天教村民怎么用手机缴费" is a
report, "请问怎么汇报啊" is a question.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from functools import cache

# --- opting out -----------------------------------------------------------------------------

# [polite prefix] (退订 [object] | negation/cancel [给我] verb [object] [给我] | cancel object)
# [particles]: "不要再给我发短信了", "别发了", "取消短信", "不想收短信了", "请退订，谢谢".
# A verb or an object must follow a negation: "取消" alone answers a confirmation, and
# "别再…" alone says nothing.
_PREFIX = r"(?:请你们|请您|请你|你们|您|请|麻烦你们|麻烦|帮我|我要|我想|以后|今后|我)*"
_NEGATION = (
    r"(?:不要再|不要|别再|别|不用再|不用|不想再|不想|不需要再|不需要|不必再|不必"
    r"|勿再|请勿|不再|停止|停)"
)
_CANCEL = r"(?:取消订阅|停止订阅|退订|td|拒收|拒绝接收)"
_TO_ME = r"(?:给我|向我|跟我|和我|我|来)?"
_VERB = r"(?:发送|发来|发|推送|推|接收|接受|收到|收|订阅|打扰|骚扰|通知)"
_OBJECT = r"(?:这些|这个|这类|这种|这样的|此类)?(?:短信|消息|信息|通知|推送|提醒|信)"
_TAIL = r"(?:了|啦|吧|啊|呀|哦|哈|哟|呢|哈|谢谢|谢了|多谢|好吗|行吗|可以吗)*"
_STOP_ZH = re.compile(
    rf"^{_PREFIX}(?:{_CANCEL}{_OBJECT}?|{_NEGATION}{_TO_ME}{_VERB}{_TO_ME}{_OBJECT}?{_TO_ME}"
    rf"|(?:取消|停止){_OBJECT}){_TAIL}$"
)
_STOP_EN = re.compile(
    r"^(?:please )?(?:stop|cancel|unsubscribe|no more)"
    r"(?: (?:sending|texting|messaging))?(?: (?:me|us))?"
    r"(?: (?:messages|texts|sms|notifications|these|them|this))?(?: (?:please|thanks|thank you))?$"
)


def is_opt_out(folded: str) -> bool:
    """The whole message asks to receive nothing more (DESIGN.md §4: opt-out words first)."""
    return bool(_STOP_ZH.match(_letters(folded)) or _STOP_EN.match(_words(folded)))


# --- acknowledgements, thanks, greetings -------------------------------------------------


class Everyday(StrEnum):
    ACK = "ack"  # 收到 好的 OK 👍 。。。
    THANKS = "thanks"  # 谢谢书记 多谢
    GREETING = "greeting"  # 您好 早上好


_ACK_WORDS = {
    Everyday.ACK: (
        "收到",
        "已收到",
        "收",
        "好的",
        "好滴",
        "好嘞",
        "好哒",
        "好",
        "好了",
        "明白",
        "明白了",
        "知道",
        "知道了",
        "晓得",
        "晓得了",
        "了解",
        "懂了",
        "清楚",
        "已阅",
        "阅",
        "已读",
        "嗯",
        "嗯嗯",
        "恩",
        "哦",
        "噢",
        "喔",
        "行",
        "可以",
        "没问题",
        "是的",
        "是",
        "对",
        "对的",
        "ok",
        "okay",
        "okk",
        "k",
        "yep",
        "noted",
        "received",
        "got",
        "it",
        "sure",
        "fine",
        "一定",
        "准时",
        "按时",
        "参加",
        "到",
        "会",
        "照办",
        "遵命",
        "保证",
        "收悉",
        "办",
        "去",
        "落实",
        "执行",
        "照做",
        # a task reported done, with nothing said about it: "已完成", "办好了"
        "完成",
        "已完成",
        "做完",
        "办好",
        "办完",
        "弄好",
        "搞定",
        "哈哈",
        "哈哈哈",
        "呵呵",
        "嘿嘿",
        "赞",
        "点赞",
        "棒",
        "好棒",
    ),
    Everyday.THANKS: (
        "谢谢",
        "多谢",
        "感谢",
        "谢了",
        "谢",
        "辛苦了",
        "辛苦",
        "麻烦了",
        "thanks",
        "thank",
        "thx",
        "ty",
    ),
    Everyday.GREETING: (
        "您好",
        "你好",
        "早上好",
        "上午好",
        "中午好",
        "下午好",
        "晚上好",
        "早安",
        "晚安",
        "早",
        "在吗",
        "在不在",
        "再见",
        "拜拜",
        "hi",
        "hello",
        "hey",
        "good",
        "morning",
        "evening",
        "bye",
        "节日快乐",
        "新年好",
        "过年好",
        "新年快乐",
        "春节快乐",
        "中秋快乐",
        "国庆快乐",
        "元旦快乐",
        "端午快乐",
        "好久不见",
    ),
}
# Words that only soften or address: they neither make nor spoil an acknowledgement.
_FILLER = (
    "书记",
    "支书",
    "领导",
    "老师",
    "主任",
    "同志",
    "大家",
    "各位",
    "您",
    "你",
    "你们",
    "我",
    "我们",
    "了",
    "的",
    "啊",
    "呀",
    "哈",
    "呢",
    "吧",
    "啦",
    "嘛",
    "滴",
    "哒",
    "哟",
    "呐",
    "非常",
    "很",
    "太",
    "真",
    "都",
    "也",
    "已",
    "已经",
    "马上",
    "一定会",
    # what one thanks for, and when one comes: "谢谢关心", "好的，明天到"
    "关心",
    "支持",
    "关注",
    "提醒",
    "通知",
    "帮助",
    "指导",
    "明天",
    "今天",
    "今晚",
    "晚上",
    "下午",
    "上午",
    "一会",
    "待会",
    "稍后",
    "随后",
    "就",
    "the",
    "you",
    "very",
    "much",
    "so",
    "all",
    "a",
    "lot",
    "sir",
    "ma",
    "am",
)


def everyday_kind(folded: str) -> Everyday | None:
    """What an acknowledgement-like message is, or None if it says something more.

    The whole message must be made of acknowledgement, thanks and greeting words (and
    fillers such as 书记 or 啊), or hold no letters at all (an emoji, "。。。").
    """
    if not folded:
        return None  # nothing at all is not an answer (see help.empty)
    runs = _runs(folded)
    if not runs:  # an emoji or punctuation; a number is a category or a poll answer
        return Everyday.ACK
    ways = [tags for tags in _cover(runs, _ack_vocabulary()) if tags - {"filler"}]
    for kind in (Everyday.THANKS, Everyday.GREETING, Everyday.ACK):
        if any(kind.value in tags for tags in ways):
            return kind
    return None


# --- questions about using the service -----------------------------------------------------

# A usage question asks HOW (or WHAT, or says it does not understand) about using the
# service, and says nothing else: "请问怎么汇报啊", "hb的格式是什么", "这个怎么发",
# "how do I report". A report that only contains 怎么 ("今天教村民怎么用手机缴费") has words
# outside this vocabulary, so it stays a report.
_HOW = (
    "怎么",
    "怎样",
    "怎么样",
    "如何",
    "咋",
    "咋样",
    "什么",
    "啥",
    "哪里",
    "哪儿",
    "在哪",
    "哪个",
    "能不能",
    "可不可以",
    "能否",
    "可以吗",
    "行吗",
    "吗",
    "不会",
    "不懂",
    "不知道",
    "搞不懂",
    "干啥",
    "干什么",
    "干嘛",
    "谁",
    "哪",
    "多少",
    "who",
    "how",
    "what",
    "which",
    "where",
)
_SERVICE = (
    "汇报",
    "报告",
    "报",
    "上报",
    "hb",
    "发",
    "发送",
    "发短信",
    "回复",
    "回",
    "用",
    "使用",
    "操作",
    "写",
    "填",
    "弄",
    "搞",
    "参加",
    "参与",
    "加入",
    "评议",
    "投票",
    "打分",
    "留言",
    "评论",
    "推荐",
    "承诺",
    "退订",
    "订阅",
    "绑定",
    "注册",
    "短信",
    "消息",
    "系统",
    "平台",
    "机器人",
    "这个",
    "这",
    "那个",
    "号码",
    "编号",
    "代码",
    "支部代码",
    "命令",
    "指令",
    "关键词",
    "报名",
    "收费",
    "要钱",
    "花钱",
    "免费",
    "费用",
    "查",
    "查看",
    "看",
    "记录",
    "成绩",
    "结果",
    "report",
    "use",
    "send",
    "reply",
    "join",
    "vote",
    "register",
    "link",
    "work",
    "works",
    "answer",
    "comment",
    "commit",
    "this",
    "bot",
    "service",
)
# HOW and a service word in one: "格式是什么" needs only this, "看不懂" says it alone.
_BOTH = (
    "格式",
    "用法",
    "方法",
    "说明",
    "规则",
    "步骤",
    "意思",
    "看不懂",
    "不明白",
    "不会用",
    "不会发",
    "怎么用",
    "怎么发",
    "怎么弄",
    "怎么回",
    "format",
    "instructions",
    "usage",
)
_ASKING = (
    "请问",
    "问一下",
    "问下",
    "想问",
    "想问一下",
    "我想问",
    "麻烦问",
    "麻烦问下",
    "请教",
    "我",
    "我们",
    "你",
    "您",
    "该",
    "要",
    "应该",
    "需要",
    "得",
    "可以",
    "能",
    "才能",
    "才",
    "的",
    "是",
    "了",
    "啊",
    "呀",
    "呢",
    "吗",
    "嘛",
    "哦",
    "一下",
    "下",
    "书记",
    "老师",
    "领导",
    "您好",
    "你好",
    "具体",
    "到底",
    "一条",
    "内容",
    "给",
    "do",
    "does",
    "i",
    "we",
    "to",
    "is",
    "the",
    "a",
    "can",
    "should",
    "it",
    "me",
    "for",
    "of",
    "please",
    "with",
    "again",
    "you",
    "in",
)


# A question for the branch rather than a report: a short message that asks when, where,
# how much, why or whether ("明天几点开会", "低保什么时候发", "会在哪里开"), or that begins
# with how ("怎么报名"). A deed tells what was done, with 了 or 过; a question does not.
_ASKS = re.compile(
    r"^(?:请问|问一下|问下)?(?:怎么|如何|怎样|咋)"
    r"|几点|几号|几时|哪天|什么时候|啥时候|哪里|在哪|哪儿|多少钱|为什么|为啥"
    r"|是不是|有没有|能不能|可不可以|要不要|行不行|对不对"
)
QUESTION_MAX = 30  # characters: a longer text is a report that happens to ask


def is_question(folded: str) -> bool:
    """A question (to the branch, or about the service), not a report: ends with a question
    mark or 吗, begins with 请问, or is a short text that asks (see _ASKS) and says
    nothing was done (no 了/过)."""
    bare = folded.rstrip(" \t。.!！~～…")
    if bare.endswith(("?", "？")) or bare.rstrip("?？").endswith("吗"):
        return True
    if bare.startswith("请问"):
        return True
    letters = _letters(bare)
    return (
        len(letters) <= QUESTION_MAX
        and _ASKS.search(letters) is not None
        and not any(mark in letters for mark in ("了", "过"))
    )


def is_usage_question(folded: str) -> bool:
    """The whole message asks how to use the service (so it is answered with help)."""
    return any(
        "both" in tags or {"how", "service"} <= tags
        for tags in _cover(_runs(folded), _usage_vocabulary())
    )


# --- the same report twice -----------------------------------------------------------------


def dedupe_key(text: str) -> str:
    """What two reports must share to be the same one: letters and digits, folded."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in folded if unicodedata.category(c)[0] in "LN")


# --- the machinery -------------------------------------------------------------------------


def _letters(folded: str) -> str:
    return "".join(c for c in folded if unicodedata.category(c)[0] in "LN")


def _words(folded: str) -> str:
    return " ".join("".join(c if c.isalnum() else " " for c in folded).split())


def _runs(folded: str) -> list[str]:
    """Latin words (and numbers) one by one, runs of other letters whole: separators dropped.
    "hb的格式是什么？" → ["hb", "的格式是什么"]."""
    runs: list[str] = []
    current, latin = "", False
    for c in folded:
        if unicodedata.category(c)[0] not in "LN":
            if current:
                runs.append(current)
            current = ""
            continue
        is_latin = c.isascii()
        if current and is_latin != latin:
            runs.append(current)
            current = ""
        current += c
        latin = is_latin
    if current:
        runs.append(current)
    return runs


Vocabulary = dict[str, frozenset[str]]


@cache
def _ack_vocabulary() -> Vocabulary:
    vocabulary: dict[str, set[str]] = {}
    for kind, words in _ACK_WORDS.items():
        for word in words:
            vocabulary.setdefault(word, set()).add(kind.value)
    for word in _FILLER:
        vocabulary.setdefault(word, set()).add("filler")
    return {word: frozenset(tags) for word, tags in vocabulary.items()}


@cache
def _usage_vocabulary() -> Vocabulary:
    vocabulary: dict[str, set[str]] = {}
    for tag, words in (("how", _HOW), ("service", _SERVICE), ("both", _BOTH), ("", _ASKING)):
        for word in words:
            vocabulary.setdefault(word, set()).update({tag} if tag else set())
    return {word: frozenset(tags) for word, tags in vocabulary.items()}


def _cover(runs: list[str], vocabulary: Vocabulary) -> set[frozenset[str]]:
    """The tag sets of every way to write all the runs with vocabulary words (a Latin run as
    one word, any other run split any way); empty if some run cannot be written so."""
    longest = max(len(w) for w in vocabulary)
    total: set[frozenset[str]] = {frozenset()} if runs else set()
    for run in runs:
        if run.isascii():
            tags = vocabulary.get(run)
            if tags is None:
                return set()
            total = {s | tags for s in total}
            continue
        # reach[i]: the tag sets with which run[:i] can be written.
        reach: list[set[frozenset[str]]] = [set() for _ in range(len(run) + 1)]
        reach[0].add(frozenset())
        for i in range(len(run)):
            for j in range(i + 1, min(len(run), i + longest) + 1):
                tags = vocabulary.get(run[i:j])
                if tags is not None and reach[i]:
                    reach[j].update(s | tags for s in reach[i])
        if not reach[-1]:
            return set()
        total = {a | b for a in total for b in reach[-1]}
    return total
