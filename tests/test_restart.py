"""Killing `grassroots serve` with SIGKILL in the middle of a 10,000-recipient broadcast, then
starting it again: every recipient gets the message, duplicates are at most the messages the
killed process held, and that count is visible. SIGTERM then stops it cleanly."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

RECIPIENTS = 10_000
DEADLINE = 90  # seconds for each wait below; the whole test takes about 15 s here


def grassroots(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", "config.toml", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def delivered(*outputs: Path) -> Counter[str]:
    """Deliveries per recipient, from the console channel's lines: [→ +86138****1234] text.
    The last four digits are kept by the masking and are unique among the recipients."""
    pattern = re.compile(r"^\[→ \+86138\*+(\d{4})\] ")
    return Counter(
        m.group(1)
        for out in outputs
        for line in out.read_text().splitlines()
        if (m := pattern.match(line))
    )


def test_sigkill_mid_broadcast_then_restart_delivers_to_everyone(tmp_path: Path):
    db = tmp_path / "bot.db"
    env = {**os.environ, "GRASSROOTS_DATABASE_URL": f"sqlite+aiosqlite:///{db}"}
    (tmp_path / "config.toml").write_text(
        '[outbox]\nquiet_hours = ""\nclaim_lease = "2s"\n[outbox.rate]\nconsole = 3000\n'
        '[scheduler]\nenabled = false\n[log]\nlevel = "WARNING"\n'
    )
    (tmp_path / "orgs.csv").write_text("code,name,kind,parent_code\nV1,东坡村党支部,branch,\n")
    people = ["org_code,name,phone,role"] + [
        f"V1,党员{i},1380001{i:04d},member" for i in range(RECIPIENTS)
    ]
    (tmp_path / "people.csv").write_text("\n".join(people) + "\n")
    grassroots(tmp_path, env, "import-orgs", "orgs.csv")
    grassroots(tmp_path, env, "import-people", "people.csv")
    sent = grassroots(
        tmp_path,
        env,
        "broadcast",
        "send",
        "--org",
        "V1",
        "--role",
        "member",
        "--text",
        "周五晚七点开党员大会",
    )
    broadcast = sent.stdout.strip().splitlines()[-1]

    first_out, second_out = tmp_path / "first.out", tmp_path / "second.out"
    serve = [
        sys.executable,
        "-m",
        "bot",
        "--config",
        "config.toml",
        "serve",
        "--port",
        "0",
        "--print-sms",
    ]
    with first_out.open("w") as out:
        first = subprocess.Popen(
            serve, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.DEVNULL
        )
        try:
            wait_until(
                lambda: sum(delivered(first_out).values()) >= RECIPIENTS // 4,
                "a quarter of the broadcast",
            )
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
    before = sum(delivered(first_out).values())
    assert before < RECIPIENTS, "killed too late to test anything"

    def status() -> dict[str, int]:
        with sqlite3.connect(db) as conn:
            return dict(conn.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status"))

    with second_out.open("w") as out:
        second = subprocess.Popen(
            serve, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.PIPE, text=True
        )
        try:
            wait_until(lambda: status().get("sent", 0) == RECIPIENTS, "every message sent")
        finally:
            second.send_signal(signal.SIGTERM)
            _, errors = second.communicate(timeout=30)
    assert second.returncode in (0, -signal.SIGTERM), errors

    counts = delivered(first_out, second_out)
    assert len(counts) == RECIPIENTS  # everyone got it
    duplicates = sum(n - 1 for n in counts.values())
    report = grassroots(tmp_path, env, "--lang", "en", "broadcast", "status", broadcast).stdout
    reclaims = int(re.search(r"possible duplicates (\d+)", report).group(1))
    print(f"killed after {before} deliveries; {duplicates} duplicates, {reclaims} reclaimed")
    assert f"sent {RECIPIENTS}," in report and "waiting 0" in report
    assert duplicates <= reclaims <= 16 * 4  # at most one claimed batch was in the dead process
