"""Poll burst benchmark: a poll's answers through the whole in-process pipeline vs a bare insert.

    python bench/poll_burst.py [--villagers 100000] [--answers 100000] [--concurrency 64]
                               [--database sqlite|postgresql]

A county (county > township > branch) gets N villagers (Role.PUBLIC) on its branch through
import_roster (not timed). A poll is created "scheduled" and opened with bot.polls.open_poll,
which enqueues one question per villager (timed). Then the answers go through the router,
as `grassroots serve` handles them, at most --concurrency in flight: mixed forms ("1", "２",
"满意", "3 路灯修好了"), a tenth with a comment, and a twentieth a second answer from someone
who answered before (half change their choice, half repeat it in another form). The bare
insert writes the same ballots (the same voter hashes, choices and order, an upsert so a
second answer replaces the first) into a fresh SQLite file with the same ballots table and
pragmas (WAL, synchronous=FULL), with one aiosqlite executemany in one transaction. Then the
poll's results (repos.polls.tally) are timed against one bare GROUP BY over the same ballots
on the same file, each the best of a few runs. Both run in this process, one after the
other.

The bare loop is the everyday idiom bench/ingest.py compares deeds with: one INSERT (the
same upsert) and one COMMIT per answer, in answer order, on one connection with the same
durability (SQLite: WAL, synchronous=FULL; PostgreSQL: the server's synchronous_commit).
The pipeline's answers/s over the loop's rows/s should be at least 0.5.

`--database postgresql` runs the pipeline in a fresh schema of $GRASSROOTS_BENCH_PG
(default postgresql+asyncpg://postgres@127.0.0.1:5432/test) and both bare runs in a second
schema, on a table made LIKE the pipeline's ballots (its indexes, no foreign keys); the
reference GROUP BY is then the engine's. Ends with `bench poll_burst: ratio X (target 0.1);
loop ratio Y (target 0.5)`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from bot.app import App
from bot.config import load_config
from bot.messages import Address, AddressKind, Channel, Inbound
from bot.polls import open_poll, voter_hash
from bot.texts import texts_for
from storage.models import Role
from storage.people import RosterEntry
from storage.polls import Poll

TARGET = 0.1  # the pipeline's answers/s over the bare insert's rows/s
LOOP_TARGET = 0.5  # the pipeline's answers/s over the bare loop's (a commit per answer)
PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
SECRET = "bench-" + "k" * 40
UPSERT = (
    "INSERT INTO ballots (poll_id, voter, choice, org_id) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (poll_id, voter) DO UPDATE SET choice = excluded.choice"
)
SQLITE_UPSERT = re.sub(r"\$\d", "?", UPSERT)
TALLY_TARGET = 2.0  # the results within twice one bare GROUP BY
MEMORY_TARGET_MB = 300
IMPORT_CHUNK = 5_000  # villagers per import_roster transaction
CHANGE_EVERY = 20  # one answer in 20 is a person's second
COMMENT_EVERY = 10  # one answer in 10 carries a comment
CHANGE_GAP = 1_000  # first answers between a person's first and second answer
REPEATS = 5  # runs of each query; the best counts
COMMENTS = ("路灯修好了", "水渠还没修，希望尽快", "村务公开做得好", "环境卫生要加强")
T = TypeVar("T")


def phone(i: int) -> str:
    return f"+86139{i:08d}"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def progress(label: str, done: int, total: int) -> None:
    end = "\n" if done >= total else ""
    print(f"\r{label}: {done}/{total}", end=end, file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class Answer:
    n: int  # position in the stream, and the message's provider id
    voter: int  # villager index
    choice: int  # 0-based option this text picks
    body: str
    second: bool  # the person answered before
    comment: bool


def answer_text(n: int, choice: int, options: tuple[str, ...]) -> tuple[str, bool]:
    """The text a villager sends for `choice`, in one of the forms people use."""
    digit = str(choice + 1)
    if n % COMMENT_EVERY == 0:
        return f"{digit} {COMMENTS[n // COMMENT_EVERY % len(COMMENTS)]}", True
    form = n % 3
    if form == 0:
        return digit, False
    if form == 1:
        return chr(ord("０") + choice + 1), False  # full width, as many phones type it
    return options[choice], False


def first_choice(voter: int) -> int:
    # Uneven on purpose (60/30/10), so a swapped count would show.
    bucket = voter * 37 % 10
    return 0 if bucket < 6 else 1 if bucket < 9 else 2


def plan(villagers: int, answers: int, options: tuple[str, ...]) -> list[Answer]:
    """The answer stream: first answers in villager order, each second answer CHANGE_GAP
    first answers after that person's first (or at the end)."""
    seconds = answers // CHANGE_EVERY
    firsts = answers - seconds
    if firsts > villagers:
        raise SystemExit(f"--answers {answers} needs at least {firsts} villagers")
    step = firsts // seconds if seconds else 0
    twice = {k * step for k in range(seconds)}
    due: dict[int, list[int]] = {}
    stream: list[Answer] = []

    def add(voter: int, second: bool) -> None:
        choice = first_choice(voter)
        if second and voter // step % 2 == 0:
            choice = (choice + 1) % len(options)  # a change; the others repeat the answer
        body, comment = answer_text(len(stream), choice, options)
        stream.append(Answer(len(stream), voter, choice, body, second, comment))

    for voter in range(firsts):
        add(voter, second=False)
        if voter in twice:
            due.setdefault(voter + CHANGE_GAP, []).append(voter)
        for earlier in due.pop(voter, []):
            add(earlier, second=True)
    for later in sorted(due):
        for earlier in due[later]:
            add(earlier, second=True)
    return stream


async def seed(app: App, villagers: int, now: datetime) -> tuple[int, list[int]]:
    """County > township > branch, and the villagers of the branch. Returns the branch's
    id and each villager's person id."""
    await app.repos.orgs.upsert_many(
        [
            {"code": "C", "name": "县委", "kind": "county"},
            {"code": "C01", "name": "青山镇党委", "kind": "township", "parent_code": "C"},
            {"code": "C0101", "name": "东坡村党支部", "kind": "branch", "parent_code": "C01"},
        ],
        now,
    )
    branch = {o.code: o.id for o in await app.repos.orgs.all()}["C0101"]
    people: list[int] = []
    for start in range(0, villagers, IMPORT_CHUNK):
        stop = min(villagers, start + IMPORT_CHUNK)
        entries = [
            RosterEntry(branch, f"村民{i}", Address(AddressKind.SMS, phone(i)), Role.PUBLIC)
            for i in range(start, stop)
        ]
        people += await app.repos.people.import_roster(entries, now)
        progress("importing villagers", stop, villagers)
    return branch, people


async def best_of(run: Callable[[], Awaitable[T]]) -> tuple[float, T]:
    best, result = float("inf"), None
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = await run()
        best = min(best, time.perf_counter() - start)
    assert result is not None
    return best, result


async def push(app: App, poll: Poll, stream: list[Answer], concurrency: int) -> Counter[str]:
    """Every answer through the router; returns a count of replies that were not the
    expected thanks (empty when all were)."""
    # The direct reply echoes the option read (poll.echo.*): one reply per option.
    zh = texts_for("zh-CN")
    thanks = [zh.get("poll.echo.new", code=poll.code, option=o) for o in poll.options]
    changed = [zh.get("poll.echo.changed", code=poll.code, option=o) for o in poll.options]
    kept = texts_for("zh-CN").get("poll.comment_kept")
    # A second answer waits until the first is handled, so the last answer is the one
    # that counts (CHANGE_GAP makes the wait rare).
    handled = {a.voter: asyncio.Event() for a in stream if a.second}
    wrong: Counter[str] = Counter()
    queue: asyncio.Queue[Answer] = asyncio.Queue()
    for item in stream:
        queue.put_nowait(item)

    async def worker() -> None:
        while not queue.empty():
            answer = queue.get_nowait()
            if answer.second:
                await handled[answer.voter].wait()
            replies = await app.router.handle(
                Inbound(
                    Channel.SMS,
                    f"SM{answer.n:032d}",
                    Address(AddressKind.SMS, phone(answer.voter)),
                    answer.body,
                    datetime.now(UTC),
                )
            )
            echo = (changed if answer.second else thanks)[answer.choice]
            expected = echo + (kept if answer.comment else "")
            if [r.body for r in replies] != [expected]:
                wrong[replies[0].body if replies else "(no reply)"] += 1
            if not answer.second and answer.voter in handled:
                handled[answer.voter].set()
            if answer.n % 5_000 == 0:
                progress("answering", answer.n, len(stream))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    progress("answering", len(stream), len(stream))
    return wrong


async def check_pipeline(app: App, poll: Poll, stream: list[Answer]) -> list[str]:
    """What the database holds after the burst, against what was sent."""
    errors: list[str] = []
    final = {a.voter: a.choice for a in stream}  # the last answer of each person
    expected = [0] * len(poll.options)
    for choice in final.values():
        expected[choice] += 1
    tally = await app.repos.polls.tally(poll)
    if list(tally.counts) != expected or tally.total != len(final):
        errors.append(f"tally {list(tally.counts)} (total {tally.total}), sent {expected}")
    if tally.participants != len(final):
        errors.append(f"participants {tally.participants}, sent by {len(final)} people")
    db = app.repos.db
    comments = len(await app.repos.comments.for_orgs([poll.org_id], limit=10**9))
    if comments != sum(a.comment for a in stream):
        errors.append(f"comments stored {comments}, sent {sum(a.comment for a in stream)}")
    rows = await db.fetch(
        "SELECT status, handler, COUNT(*) AS n FROM inbound_messages GROUP BY status, handler"
    )
    handlers = {(r["status"], r["handler"]): r["n"] for r in rows}
    sent = {
        ("handled", "poll.answer"): sum(not a.comment for a in stream),
        ("handled", "poll.comment"): sum(a.comment for a in stream),
    }
    if handlers != sent:
        errors.append(f"messages by (status, handler) {handlers}, sent {sent}")
    kept = await db.fetchval(
        "SELECT COUNT(*) FROM inbound_messages WHERE body <> :marker", {"marker": f"[{poll.code}]"}
    )
    if kept:
        errors.append(f"{kept} counted answers still hold their text in the message log")
    return errors


async def run_pipeline(url: str, villagers: int, answers: int, concurrency: int) -> dict[str, Any]:
    config = load_config(env={"GRASSROOTS_DATABASE_URL": url, "GRASSROOTS_SECRET_KEY": SECRET})
    app = await App.open(config)
    out: dict[str, Any] = {"errors": []}
    try:
        now = datetime.now(UTC)
        seed_start = time.perf_counter()
        branch, people = await seed(app, villagers, now)
        out["seed_s"] = time.perf_counter() - seed_start
        zh, en = texts_for("zh-CN"), texts_for("en")
        poll = await app.repos.polls.create(
            org_id=branch,
            question="您对本村今年的村务公开满意吗？",
            options=zh.get("poll.default_options").split("/"),
            options_en=en.get("poll.default_options").split("/"),
            audience="public",
            opens_at=now,
            closes_at=now + timedelta(days=config.participation.poll_days),
            status="scheduled",
            now=now,
            source="bench:poll_burst",
        )
        start = time.perf_counter()
        reached = await open_poll(app.repos, poll, now, config.zone, config.bot.language)
        out["open_s"] = time.perf_counter() - start
        queued = await app.repos.db.fetchval("SELECT COUNT(*) FROM outbox")
        if reached != villagers or queued != villagers:
            out["errors"].append(f"open_poll reached {reached}, queued {queued} of {villagers}")
        opened = await app.repos.polls.get(poll.id)
        assert opened is not None and opened.status == "open", opened

        stream = plan(villagers, answers, opened.options)
        start = time.perf_counter()
        wrong = await push(app, opened, stream, concurrency)
        out["pipeline_s"] = time.perf_counter() - start
        out["errors"] += [f"{n} replies were {body!r}" for body, n in wrong.items()]

        # While open the answers are sealed: the tally opens each (the chat shows no
        # figures then; turnout and `--force` read it). Then the poll closes: the answers
        # are written out shuffled (timed), and the results are read as after any close.
        out["open_tally_s"], _ = await best_of(lambda: app.repos.polls.tally(opened))
        await app.repos.polls.move(opened.id, "open", "closed")
        start = time.perf_counter()
        await app.repos.polls.publish(opened)
        out["publish_s"] = time.perf_counter() - start
        out["tally_s"], tally = await best_of(lambda: app.repos.polls.tally(opened))
        out["tally"] = list(tally.counts)
        # For reference: the bare query through the engine's own connection.
        out["engine_group_by_s"], _ = await best_of(
            lambda: app.repos.db.fetch(
                "SELECT choice, COUNT(*) AS n FROM ballots WHERE poll_id = :p GROUP BY choice",
                {"p": opened.id},
            )
        )
        if url.startswith("sqlite"):
            async with aiosqlite.connect(url.split(":///", 1)[1]) as conn:

                async def group_by() -> list[Any]:
                    return list(
                        await conn.execute_fetchall(
                            "SELECT choice, COUNT(*) FROM ballots WHERE poll_id = ?"
                            " GROUP BY choice",
                            (opened.id,),
                        )
                    )

                out["group_by_s"], grouped = await best_of(group_by)
                ddl = await conn.execute_fetchall(
                    "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'ballots'"
                )
            out["ddl"] = next(iter(ddl))[0]
        else:  # the reference is the engine's own (asyncpg, one prepared statement)
            out["group_by_s"] = out["engine_group_by_s"]
            grouped = [
                (r["choice"], r["n"])
                for r in await app.repos.db.fetch(
                    "SELECT choice, COUNT(*) AS n FROM ballots WHERE poll_id = :p GROUP BY choice",
                    {"p": opened.id},
                )
            ]
        if sorted(grouped) != [(c, n) for c, n in enumerate(tally.counts) if n]:
            out["errors"].append(f"GROUP BY {sorted(grouped)} differs from the tally")
        out["errors"] += await check_pipeline(app, opened, stream)
        # ru_maxrss is a high-water mark: read it before the bare phase can raise it.
        out["peak_mb"] = rss_mb()

        key = app.router.settings.secret_key
        out["ballots"] = [
            (opened.id, voter_hash(key, opened.id, people[a.voter]), a.choice, None) for a in stream
        ]
        out["firsts"] = sum(not a.second for a in stream)
        out["changes"] = sum(a.second and a.choice != first_choice(a.voter) for a in stream)
        out["comments"] = sum(a.comment for a in stream)
    finally:
        await app.close()
    return out


async def run_bare(db_path: Path, ddl: str, ballots: list[tuple[Any, ...]]) -> tuple[float, Any]:
    """The same ballots, in the same order, into the same table: one executemany, one
    COMMIT. A second answer replaces the first, as in the pipeline. Foreign keys are off
    (sqlite3's default), so the table needs no polls table beside it."""
    async with aiosqlite.connect(db_path) as conn:
        for pragma in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL"):
            await conn.execute(pragma)
        await conn.execute(ddl)
        await conn.commit()
        start = time.perf_counter()
        await conn.executemany(SQLITE_UPSERT, ballots)
        await conn.commit()
        elapsed = time.perf_counter() - start
        grouped = await conn.execute_fetchall(
            "SELECT choice, COUNT(*) FROM ballots GROUP BY choice ORDER BY choice"
        )
    return elapsed, [tuple(r) for r in grouped]


async def run_bare_loop(db_path: Path, ddl: str, ballots: list[tuple[Any, ...]]) -> float:
    """The same ballots, one upsert and one COMMIT each, as the aiosqlite idiom goes."""
    async with aiosqlite.connect(db_path) as conn:
        for pragma in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL"):
            await conn.execute(pragma)
        await conn.execute(ddl)
        await conn.commit()
        start = time.perf_counter()
        for ballot in ballots:
            await conn.execute(SQLITE_UPSERT, ballot)
            await conn.commit()
        return time.perf_counter() - start


def _pg_dsn(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1].split("?")[0]


async def run_bare_pg(
    base: str, pipeline_schema: str, ballots: list[tuple[Any, ...]]
) -> tuple[float, float, Any]:
    """On PostgreSQL, in a schema of their own: the executemany in one transaction, then
    the loop (asyncpg, a statement outside a transaction commits on its own)."""
    import asyncpg

    conn = await asyncpg.connect(_pg_dsn(base))
    schema = f"bare_{uuid.uuid4().hex[:12]}"
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(f"SET search_path = {schema}")
        like = f"(LIKE {pipeline_schema}.ballots INCLUDING ALL)"
        await conn.execute(f"CREATE TABLE ballots {like}")
        await conn.execute(f"CREATE TABLE loop_ballots {like}")
        start = time.perf_counter()
        async with conn.transaction():
            await conn.executemany(UPSERT, ballots)
        many_s = time.perf_counter() - start
        grouped = await conn.fetch(
            "SELECT choice, COUNT(*) FROM ballots GROUP BY choice ORDER BY choice"
        )
        await conn.execute("DROP TABLE ballots")
        await conn.execute("ALTER TABLE loop_ballots RENAME TO ballots")
        statement = await conn.prepare(UPSERT)
        start = time.perf_counter()
        for ballot in ballots:
            await statement.fetch(*ballot)
        loop_s = time.perf_counter() - start
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()
    return many_s, loop_s, [tuple(r) for r in grouped]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--villagers", type=int, default=100_000)
    parser.add_argument("--answers", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    if args.database == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'pipeline.db'}"
            out = await run_pipeline(url, args.villagers, args.answers, args.concurrency)
            bare_s, bare_grouped = await run_bare(Path(tmp) / "bare.db", out["ddl"], out["ballots"])
            loop_s = await run_bare_loop(Path(tmp) / "loop.db", out["ddl"], out["ballots"])
        engine = "aiosqlite, synchronous=FULL"
    else:
        import asyncpg

        base = os.environ.get("GRASSROOTS_BENCH_PG", PG_DEFAULT)
        schema = f"burst_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(_pg_dsn(base))
        await admin.execute(f"CREATE SCHEMA {schema}")
        try:
            url = f"{base}{'&' if '?' in base else '?'}search_path={schema}"
            out = await run_pipeline(url, args.villagers, args.answers, args.concurrency)
            bare_s, loop_s, bare_grouped = await run_bare_pg(base, schema, out["ballots"])
        finally:
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")
            await admin.close()
        engine = "asyncpg, synchronous_commit as the server has it"
    errors: list[str] = out["errors"]
    if bare_grouped != [(c, n) for c, n in enumerate(out["tally"]) if n]:
        errors.append(f"bare ballots {bare_grouped} differ from the tally {out['tally']}")

    pipeline_rate = args.answers / out["pipeline_s"]
    bare_rate = args.answers / bare_s
    ratio = pipeline_rate / bare_rate
    loop_rate = args.answers / loop_s
    loop_ratio = pipeline_rate / loop_rate
    tally_ms, group_by_ms = out["tally_s"] * 1000, out["group_by_s"] * 1000
    print(
        f"villagers: {args.villagers} on one branch, imported in {out['seed_s']:.1f} s (not timed)"
    )
    print(
        f"open: open_poll enqueued {args.villagers} poll messages in {out['open_s']:.2f} s"
        f" ({args.villagers / out['open_s']:,.0f} rows/s)"
    )
    print(
        f"answers: {args.answers} from {out['firsts']} people, concurrency {args.concurrency};"
        f" {args.answers - out['firsts']} second answers ({out['changes']} changes),"
        f" {out['comments']} with comments"
    )
    print(
        f"pipeline: {pipeline_rate:,.0f} answers/s ({out['pipeline_s']:.2f} s);"
        f" tally {out['tally']}"
    )
    print(f"database: {args.database}")
    print(
        f"bare executemany (upsert) + one commit ({engine}):"
        f" {bare_rate:,.0f} rows/s ({bare_s:.3f} s)"
    )
    print(f"ratio pipeline/bare: {ratio:.3f} (target {TARGET})")
    print(
        f"bare loop, one upsert + one commit per answer ({engine}):"
        f" {loop_rate:,.0f} rows/s ({loop_s:.2f} s)"
    )
    print(f"ratio pipeline/bare loop: {loop_ratio:.2f} (target {LOOP_TARGET})")
    print(
        f"results: tally {tally_ms:.1f} ms vs bare GROUP BY {group_by_ms:.1f} ms"
        f" = {tally_ms / group_by_ms:.2f}x (target <= {TALLY_TARGET:g}x; best of {REPEATS})"
        f"\nsealed: tally while open {out['open_tally_s'] * 1000:.1f} ms (every answer opened);"
        f" publication at close {out['publish_s']:.2f} s"
    )
    print(
        f"results (reference): the same GROUP BY through the engine's connection"
        f" {out['engine_group_by_s'] * 1000:.1f} ms"
    )
    print(f"peak memory: {out['peak_mb']:.0f} MB RSS (target < {MEMORY_TARGET_MB})")
    for error in errors:
        print(f"ERROR: {error}", file=sys.stderr)
    print(f"counts exact: {'no' if errors else 'yes'}")
    if errors:
        sys.exit(1)
    print(
        f"bench poll_burst: ratio {ratio:.3f} (target {TARGET});"
        f" loop ratio {loop_ratio:.2f} (target {LOOP_TARGET})"
    )


if __name__ == "__main__":
    asyncio.run(main())
