"""Campaign files: the shipped campaigns, offsets from the start, every kind of mistake reported
at its line and key (all of them at once), and which phase is current and what comes next."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.segments import count_segments
from bot.texts import LANGUAGES
from scheduler.campaign import (
    Campaign,
    CampaignError,
    Problem,
    current_phase,
    default_campaign_path,
    load_campaign,
    timeline,
    upcoming,
)
from storage.models import Role

SHANGHAI = ZoneInfo("Asia/Shanghai")
CAMPAIGNS = Path(__file__).resolve().parent.parent / "scheduler" / "campaigns"
RELATIVE = CAMPAIGNS / "relative-example.toml"

BASE = """\
[campaign]
id = "test"
name = { zh-CN = "测试活动", en = "Test campaign" }
start = 2020-01-06

[[phase]]
id = "one"
name = { zh-CN = "第一阶段", en = "Phase one" }
start = "start"
end = "start + 4w"

[[milestone]]
id = "first"
date = "start"
audience = ["members"]
text = { zh-CN = "第一条", en = "First" }

[[milestone]]
id = "second"
date = "start + 1w"
audience = ["public"]
text = { zh-CN = "第二条", en = "Second" }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "campaign.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, **kwargs: date) -> Campaign:
    return load_campaign(write(tmp_path, text), **kwargs)


def problems(tmp_path: Path, text: str) -> list[Problem]:
    with pytest.raises(CampaignError) as info:
        load(tmp_path, text)
    return info.value.problems


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """The 1-based line of the n-th line containing `needle`."""
    hits = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


def change(old: str, new: str, text: str = BASE) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def only(found: list[Problem]) -> Problem:
    assert len(found) == 1, found
    return found[0]


def at(day: str, clock: str = "09:00", zone: ZoneInfo = SHANGHAI) -> datetime:
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), tzinfo=zone)


# --- the shipped campaigns ----------------------------------------------------------------


def test_the_default_is_the_seeds_campaign():
    campaign = load_campaign()
    assert default_campaign_path().name == "cxzy-2010.toml"
    assert default_campaign_path().is_file()
    assert campaign.source == str(default_campaign_path())
    assert (campaign.id, campaign.start, campaign.timezone) == (
        "cxzy-2010",
        date(2010, 4, 6),
        "Asia/Shanghai",
    )
    towards_90th, towards_congress = campaign.phases
    assert (towards_90th.id, towards_90th.start, towards_90th.end) == (
        "towards-90th",
        date(2010, 4, 6),
        date(2011, 7, 1),
    )
    assert "90" in towards_90th.name["zh-CN"]
    assert towards_congress.start == date(2011, 7, 2)  # from July 2011, the day after
    assert "代表大会" in towards_congress.name["zh-CN"]
    assert 8 <= len(campaign.milestones) <= 12

    by_id = {m.id: m for m in campaign.milestones}
    assert by_id["launch"].at == at("2010-04-06")
    anniversary = by_id["anniversary-90"]
    assert anniversary.at == at("2011-07-01")
    assert anniversary.audience == {Role.SECRETARY, Role.MEMBER, Role.PUBLIC, Role.LEADER}
    assert "90周年" in anniversary.text["zh-CN"] and "表彰" in anniversary.text["zh-CN"]
    zh = " ".join(m.text["zh-CN"] for m in campaign.milestones)
    for term in ("动员部署", "公开承诺", "群众评议", "五个好", "通报", "公示", "点评", "总结"):
        assert term in zh, term
    assert all(m.subtree is None and not m.urgent for m in campaign.milestones)


@pytest.mark.parametrize("path", [None, RELATIVE])
def test_shipped_texts_are_one_or_two_sms_segments(path):
    campaign = load_campaign(path)
    for milestone in campaign.milestones:
        assert tuple(milestone.text) == LANGUAGES
        for language, text in milestone.text.items():
            assert 0 < count_segments(text).segments <= 2, (milestone.id, language)


def test_the_relative_example_has_only_offsets():
    raw = tomllib.loads(RELATIVE.read_text("utf-8"))
    dates = [p[k] for p in raw["phase"] for k in ("start", "end")]
    dates += [m["date"] for m in raw["milestone"]]
    assert dates and all(isinstance(d, str) and d.startswith("start") for d in dates)

    campaign = load_campaign(RELATIVE)
    assert campaign.milestones[0].at.date() == campaign.start - timedelta(days=7)
    assert [m.id for m in campaign.milestones if m.urgent] == ["notice-closes"]
    # the phases follow one another without a gap
    for before, after in zip(campaign.phases, campaign.phases[1:], strict=False):
        assert before.end is not None and after.start == before.end + timedelta(days=1)


def test_a_start_override_moves_every_date_of_the_relative_example():
    shipped = load_campaign(RELATIVE)
    moved = load_campaign(RELATIVE, start=date(2031, 9, 1))
    shift = date(2031, 9, 1) - shipped.start
    assert moved.start == date(2031, 9, 1)
    assert [m.id for m in moved.milestones] == [m.id for m in shipped.milestones]
    assert all(
        b.at - a.at == shift for a, b in zip(shipped.milestones, moved.milestones, strict=True)
    )
    assert all(
        b.start - a.start == shift for a, b in zip(shipped.phases, moved.phases, strict=True)
    )
    assert moved.milestones[1].at == at("2031-09-01")  # "launch", on "start"


def test_a_start_override_leaves_absolute_dates_alone():
    moved = {m.id: m for m in load_campaign(start=date(2010, 9, 1)).milestones}
    assert moved["launch"].at == at("2010-09-01")  # "start"
    assert moved["themes"].at == at("2010-09-08")  # "start + 1w"
    assert moved["anniversary-90"].at == at("2011-07-01")  # a TOML date
    with pytest.raises(CampaignError) as info:  # the first phase would end before it starts
        load_campaign(start=date(2030, 3, 4))
    assert [p.key for p in info.value.problems] == ["phase[1].end"]


# --- offsets, times, audience -------------------------------------------------------------

OFFSETS = """\
[campaign]
id = "offsets"
name = { zh-CN = "偏移", en = "Offsets" }
start = 2020-03-02

[[milestone]]
id = "on-start"
date = "start"
audience = ["secretary", "Member", "leaders", "admin"]
text = { zh-CN = "一", en = "one" }

[[milestone]]
id = "plus-90-days"
date = "start + 90d"
time = "18:30"
audience = ["public"]
subtree = " hx01 "
text = { zh-CN = "二", en = "two" }

[[milestone]]
id = "minus-a-week"
date = "start - 7d"
time = 07:05:00
audience = ["members"]
urgent = true
text = { zh-CN = "三", en = "three" }

[[milestone]]
id = "plus-two-weeks"
date = "START+2W"
audience = ["public", "publIC"]
text = { zh-CN = "四", en = "four" }
"""


def test_offsets_resolve_from_the_start(tmp_path):
    got = {m.id: m for m in load(tmp_path, OFFSETS).milestones}
    assert got["on-start"].at == at("2020-03-02")
    assert got["plus-90-days"].at == at("2020-05-31", "18:30")
    assert got["minus-a-week"].at == at("2020-02-24", "07:05")
    assert got["plus-two-weeks"].at == at("2020-03-16")
    assert got["on-start"].at.utcoffset() == timedelta(hours=8)


def test_offsets_resolve_from_an_overriding_start(tmp_path):
    campaign = load(tmp_path, OFFSETS, start=date(2024, 12, 30))
    got = {m.id: m.at for m in campaign.milestones}
    assert campaign.start == date(2024, 12, 30)
    assert got == {
        "on-start": at("2024-12-30"),
        "plus-90-days": at("2025-03-30", "18:30"),
        "minus-a-week": at("2024-12-23", "07:05"),
        "plus-two-weeks": at("2025-01-13"),
    }
    # sorted by time, whatever the file's order
    assert [m.id for m in campaign.milestones] == [
        "minus-a-week",
        "on-start",
        "plus-two-weeks",
        "plus-90-days",
    ]


def test_audience_words_subtree_and_urgent(tmp_path):
    got = {m.id: m for m in load(tmp_path, OFFSETS).milestones}
    assert got["on-start"].audience == {Role.SECRETARY, Role.MEMBER, Role.LEADER, Role.ADMIN}
    assert got["plus-two-weeks"].audience == {Role.PUBLIC}
    assert got["plus-90-days"].subtree == "HX01"
    assert got["on-start"].subtree is None
    assert got["minus-a-week"].urgent is True and got["on-start"].urgent is False


def test_the_campaign_time_zone_places_milestones(tmp_path):
    text = change("start = 2020-01-06", 'start = 2020-01-06\ntimezone = "Europe/Berlin"')
    campaign = load(tmp_path, text)
    assert campaign.timezone == "Europe/Berlin"
    assert campaign.milestones[0].at == datetime(2020, 1, 6, 8, 0, tzinfo=UTC)


def test_a_start_can_come_only_from_the_caller(tmp_path):
    text = change("start = 2020-01-06\n", "")
    campaign = load(tmp_path, text, start=date(2022, 2, 2))
    assert campaign.start == date(2022, 2, 2)
    assert campaign.phases[0].end == date(2022, 3, 2)
    problem = only(problems(tmp_path, text))
    assert (problem.line, problem.key) == (1, "campaign.start")
    assert problem.message == "missing required key (or give a start date)"


# --- every problem at its line and key ----------------------------------------------------


def test_a_toml_syntax_error_gives_tomllibs_line(tmp_path):
    text = change('id = "second"', 'id = "second')
    problem = only(problems(tmp_path, text))
    assert (problem.line, problem.key) == (line_of(text, 'id = "second'), "toml")
    assert problem.message.startswith("invalid TOML: ")
    assert "(column " in problem.message


def test_an_unreadable_file(tmp_path):
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(CampaignError) as info:
        load_campaign(missing)
    assert info.value.problems == [Problem(None, "file", "cannot read: No such file or directory")]
    assert str(info.value) == f"{missing}: file: cannot read: No such file or directory"

    binary = tmp_path / "binary.toml"
    binary.write_bytes(b'[campaign]\nid = "\xff"\n')
    with pytest.raises(CampaignError) as info:
        load_campaign(binary)
    assert info.value.problems == [Problem(2, "file", "not UTF-8 text")]


def test_unknown_keys_everywhere_with_a_suggestion(tmp_path):
    text = change(
        'text = { zh-CN = "第二条", en = "Second" }', 'txt = { zh-CN = "第二条", en = "Second" }'
    )
    text = change("[campaign]", "[campaign]\ncolour = 1", text)
    text += "\n[campain]\nid = 1\n"
    found = {(p.line, p.key): p.message for p in problems(tmp_path, text)}
    assert found == {
        (2, "campaign.colour"): "unknown key (expected id, name, start, timezone)",
        (line_of(text, "txt = "), "milestone[2].txt"): "unknown key (did you mean 'text'?)",
        (line_of(text, "[[milestone]]", 2), "milestone[2].text"): "missing required key",
        (line_of(text, "[campain]"), "campain"): "unknown key (did you mean 'campaign'?)",
    }


def test_missing_required_keys_point_at_their_block(tmp_path):
    text = change('date = "start + 1w"\n', "")
    text = change('name = { zh-CN = "第一阶段", en = "Phase one" }\n', "", text)
    found = [(p.line, p.key, p.message) for p in problems(tmp_path, text)]
    assert found == [
        (line_of(text, "[[phase]]"), "phase[1].name", "missing required key"),
        (line_of(text, "[[milestone]]", 2), "milestone[2].date", "missing required key"),
    ]


def test_a_missing_campaign_table(tmp_path):
    text = "[[phase]]" + BASE.split("[[phase]]")[1]
    found = problems(tmp_path, text)
    assert found[0] == Problem(None, "campaign", "missing required table [campaign]")


@pytest.mark.parametrize(
    ("old", "new", "key", "message"),
    [
        (
            'audience = ["public"]',
            'audience = "public"',
            "milestone[2].audience",
            'must be a list like ["members", "public"] (got string)',
        ),
        ('id = "second"', "id = 2", "milestone[2].id", "must be a string (got integer)"),
        (
            'date = "start + 1w"',
            'date = "start + 1w"\nurgent = "yes"',
            "milestone[2].urgent",
            "must be true or false (got string)",
        ),
        (
            'date = "start + 1w"',
            'date = "start + 1w"\ntime = 9',
            "milestone[2].time",
            'must be a time like "09:00" (got integer)',
        ),
        (
            'date = "start + 1w"',
            'date = "start + 1w"\nsubtree = 101',
            "milestone[2].subtree",
            'must be an organisation code like "HX01" (got integer)',
        ),
        (
            'text = { zh-CN = "第二条", en = "Second" }',
            'text = "第二条"',
            "milestone[2].text",
            'must be a table by language, like { zh-CN = "…", en = "…" } (got string)',
        ),
        (
            'text = { zh-CN = "第二条", en = "Second" }',
            'text = { zh-CN = "第二条", en = 2 }',
            "milestone[2].text.en",
            "must be a string (got integer)",
        ),
        (
            "start = 2020-01-06",
            'start = "2020-01-06"',
            "campaign.start",
            "must be a TOML date without quotes, like 2010-04-06 (got string)",
        ),
        (
            'end = "start + 4w"',
            "end = 4",
            "phase[1].end",
            'must be a date or an offset like "start", "start + 90d", "start - 7d" or '
            '"start + 2w" (got integer)',
        ),
    ],
)
def test_wrong_types(tmp_path, old, new, key, message):
    text = change(old, new)
    problem = only(problems(tmp_path, text))
    assert (problem.line, problem.key, problem.message) == (
        line_of(text, new.splitlines()[-1]),
        key,
        message,
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"start + 3m"', "bad date or offset 'start + 3m': use a date or \"start\""),
        ('"tomorrow"', "bad date or offset 'tomorrow'"),
        ('"start + d"', "bad date or offset 'start + d'"),
        ('"2020-02-01"', "bad date '2020-02-01': write a date without quotes (2020-02-01)"),
        ("2020-02-01T09:00:00", "bad date 2020-02-01T09:00:00: a date without a time"),
    ],
)
def test_bad_dates_and_offsets(tmp_path, value, message):
    text = change('date = "start + 1w"', f"date = {value}")
    problem = only(problems(tmp_path, text))
    assert (problem.line, problem.key) == (line_of(text, f"date = {value}"), "milestone[2].date")
    assert problem.message.startswith(message)


@pytest.mark.parametrize("value", ["25:00", "9am", "09:60", "0900"])
def test_bad_times(tmp_path, value):
    text = change('date = "start"', f'date = "start"\ntime = "{value}"')
    problem = only(problems(tmp_path, text))
    assert (problem.line, problem.key) == (line_of(text, "time = "), "milestone[1].time")
    assert problem.message == f"bad time '{value}': use HH:MM, 24-hour, like \"09:00\""


def test_an_unknown_audience_word_on_its_own_line(tmp_path):
    text = change('audience = ["public"]', 'audience = [\n  "public",\n  "villagers",\n]')
    problem = only(problems(tmp_path, text))
    assert (problem.line, problem.key) == (line_of(text, '"villagers"'), "milestone[2].audience[2]")
    assert problem.message == (
        "unknown audience 'villagers' (expected secretaries, members, public, leaders)"
    )


def test_an_empty_audience(tmp_path):
    text = change('audience = ["members"]', "audience = []")
    problem = only(problems(tmp_path, text))
    assert (problem.line, problem.key) == (line_of(text, "audience = []"), "milestone[1].audience")
    assert problem.message.startswith("empty audience: name at least one of secretaries")


def test_a_language_left_out_falls_back_and_no_other_is_allowed(tmp_path):
    text = change(
        'text = { zh-CN = "第一条", en = "First" }', 'text = { zh-CN = "第一条", fr = "Premier" }'
    )
    text = change(
        'name = { zh-CN = "第一阶段", en = "Phase one" }', 'name = { en = "Phase one" }', text
    )
    text = change(
        'text = { zh-CN = "第二条", en = "Second" }', 'text = { zh-CN = " ", en = "x" }', text
    )
    found = [(p.line, p.key, p.message) for p in problems(tmp_path, text)]
    assert found == [
        (line_of(text, "fr = "), "milestone[1].text.fr", "unknown language (expected zh-CN, en)"),
        (line_of(text, 'zh-CN = " "'), "milestone[2].text.zh-CN", "must not be empty"),
    ]
    text = change('text = { zh-CN = "第一条", fr = "Premier" }', "text = {}", text)
    text = change('text = { zh-CN = " ", en = "x" }', 'text = { zh-CN = "第二条" }', text)
    found = [(p.line, p.key, p.message) for p in problems(tmp_path, text)]
    assert found == [
        (line_of(text, "text = {}"), "milestone[1].text", "no text: give at least one of zh-CN, en")
    ]
    loaded = load_campaign(write(tmp_path, text.replace("text = {}", 'text = { en = "First" }')))
    assert loaded.phases[0].name == {"zh-CN": "Phase one", "en": "Phase one"}
    assert loaded.milestones[1].text == {"zh-CN": "第二条", "en": "第二条"}


def test_duplicate_ids_of_milestones_and_phases(tmp_path):
    text = change('id = "second"', 'id = "first"')
    text += '\n[[phase]]\nid = "one"\nname = { zh-CN = "二", en = "two" }\nstart = "start"\n'
    first_milestone = line_of(text, 'id = "first"')
    first_phase = line_of(text, 'id = "one"')
    found = [(p.line, p.key, p.message) for p in problems(tmp_path, text)]
    assert found == [
        (
            line_of(text, 'id = "first"', 2),
            "milestone[2].id",
            f"duplicate id 'first' (first at line {first_milestone})",
        ),
        (
            line_of(text, 'id = "one"', 2),
            "phase[2].id",
            f"duplicate id 'one' (first at line {first_phase})",
        ),
    ]


def test_a_phase_that_ends_before_it_starts(tmp_path):
    text = change('end = "start + 4w"', 'end = "start - 1d"')
    problem = only(problems(tmp_path, text))
    assert (problem.line, problem.key, problem.message) == (
        line_of(text, "end = "),
        "phase[1].end",
        "ends on 2020-01-05 before it starts on 2020-01-06",
    )
    one_day = load(tmp_path, change('end = "start + 4w"', "end = 2020-01-06"))
    assert (one_day.phases[0].start, one_day.phases[0].end) == (date(2020, 1, 6),) * 2


def test_an_unknown_time_zone(tmp_path):
    text = change("start = 2020-01-06", 'start = 2020-01-06\ntimezone = "Asia/Beijing"')
    problem = only(problems(tmp_path, text))
    assert (problem.line, problem.key, problem.message) == (
        line_of(text, "timezone"),
        "campaign.timezone",
        "unknown time zone 'Asia/Beijing'",
    )


def test_a_text_longer_than_three_sms_segments(tmp_path):
    three = "好" * 201  # 3 × 67 UCS-2 units: the most that three segments hold
    fits = load(tmp_path, change('zh-CN = "第一条"', f'zh-CN = "{three}"'))
    assert fits.milestones[0].text["zh-CN"] == three
    text = change('zh-CN = "第一条"', f'zh-CN = "{three}好"')
    problem = only(problems(tmp_path, text))
    assert (problem.line, problem.key) == (line_of(text, "好好好"), "milestone[1].text.zh-CN")
    assert problem.message == "too long for SMS: 4 segments (202 characters, UCS-2); at most 3"


def test_ids_and_subtrees_must_be_codes(tmp_path):
    text = change('id = "first"', 'id = "first one"')
    text = change('date = "start + 1w"', 'date = "start + 1w"\nsubtree = "东坡/村"', text)
    found = [(p.line, p.key) for p in problems(tmp_path, text)]
    assert found == [
        (line_of(text, 'id = "first one"'), "milestone[1].id"),
        (line_of(text, "subtree"), "milestone[2].subtree"),
    ]


def test_all_problems_are_reported_together_in_line_order(tmp_path):
    text = change('end = "start + 4w"', 'end = "sometime"')
    text = change('audience = ["members"]', 'audience = ["members", "cadres"]', text)
    text = change('date = "start + 1w"', 'date = "start + 1w"\ntime = "noon"', text)
    text = change('en = "Second"', 'english = "Second"', text)
    text = change("start = 2020-01-06", 'start = 2020-01-06\ntimezone = "Nowhere"', text)
    path = write(tmp_path, text)
    with pytest.raises(CampaignError) as info:
        load_campaign(path)
    found = [(p.line, p.key) for p in info.value.problems]
    assert found == [
        (line_of(text, "Nowhere"), "campaign.timezone"),
        (line_of(text, "sometime"), "phase[1].end"),
        (line_of(text, "cadres"), "milestone[1].audience[2]"),
        (line_of(text, "noon"), "milestone[2].time"),
        (line_of(text, "english"), "milestone[2].text.english"),
    ]
    lines = str(info.value).splitlines()
    assert len(lines) == 5
    for line, (number, key) in zip(lines, found, strict=True):
        assert line.startswith(f"{path}:{number}: {key}: ")


SUBTABLES = '''
# [[milestone]] in a comment is not a block
[[milestone]]
id = "third"
date = "start + 2w"
audience = ["public"]
[milestone.text]
zh-CN = """第三条
[[milestone]]
id = "fake\\"""""
en = 'Third'

[[milestone]]
id = "fourth"
date = "start + 3w"
audience = ["public"]
text.zh-CN = "第四条"
text."en" = "Fourth"
"english" = "x"

[[milestone]]
id = 'fifth'
audience = [
  "public", # a comment with "quotes" and [brackets]
  "nobody",
]
text = { zh-CN = "第五条", en = "Fifth" }
'''


def test_lines_are_found_in_subtables_dotted_keys_and_around_multiline_strings(tmp_path):
    text = BASE + SUBTABLES
    found = [(p.line, p.key) for p in problems(tmp_path, text)]
    assert found == [
        (line_of(text, '"english"'), "milestone[4].english"),
        (line_of(text, "id = 'fifth'") - 1, "milestone[5].date"),  # its header
        (line_of(text, '"nobody"'), "milestone[5].audience[2]"),
    ]
    valid = text.split('[[milestone]]\nid = "fourth"')[0]
    third = load(tmp_path, valid).milestones[-1]
    assert (
        third.text["zh-CN"] == '第三条\n[[milestone]]\nid = "fake""'
    )  # an escaped quote, then one more before the closing three


def test_lines_are_found_in_an_inline_array_of_tables(tmp_path):
    text = (
        "milestone = [\n"
        '  { id = "a", date = "start", audience = ["public"], text = { zh-CN = "甲", en = "a" } },'
        "\n"
        '  { id = "b", date = "start", audience = [\n'
        '    "public",\n'
        '    "crowd",\n'
        '  ], text = { zh-CN = "乙", fr = "b" } },\n'
        "]\n"
    ) + BASE.split("[[milestone]]")[0]
    found = [(p.line, p.key) for p in problems(tmp_path, text)]
    assert found == [
        (line_of(text, '"crowd"'), "milestone[2].audience[2]"),
        (line_of(text, 'fr = "b"'), "milestone[2].text.fr"),
    ]


def test_a_phase_table_written_once_is_not_an_array(tmp_path):
    text = change("[[phase]]", "[phase]")
    problem = only(problems(tmp_path, text))
    assert (problem.line, problem.key) == (line_of(text, "[phase]"), "phase")
    assert problem.message == "must be an array of tables: write [[phase]] (got table)"


# --- current phase and what comes next ----------------------------------------------------


def test_current_phase_of_the_default():
    campaign = load_campaign()

    def phase_at(instant: datetime) -> str | None:
        found = current_phase(campaign, instant)
        return found.id if found else None

    assert phase_at(datetime(2010, 4, 5, 12, 0, tzinfo=UTC)) is None  # before the launch
    assert phase_at(at("2010-04-06", "00:00")) == "towards-90th"
    assert phase_at(datetime(2010, 10, 1, tzinfo=UTC)) == "towards-90th"
    assert phase_at(at("2011-07-01", "23:59")) == "towards-90th"  # the anniversary itself
    # 16:30 UTC on 1 July is already 2 July in Shanghai
    assert phase_at(datetime(2011, 7, 1, 15, 30, tzinfo=UTC)) == "towards-90th"
    assert phase_at(datetime(2011, 7, 1, 16, 30, tzinfo=UTC)) == "towards-congress"
    assert phase_at(at("2012-12-31", "23:00")) == "towards-congress"
    assert phase_at(at("2013-01-01", "00:00")) is None  # after the end
    with pytest.raises(ValueError, match="timezone-aware"):
        current_phase(campaign, datetime(2011, 1, 1))


def test_overlapping_and_open_ended_phases(tmp_path):
    text = BASE + (
        '\n[[phase]]\nid = "inner"\nname = { zh-CN = "内", en = "inner" }\n'
        'start = "start + 1w"\nend = "start + 2w"\n'
        '\n[[phase]]\nid = "later"\nname = { zh-CN = "后", en = "later" }\n'
        'start = "start + 6w"\n'
    )
    campaign = load(tmp_path, text)
    assert [p.id for p in campaign.phases] == ["one", "inner", "later"]
    assert campaign.phases[2].end is None
    days = ("2020-01-10", "2020-01-13", "2020-01-20", "2020-01-21", "2020-02-10", "2020-02-17")
    found = {}
    for day in (*days, "2099-01-01"):
        phase = current_phase(campaign, at(day))
        found[day] = phase.id if phase else None
    assert found == {
        "2020-01-10": "one",
        "2020-01-13": "inner",  # inside both: the one that started last
        "2020-01-20": "inner",
        "2020-01-21": "one",
        "2020-02-10": None,  # between "one" (to 2020-02-03) and "later"
        "2020-02-17": "later",
        "2099-01-01": "later",  # open-ended
    }


def test_upcoming_milestones_of_the_default():
    campaign = load_campaign()

    def ids(instant: datetime, limit: int = 5) -> list[str]:
        return [m.id for m in upcoming(campaign, instant, limit)]

    first_five = ["launch", "themes", "commitments", "public-invite", "commentary"]
    after_launch = [*first_five[1:], "evaluation-2010"]
    assert ids(datetime(2009, 1, 1, tzinfo=UTC)) == first_five
    assert ids(at("2010-04-06")) == first_five  # a milestone due now is still to come
    assert ids(at("2010-04-06") + timedelta(seconds=1)) == after_launch
    assert ids(datetime(2010, 4, 6, 1, 0, 1, tzinfo=UTC)) == after_launch  # 09:00:01 there
    assert ids(datetime(2010, 4, 6, 0, 59, tzinfo=UTC)) == first_five
    assert ids(at("2011-06-30"), limit=10) == ["anniversary-90", "towards-congress", "summary"]
    assert ids(at("2011-06-30"), limit=2) == ["anniversary-90", "towards-congress"]
    assert ids(at("2011-06-30"), limit=0) == []
    assert ids(datetime(2013, 1, 1, tzinfo=UTC)) == []  # after the end
    with pytest.raises(ValueError, match="timezone-aware"):
        upcoming(campaign, datetime(2011, 1, 1))


# --- the timeline -------------------------------------------------------------------------


def test_the_timeline_lists_phases_and_milestones_in_date_order():
    campaign = load_campaign()
    lines = timeline(campaign)
    assert len(lines) == len(campaign.phases) + len(campaign.milestones)
    stamps = [line[:16].rstrip() for line in lines]
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2})?", s) for s in stamps)
    assert stamps == sorted(stamps)
    assert lines[0].startswith("2010-04-06        阶段 towards-90th（2010-04-06 至 2011-07-01）：")
    assert lines[1].startswith("2010-04-06 09:00  launch → 书记、党员、领导：创先争优活动启动")
    anniversary = next(i for i, line in enumerate(lines) if " anniversary-90 " in line)
    assert lines[anniversary].startswith("2011-07-01 09:00")
    assert lines[anniversary + 1].startswith("2011-07-02        阶段 towards-congress")

    english = timeline(campaign, "en")
    assert english[0] == (
        "2010-04-06        phase towards-90th (2010-04-06 to 2011-07-01): "
        "Towards the Party's 90th anniversary"
    )
    assert "anniversary-90 → secretaries, members, public, leaders: " in english[anniversary]
    assert timeline(campaign, "fr") == lines  # an unknown language falls back to zh-CN


def test_the_timeline_orders_a_file_written_out_of_order(tmp_path):
    text = OFFSETS + (
        '\n[[phase]]\nid = "open"\nname = { zh-CN = "开放", en = "Open" }\nstart = "start"\n'
    )
    lines = timeline(load(tmp_path, text), "en")
    assert [line.split()[2] for line in lines] == [
        "minus-a-week",
        "open",
        "on-start",
        "plus-two-weeks",
        "plus-90-days",
    ]
    assert lines[0] == "2020-02-24 07:05  minus-a-week (urgent) → members: three"
    assert lines[1] == "2020-03-02        phase open (2020-03-02 to open-ended): Open"
    assert lines[4] == "2020-05-31 18:30  plus-90-days → public (HX01 and below): two"
