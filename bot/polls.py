"""Poll logic shared by the chat handlers, the scheduler and the CLI: reading an answer,
hashing a voter, rendering a question and its results, opening and closing a poll.

Answers a villager may send (after NFKC folding): `1`, `１`, `一`, `A`/`a`, the option's
word (`满意`), a number or word followed by a comment (`1 路灯修好了`, `2，水渠还没修`), and
any of these after a poll code (`P7 1`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.channels.base import plain_text
from bot.messages import Address, AddressKind, Choice, Outbound
from bot.segments import count_segments
from bot.texts import LANGUAGES, Texts, texts_for
from storage.polls import AUDIENCE_ROLES, Poll, Tally
from storage.repositories import Repositories

# No breakdown of fewer answers is shown anywhere (chat, broadcast, CLI, CSV), only how many
# answered. Ten, not five: five identical answers tell every voter's choice as surely as one,
# and 4 to 1 tells the one dissenter what the other four chose. The rule looks at the count
# alone, never at the answers: a breakdown withheld only when one-sided would say, by being
# withheld, that it is one-sided (issue 12.5).
MIN_BREAKDOWN = 10
MAX_OPTIONS = 9
_SEPARATORS = set(" \t\n,，、.。:：;；!！-—~")
_CODE = re.compile(r"p(\d{1,9})(?!\d)")
_NUMBER = re.compile(r"\d+")
_NUMERALS = "一二三四五六七八九"
# Marks that end a question or a sentence as written: no question mark is added after them.
_TERMINAL = set("?？!！。.…:：;；")


@dataclass(frozen=True, slots=True)
class Answer:
    choice: int  # 0-based
    comment_at: int  # where a comment would start in the folded text (len if none)


def voter_hash(key: bytes, poll_id: int, person_id: int) -> str:
    """The ballot's key: the same person always hashes the same within a poll (so a second
    answer replaces the first, whichever channel it came from), and without the secret key
    nobody can tell whose ballot it is."""
    assert key, "a secret key is needed to hash ballots"
    return hmac.new(key, f"ballot:{poll_id}:{person_id}".encode(), hashlib.sha256).hexdigest()


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in _SEPARATORS:
        at += 1
    return at


def _ends_word(text: str, at: int) -> bool:
    """A one-character answer ("a", "一") must stand alone: "all good" and "一般" are words."""
    return at >= len(text) or text[at] in _SEPARATORS


def _letter_alone(text: str) -> bool:
    """ "a" or "a，很好" answers; "a lot of potholes" is an English sentence."""
    if not _ends_word(text, 1):
        return False
    after = _skip(text, 1)
    return after >= len(text) or not (text[after].isascii() and text[after].isalpha())


def parse_code(folded: str) -> tuple[int | None, int]:
    """A leading poll code ("p7 1"): the poll id and where the answer starts."""
    match = _CODE.match(folded)
    if match is None:
        return None, 0
    end = match.end()
    if end < len(folded) and folded[end].isascii() and folded[end].isalpha():
        return None, 0  # "p7abc" is not a code
    return int(match[1]), _skip(folded, end)


def parse_answer(folded: str, at: int, poll: Poll) -> Answer | None:
    """The option the text at `at` picks, and where its comment starts; None if none."""
    rest = folded[at:]
    if not rest:
        return None
    count = len(poll.options)
    number = _NUMBER.match(rest)
    choice: int | None = None
    end = 0
    if number is not None:
        if not _ends_word(rest, number.end()):
            return None  # "3户已脱贫" is a count in a report, not answer 3
        choice, end = int(number[0]) - 1, number.end()
    elif rest[0] in _NUMERALS and _ends_word(rest, 1):
        choice, end = _NUMERALS.index(rest[0]), 1
    elif rest[0].isascii() and rest[0].isalpha() and _letter_alone(rest):
        choice, end = ord(rest[0]) - ord("a"), 1
    else:
        labels = [(label.casefold(), i) for i, label in enumerate(poll.options)]
        labels += [(label.casefold(), i) for i, label in enumerate(poll.options_en or ())]
        for label, i in sorted(labels, key=lambda item: -len(item[0])):
            if rest.startswith(label):
                after = rest[len(label) : len(label) + 1]
                if label.isascii() and after.isascii() and after.isalnum():
                    continue  # "satisfied" is not "satisfiedly"
                choice, end = i, len(label)
                break
    if choice is None or not 0 <= choice < count:
        return None
    return Answer(choice, _skip(folded, at + end))


def looks_like_answer(folded: str) -> bool:
    """Starts as an answer would (a number, a lone letter or numeral, a poll code)."""
    code, at = parse_code(folded)
    rest = folded[at:]
    if code is not None:
        return True
    return bool(rest) and (
        rest[0].isdigit()
        or (rest[0] in _NUMERALS and _ends_word(rest, 1))
        or (rest[0].isascii() and rest[0].isalpha() and _letter_alone(rest))
    )


def as_question(text: str) -> str:
    """The question as an invitation asks it: one without terminal punctuation gets a
    question mark (full-width after Chinese, "?" after Latin), so that it does not run into
    "回复序号…"; one that ends as a sentence or a heading ("。", "：") is left as written."""
    text = text.rstrip()
    if not text or text[-1] in _TERMINAL:
        return text
    return text + ("?" if text[-1].isascii() else "？")


def when(moment: datetime, zone: ZoneInfo) -> str:
    """A time as a basic phone shows it well in either language: 12-03 18:00."""
    return moment.astimezone(zone).strftime("%m-%d %H:%M")


def choices_for(poll: Poll, language: str) -> tuple[Choice, ...]:
    """One button per option on Telegram; a numbered list on SMS. The key carries the poll
    code, so a press is an answer to this poll whatever else is open."""
    return tuple(
        Choice(f"{poll.code} {i}", label)
        for i, label in enumerate(poll.options_in(language), start=1)
    )


def ask_text(texts: Texts, poll: Poll, org_name: str, zone: ZoneInfo) -> str:
    return texts.get(
        "poll.ask",
        code=poll.code,
        org=org_name,
        question=poll.question_in(texts.language),
        count=len(poll.options),
        closes=when(poll.closes_at, zone),
    )


def share(count: int, total: int) -> int:
    """One rate in whole percent (turnout); shares of options come from `shares`."""
    return round(100 * count / total) if total else 0


def shares(counts: Sequence[int]) -> list[int]:
    """Whole percentages that add up to 100 (largest remainder method): each option gets
    its share rounded down, and the points left go to the largest remainders, earlier
    options first among equals, so 2/2/2 reads 34/33/33, not 33/33/33."""
    total = sum(counts)
    if not total:
        return [0] * len(counts)
    floors = [100 * n // total for n in counts]
    order = sorted(range(len(counts)), key=lambda i: (-(100 * counts[i] % total), i))
    for i in order[: 100 - sum(floors)]:
        floors[i] += 1
    return floors


def summary(texts: Texts, poll: Poll, tally: Tally) -> str:
    """Counts and shares per option, or the reason they are not shown."""
    if tally.total < MIN_BREAKDOWN:
        return texts.get("poll.too_few", answered=tally.total, minimum=MIN_BREAKDOWN)
    labels = poll.options_in(texts.language)
    lines = texts.get("poll.separator").join(
        texts.get("poll.line", option=label, count=count, share=percent)
        for label, count, percent in zip(labels, tally.counts, shares(tally.counts), strict=True)
    )
    return lines


def series_results_text(
    texts: Texts,
    *,
    org: str,
    codes: str,
    options: Sequence[str],
    tallies: Sequence[Tally],
    turnout: str,
) -> str:
    """The five goods' results in two SMS: each question's shares in the options' order
    under one legend, and the questions with too few answers named together with the
    privacy rule said once."""
    shown, hidden = [], []
    for position, tally in enumerate(tallies, start=1):
        name = texts.get(f"poll.five_goods.s{position}")
        if tally.total < MIN_BREAKDOWN:
            hidden.append(name)
            continue
        percents = "/".join(str(p) for p in shares(tally.counts))  # adds up to 100
        shown.append(texts.get("poll.five_goods.item", name=name, shares=percents))
    privacy = texts.get("poll.five_goods.privacy", minimum=MIN_BREAKDOWN)
    if not shown:
        return texts.get(
            "poll.five_goods.result_hidden", org=org, codes=codes, privacy=privacy, turnout=turnout
        )
    parts = shown
    if hidden:
        names = texts.get("poll.five_goods.name_sep").join(hidden)
        parts = [*shown, texts.get("poll.five_goods.hidden", names=names, privacy=privacy)]
    return texts.get(
        "poll.five_goods.result",
        org=org,
        codes=codes,
        legend="/".join(options),
        summary=texts.get("poll.separator").join(parts),
        turnout=turnout,
    )


def visible_branches(tally: Tally) -> set[int]:
    """Branches whose breakdown may be shown: each with at least MIN_BREAKDOWN answers, and
    only if the hidden ones together are none or at least MIN_BREAKDOWN too; else the
    overall figures minus the shown ones would give the hidden ones away."""
    shown = {org for org, counts in tally.by_org.items() if sum(counts) >= MIN_BREAKDOWN}
    # Everything not shown, including answers from the poll's own organisation (no branch).
    hidden = tally.total - sum(sum(tally.by_org[org]) for org in shown)
    if 0 < hidden < MIN_BREAKDOWN or (hidden == 0 and tally.total < MIN_BREAKDOWN):
        return set()
    return shown


def audience(poll: Poll, tally: Tally) -> int:
    """Who was asked: those counted when the poll opened, and anyone who has joined its
    audience since (they may answer from then on). Never fewer than those who answered (a
    person who opted out may still answer with the code), so turnout never passes 100%."""
    return max((poll.audience_size or 0) + tally.joined, tally.participants)


def poll_state(poll: Poll, now: datetime) -> str:
    """Open or closed as everyone sees it (chat, CLI, the sweep): a poll is closed from its
    closing time on, whether or not a sweep has marked it yet. Other states as stored."""
    if poll.status == "open" and poll.closes_at <= now:
        return "closed"
    return poll.status


def turnout(texts: Texts, poll: Poll, tally: Tally) -> str:
    audience_size = audience(poll, tally)
    return texts.get(
        "poll.turnout",
        answered=tally.participants,
        audience=audience_size,
        rate=share(tally.participants, audience_size),
    )


async def open_poll(
    repos: Repositories, poll: Poll, now: datetime, zone: ZoneInfo, default_language: str
) -> int:
    """Send a scheduled poll to its audience and mark it open. Safe to repeat: the
    broadcast and its messages are keyed, and only one caller moves the status. A later
    question of a template is not broadcast: each person gets it after answering the one
    before. Returns the number of people it reaches."""
    org = await repos.orgs.by_id(poll.org_id)
    assert org is not None
    count = 0
    if poll.position == 0:
        texts = {lang: ask_text(texts_for(lang), poll, org.name, zone) for lang in LANGUAGES}
        _, count = await repos.outbox.broadcast_to_audience(
            kind="poll",
            texts=texts,
            default_language=default_language,
            now=now,
            root_org_id=poll.org_id,
            roles=AUDIENCE_ROLES[poll.audience],
            source=f"poll:{poll.id}:open",
            key_prefix=f"poll:{poll.id}",
            body=poll.question,
            role=poll.audience,
            created_by=poll.created_by,
            choices={lang: choices_for(poll, lang) for lang in LANGUAGES},
        )
    else:
        first = (await repos.polls.series(poll.series or ""))[0]
        count = first.audience_size or 0
    await repos.polls.move(poll.id, "scheduled", "open", audience_size=count)
    return count


async def close_poll(
    repos: Repositories, poll: Poll, now: datetime, zone: ZoneInfo, default_language: str
) -> int:
    """Close a poll and send its results to everyone who answered and to the branch's
    secretaries, each in their language. Safe to repeat. Returns messages queued."""
    if poll.status == "open":
        # The audience stays as counted at opening: joiners are counted apart (`audience`).
        await repos.polls.move(poll.id, "open", "closed")
        poll = await repos.polls.get(poll.id) or poll
    # The sealed answers are written out, shuffled, in a transaction of their own.
    await repos.polls.publish(poll)
    if poll.series is not None and poll.position > 0:
        # A template's results go out once, all questions together, with its first poll.
        await repos.polls.mark_results_sent(poll.id, now)
        return 0
    org = await repos.orgs.by_id(poll.org_id)
    assert org is not None
    tally = await repos.polls.tally(poll)
    texts = {}
    if poll.series is None:
        for lang in LANGUAGES:
            t = texts_for(lang)
            texts[lang] = t.get(
                "poll.results_message",
                code=poll.code,
                org=org.name,
                question=poll.question_in(lang),
                summary=summary(t, poll, tally),
                turnout=turnout(t, poll, tally),
            )
    else:
        questions = [(p, await repos.polls.tally(p)) for p in await repos.polls.series(poll.series)]
        for lang in LANGUAGES:
            t = texts_for(lang)
            texts[lang] = series_results_text(
                t,
                org=org.name,
                codes=f"{questions[0][0].code}-{questions[-1][0].code}",
                options=questions[0][0].options_in(lang),
                tallies=[pt for _, pt in questions],
                turnout=turnout(t, poll, tally),
            )
    broadcast = await repos.outbox.create_broadcast(
        kind="poll_results",
        body=texts[default_language],
        org_id=poll.org_id,
        created_by=poll.created_by,
        now=now,
        source=f"poll:{poll.id}:results",
    )
    secretaries = await repos.polls.secretaries(poll.org_id)
    if poll.created_by is not None:
        secretaries.append(poll.created_by)
    ids = ", ".join(str(int(p)) for p in secretaries) or "NULL"
    count = await repos.outbox.enqueue_people(
        broadcast_id=broadcast,
        key_prefix=f"poll:{poll.id}:results",
        who=(
            "(EXISTS (SELECT 1 FROM poll_participants pp WHERE pp.poll_id = :poll "
            f"AND pp.person_id = a.person_id) OR a.person_id IN ({ids}))"
        ),
        who_params={"poll": poll.id},
        texts=texts,
        default_language=default_language,
        now=now,
    )
    await repos.polls.mark_results_sent(poll.id, now)
    return count


FIVE_GOODS = 5  # 五个好: one question for each


def default_options() -> tuple[list[str], list[str]]:
    """满意 / 基本满意 / 不满意, and their English."""
    zh, en = texts_for("zh-CN"), texts_for("en")
    return zh.get("poll.default_options").split("/"), en.get("poll.default_options").split("/")


async def create_polls(
    repos: Repositories,
    *,
    org_id: int,
    question: str | None,
    options: Sequence[str],
    audience: str,
    opens_at: datetime,
    closes_at: datetime,
    status: str,
    now: datetime,
    created_by: int | None,
    source: str,
    allow_change: bool = True,
    question_en: str | None = None,
    subject: str | None = None,
) -> list[Poll]:
    """One poll, or with `question` None the five-goods template: one question per 好,
    asked in turn. Without options, the default three in both languages."""
    zh_default, en_default = default_options()

    async def one(question: str, question_en: str | None, source: str, **series: Any) -> Poll:
        return await repos.polls.create(
            org_id=org_id,
            question=question,
            question_en=question_en,
            options=list(options) or zh_default,
            options_en=None if options else en_default,
            audience=audience,
            opens_at=opens_at,
            closes_at=closes_at,
            status=status,
            now=now,
            created_by=created_by,
            allow_change=allow_change,
            subject=subject,
            source=source,
            **series,
        )

    if question is not None:
        return [await one(as_question(question), question_en and as_question(question_en), source)]
    zh, en = texts_for("zh-CN"), texts_for("en")
    return [
        await one(
            zh.get(f"poll.five_goods.q{i}"),
            en.get(f"poll.five_goods.q{i}"),
            f"{source}:{i}",
            series=source,
            position=i - 1,
        )
        for i in range(1, FIVE_GOODS + 1)
    ]


async def reach_and_cost(
    repos: Repositories, poll: Poll, org_name: str, zone: ZoneInfo, language: str
) -> tuple[dict[str, int], int]:
    """Who a poll will reach per channel, and the SMS segments its question costs as a
    basic phone receives it (question, then the numbered options)."""
    reach = await repos.polls.reach(poll.org_id, poll.audience)
    texts = texts_for(language)
    body = ask_text(texts, poll, org_name, zone)
    shown = plain_text(Outbound(Address(AddressKind.SMS, ""), body, choices_for(poll, language)))
    return reach, count_segments(shown).segments
