"""The `grassroots` command end to end: real subprocesses on a SQLite file in tmp_path."""

from __future__ import annotations

import csv
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import httpx
import pytest

from bot.cli.demo import page_url, pages
from bot.config import Config
from bot.texts import Texts, texts_for

TIMEOUT = 60  # seconds for any one command; they take well under one
ZH = texts_for("zh-CN")
EN = texts_for("en")
DEMO = resources.files("bot") / "demo"


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRASSROOTS_")}
    env |= {
        "GRASSROOTS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        "PYTHONIOENCODING": "utf-8",
    }
    return env | extra


def grassroots(
    tmp_path: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=tmp_path,
        env=env or environment(tmp_path),
        timeout=TIMEOUT,
    )


def count(tmp_path: Path, sql: str) -> int:
    with sqlite3.connect(tmp_path / "x.db") as db:
        return db.execute(sql).fetchone()[0]


def demo_rows(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader((DEMO / name).read_text("utf-8").splitlines()))


COMMANDS = ("migrate", "import-orgs", "import-people", "demo", "chat", "serve")


def test_console_script_help(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "grassroots"
    assert script.is_file() and os.access(script, os.X_OK)
    result = subprocess.run(
        [str(script), "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment(tmp_path),
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: grassroots")
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s", result.stdout, re.M), command
    assert grassroots(tmp_path, "--help").stdout == result.stdout


def test_demo_loads_and_reloads(tmp_path: Path) -> None:
    orgs, people = demo_rows("orgs.csv"), demo_rows("people.csv")
    outputs = []
    for _ in range(2):
        result = grassroots(tmp_path, "demo")
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
        for org in orgs:
            assert re.search(rf"^\s+{org['组织代码']}\s+{org['名称']}", result.stdout, re.M)
        assert "+8613800001101" in result.stdout
        assert count(tmp_path, "SELECT count(*) FROM organisations") == len(orgs)
        assert count(tmp_path, "SELECT count(*) FROM people") == len(people)
        assert count(tmp_path, "SELECT count(*) FROM roles") == len(people)
    assert outputs[0] == outputs[1]


def test_chat_from_a_pipe(tmp_path: Path) -> None:
    assert grassroots(tmp_path, "demo").returncode == 0
    result = grassroots(
        tmp_path, "chat", "--from", "13800001101", stdin="汇报 #服务 看望孤寡老人\n查询\nTD\n"
    )
    assert result.returncode == 0, result.stderr
    items = ZH.get("list.separator").join(
        ZH.get(
            "record.item",
            label=ZH.get(f"category.short.{c}"),
            week=int(c == "service"),
            total=int(c == "service"),
        )
        for c in ("study", "achievement", "service", "discipline", "integrity")
    )
    assert result.stdout.splitlines() == [
        ZH.get("deed.recorded", category=ZH.get("category.service"), week=1, streak=1),
        ZH.get("record.summary", week=1, total=1, items=items),
        ZH.get("optout.stopped"),
    ]
    assert (
        count(
            tmp_path,
            "SELECT count(*) FROM addresses "
            "WHERE value = '+8613800001101' AND opted_out_at IS NOT NULL",
        )
        == 1
    )


@pytest.mark.parametrize("number", ["12345", "not-a-phone", "+86 138"])
def test_chat_from_an_invalid_number(tmp_path: Path, number: str) -> None:
    result = grassroots(tmp_path, "chat", "--from", number, stdin="查询\n")
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"not a valid phone number: {number}" in result.stderr
    assert "--from" in result.stderr


CONFIG_CASES = {
    "unknown key": (b'[bot]\ncolour = "red"\n', ("bot.colour", "unknown key")),
    "wrong type": (b'[server]\nport = "8080"\n', ("server.port", "integer")),
    "bad value": (b'[log]\nlevel = "LOUD"\n', ("log.level", "DEBUG")),
    "secret in file": (b'secret_key = "s3cret"\n', ("secret_key", "GRASSROOTS_SECRET_KEY")),
    "invalid TOML": (b"[bot\n", ("invalid TOML", "line 1")),
    "not UTF-8": (b'[bot]\nlanguage = "\xff"\n', ("not UTF-8",)),
    "missing file": (None, ("cannot read",)),
}


@pytest.mark.parametrize("case", CONFIG_CASES)
def test_bad_config_file(tmp_path: Path, case: str) -> None:
    content, fragments = CONFIG_CASES[case]
    if content is not None:
        (tmp_path / "bot.toml").write_bytes(content)
    result = grassroots(tmp_path, "--config", "bot.toml", "demo")
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert "bot.toml:" in line
    for fragment in fragments:
        assert fragment in line
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize(
    "args",
    [
        ("migrate",),
        ("import-orgs", "o.csv"),
        ("demo",),
        ("chat", "--from", "13800001101"),
        ("serve",),
    ],
)
def test_every_command_checks_config_from_environment(tmp_path: Path, args: tuple[str]) -> None:
    (tmp_path / "conf").mkdir()  # $GRASSROOTS_CONFIG names something that is not a file
    result = grassroots(
        tmp_path, *args, stdin="", env=environment(tmp_path, GRASSROOTS_CONFIG="conf")
    )
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert "conf:" in line and "cannot read" in line


@pytest.mark.parametrize("url", ["mysql://x", "postgres://u@127.0.0.1/db", "sqlite:///x.db"])
def test_bad_database_url(tmp_path: Path, url: str) -> None:
    result = grassroots(tmp_path, "demo", env=environment(tmp_path, GRASSROOTS_DATABASE_URL=url))
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert "GRASSROOTS_DATABASE_URL" in line and "sqlite+aiosqlite://" in line


def rejected(result: subprocess.CompletedProcess[str], file: str) -> dict[int, str]:
    """The `FILE:LINE: reason` lines on stderr (log lines may come before them)."""
    found = re.findall(rf"^{re.escape(file)}:(\d+): (.+)$", result.stderr, re.M)
    return {int(line): reason for line, reason in found}


def summary(result: subprocess.CompletedProcess[str]) -> tuple[int, int, int]:
    match = re.search(r"(\d+) imported, (\d+) rejected of (\d+) rows", result.stdout)
    assert match, result.stdout
    return tuple(int(n) for n in match.groups())  # type: ignore[return-value]


def test_import_reports_bad_rows(tmp_path: Path) -> None:
    (tmp_path / "orgs.csv").write_text(
        "组织代码,名称,类型,上级代码\n"
        "HX,和兴县委,县委,\n"
        "HX 01,青山镇党委,乡镇,HX\n"
        "HX0101,东坡村党支部,党支部,HX99\n"
        "HX02,绿水镇党委,乡镇,HX\n",
        encoding="gb18030",
    )
    result = grassroots(tmp_path, "--lang", "en", "import-orgs", "orgs.csv")
    assert result.returncode == 1
    assert rejected(result, "orgs.csv").keys() == {3, 4}
    assert "HX99" in rejected(result, "orgs.csv")[4]
    assert summary(result) == (2, 2, 4)
    assert count(tmp_path, "SELECT count(*) FROM organisations") == 2

    (tmp_path / "people.csv").write_text(
        "org_code,name,phone,role\n"
        "HX02,李秀英,138 0000 1101,member\n"
        "HX0101,王志强,13800001102,member\n"
        "HX02,刘桂兰,1234,member\n",
        encoding="utf-8-sig",
    )
    result = grassroots(tmp_path, "--lang", "en", "import-people", "people.csv")
    assert result.returncode == 1
    assert rejected(result, "people.csv").keys() == {3, 4}
    assert summary(result) == (1, 2, 3)
    assert count(tmp_path, "SELECT count(*) FROM addresses WHERE value = '+8613800001101'") == 1


def test_import_clean_files_exits_zero(tmp_path: Path) -> None:
    orgs, people = demo_rows("orgs.csv"), demo_rows("people.csv")
    for command, file, rows in (
        ("import-orgs", "orgs.csv", orgs),
        ("import-people", "people.csv", people),
    ):
        with resources.as_file(DEMO / file) as path:
            result = grassroots(tmp_path, "--lang", "en", command, str(path))
        assert result.returncode == 0, result.stderr
        assert rejected(result, str(path)) == {}
        assert summary(result) == (len(rows), 0, len(rows))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("组织代码,姓名,角色\nHX,赵明,leader\n", "missing column phone"),
    ],
)
def test_import_unusable_file(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / "people.csv").write_text(content, encoding="utf-8")
    result = grassroots(tmp_path, "--lang", "en", "import-people", "people.csv")
    assert result.returncode == 2
    assert re.search(rf"^error: people.csv: .*{message}", result.stderr, re.M)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running(tmp_path: Path, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`grassroots ARGS --host 127.0.0.1 --port P` in a subprocess, once /healthz answers 200:
    (the process, P); its stdout in serve.out, its log in serve.log. Killed if the test leaves
    it running."""
    port, log_path = free_port(), tmp_path / "serve.log"
    command = [*args, "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("w") as log, (tmp_path / "serve.out").open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "bot", *command],
            cwd=tmp_path,
            env=environment(tmp_path),
            stdout=out,
            stderr=log,
        )
    try:
        response = None
        deadline = time.monotonic() + 30
        with httpx.Client(trust_env=False, timeout=2) as client:
            while response is None and time.monotonic() < deadline:
                assert server.poll() is None, log_path.read_text("utf-8")
                try:
                    response = client.get(f"http://127.0.0.1:{port}/healthz")
                except httpx.TransportError:
                    time.sleep(0.1)
        assert response is not None, "server did not answer within 30 s"
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"status": "ok", "database": "sqlite", "channels": ["console"]}
        yield server, port
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=TIMEOUT)


def stop(server: subprocess.Popen[bytes], how: signal.Signals = signal.SIGTERM) -> int:
    server.send_signal(how)
    return server.wait(timeout=TIMEOUT)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_serve_healthz(tmp_path: Path, how: signal.Signals) -> None:
    with running(tmp_path, "serve") as (server, _):
        assert stop(server, how) == 0  # a stop asked for is a clean one
    text = (tmp_path / "serve.log").read_text("utf-8")
    assert "Application shutdown complete" in text
    assert "Aborted" not in text and "Traceback" not in text


def page_lines(texts: Texts, port: int) -> list[str]:
    base = f"http://127.0.0.1:{port}"
    return [
        texts.get("cli.demo.url_public", url=f"{base}/"),
        texts.get("cli.demo.url_sandbox", url=f"{base}/sandbox"),
        texts.get("cli.demo.url_console", url=f"{base}/console"),
        texts.get("cli.demo.stop"),
    ]


def test_demo_serve_loads_then_serves_and_prints_the_urls(tmp_path: Path) -> None:
    loaded = grassroots(tmp_path, "demo").stdout  # what `demo` alone prints, on another db
    (tmp_path / "x.db").unlink()
    with running(tmp_path, "demo", "--serve") as (server, port):
        assert count(tmp_path, "SELECT count(*) FROM roles") == len(demo_rows("people.csv"))
        assert stop(server) == 0
    text = (tmp_path / "serve.out").read_text("utf-8")
    # The demo's own listing, then the pages' URLs, each on a line of its own.
    assert text.startswith(loaded)
    assert text.removeprefix(loaded).splitlines() == page_lines(ZH, port)


def test_demo_serve_serves_a_loaded_demo_as_it_is(tmp_path: Path) -> None:
    assert grassroots(tmp_path, "demo").returncode == 0
    with sqlite3.connect(tmp_path / "x.db") as db:  # as the sandbox or the console may have
        db.execute("UPDATE organisations SET theme = '乡村振兴' WHERE code = 'HX0101'")
    env = environment(tmp_path)
    with running(tmp_path, "--lang", "en", "demo", "--serve") as (server, port):
        assert stop(server) == 0
    text = (tmp_path / "serve.out").read_text("utf-8")
    url = env["GRASSROOTS_DATABASE_URL"]
    assert text.splitlines()[0] == EN.get("cli.demo.already", url=url)
    assert re.search(r"^\s+HX0101\s+东坡村党支部（乡村振兴）$", text, re.M)  # not imported again
    assert all(line in text.splitlines() for line in page_lines(EN, port))
    # `demo` alone loads the files again, as it always did.
    assert "（脱贫致富）" in grassroots(tmp_path, "demo").stdout


def test_demo_host_and_port_need_serve(tmp_path: Path) -> None:
    result = grassroots(tmp_path, "demo", "--port", "8000")
    assert result.returncode == 2
    assert result.stderr.endswith(f"Error: {ZH.get('cli.demo.serve_only')}\n")
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8080/sandbox"),
        ("0.0.0.0", "http://127.0.0.1:8080/sandbox"),  # every interface: this machine's own
        ("::", "http://[::1]:8080/sandbox"),
        ("fe80::1", "http://[fe80::1]:8080/sandbox"),
        ("demo.example", "http://demo.example:8080/sandbox"),
    ],
)
def test_demo_serve_urls_open_in_a_browser(host: str, url: str) -> None:
    assert page_url(host, 8080, "/sandbox") == url


def test_demo_serve_prints_only_the_pages_web_turns_on() -> None:
    every = ["/", "/sandbox", "/console"]
    assert [path for _, path in pages(Config())] == every
    quiet = Config.model_validate({"web": {"sandbox": False, "console": False}})
    assert pages(quiet) == [("cli.demo.url_public", "/")]
