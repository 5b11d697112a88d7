"""Round trips per inbound message, by kind: statements the engine sends to the database.

    python bench/roundtrips.py [--url URL] [--messages 200]

Without --url it measures SQLite (a temporary file) and PostgreSQL (a fresh schema in
$GRASSROOTS_BENCH_PG, default postgresql+asyncpg://postgres@127.0.0.1:5432/test, if it
answers). Each kind of message goes through the router one at a time, as `grassroots serve`
handles it, and the engine's counter (storage/engine.py, `round_trips`) is read before and
after: an SMS deed report from a member, an SMS poll answer from a villager (a poll open on
their branch), and a Telegram update (a member's report from a linked chat, its reply queued
in the outbox as the Telegram service does). Every statement counts, transaction control
(BEGIN, COMMIT, SAVEPOINT, RELEASE) included; on SQLite a group COMMIT is shared by the
messages in flight, here one at a time it is not. Printed beside the figures measured the
same way before the hot path was cut (BEFORE). Last line `bench roundtrips: ratio X
(target 0.5)`: statements after over before, summed over the kinds, on PostgreSQL when
measured there, else SQLite.

`round_trips(url)` (or `round_trips_async`) is the measurement alone, kind -> statements
per message, for other benchmarks (bench/scale.py); `measure(url)` adds the breakdown.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app import App
from bot.config import load_config
from bot.messages import Address, AddressKind, Channel, Inbound
from bot.polls import open_poll
from bot.texts import texts_for
from storage.models import Role
from storage.people import RosterEntry

PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
KINDS = ("sms_report", "poll_answer", "telegram_update")
TARGET = 0.5
# Statements per message measured with this file at the commit before the hot path was cut
# (counter only; f99cc49 + the counter), one message at a time. On PostgreSQL asyncpg's pool
# also sent a reset query (RESET ALL, UNLISTEN, advisory unlock) after every statement run
# outside a transaction: those are in the figures as RESET.
BEFORE: dict[str, dict[str, float]] = {
    # python bench/roundtrips.py --messages 100
    "sqlite": {"sms_report": 9.0, "poll_answer": 17.0, "telegram_update": 12.0},
    "postgresql": {"sms_report": 12.0, "poll_answer": 18.0, "telegram_update": 16.0},
}


def _phone(prefix: str, i: int) -> str:
    return f"+86{prefix}{i:08d}"


async def _seed(app: App, people: int, now: datetime) -> int:
    await app.repos.orgs.upsert_many(
        [
            {"code": "R", "name": "县委", "kind": "county"},
            {"code": "R01", "name": "东坡村党支部", "kind": "branch", "parent_code": "R"},
        ],
        now,
    )
    branch = {o.code: o.id for o in await app.repos.orgs.all()}["R01"]
    entries = [
        RosterEntry(branch, f"党员{i}", Address(AddressKind.SMS, _phone("138", i)), Role.MEMBER)
        for i in range(people)
    ] + [
        RosterEntry(branch, f"村民{i}", Address(AddressKind.SMS, _phone("139", i)), Role.PUBLIC)
        for i in range(people)
    ]
    await app.repos.people.import_roster(entries, now)
    for i in range(people):  # each member also writes from a Telegram chat
        await app.repos.people.link(
            Address(AddressKind.TELEGRAM, str(7_000_000 + i)),
            Address(AddressKind.SMS, _phone("138", i)),
            now,
        )
    return branch


def _inbound(channel: Channel, n: int, sender: Address, body: str) -> Inbound:
    return Inbound(channel, f"RT{channel.value}{n:012d}", sender, body, datetime.now(UTC))


async def _measure(app: App, messages: int) -> dict[str, float]:
    now = datetime.now(UTC)
    branch = await _seed(app, messages + 1, now)  # one more for the warm-up
    zh, en = texts_for("zh-CN"), texts_for("en")
    poll = await app.repos.polls.create(
        org_id=branch,
        question="您对本村今年的村务公开满意吗？",
        options=zh.get("poll.default_options").split("/"),
        options_en=en.get("poll.default_options").split("/"),
        audience="public",
        opens_at=now,
        closes_at=now + timedelta(days=7),
        status="scheduled",
        now=now,
        source="bench:roundtrips",
    )
    await open_poll(app.repos, poll, now, app.config.zone, app.config.bot.language)
    counter = app.repos.db.round_trips
    router = app.router
    out: dict[str, float] = {}

    async def telegram(n: int) -> None:
        # As bot/telegram_service.py: accept, then respond with the replies queued.
        inbound = _inbound(
            Channel.TELEGRAM,
            n,
            Address(AddressKind.TELEGRAM, str(7_000_000 + n)),
            f"今天第{n}件好事：帮邻居修好了水渠",
        )
        recorded = await router.accept(inbound)
        await router.respond(recorded, inbound, via_outbox=True)

    async def report(n: int) -> None:
        sender = Address(AddressKind.SMS, _phone("138", n))
        replies = await router.handle(_inbound(Channel.SMS, n, sender, f"汇报 #服务 第{n}件好事"))
        assert replies and "记录" in replies[0].body, replies

    async def answer(n: int) -> None:
        sender = Address(AddressKind.SMS, _phone("139", n))
        replies = await router.handle(_inbound(Channel.SMS, 10**6 + n, sender, str(n % 3 + 1)))
        assert replies, "no reply to a poll answer"

    for kind, send in (
        ("sms_report", report),
        ("poll_answer", answer),
        ("telegram_update", telegram),
    ):
        await send(messages)  # warm: caches and prepared statements, as in a running service
        before = Counter(counter)
        start = time.perf_counter()
        for n in range(messages):
            await send(n)
        elapsed = time.perf_counter() - start
        spent = counter - before
        out[kind] = sum(spent.values()) / messages
        out[f"{kind}:per_s"] = messages / elapsed
        for statement, count in sorted(spent.items()):
            out[f"{kind}:{statement}"] = count / messages
    return out


async def measure(url: str, messages: int = 200) -> dict[str, float]:
    """Statements per message by kind, on a fresh database at `url`, with the breakdown:
    `KIND:STATEMENT` (per message, by first word) and `KIND:per_s` (one at a time)."""
    env = {"GRASSROOTS_DATABASE_URL": url, "GRASSROOTS_SECRET_KEY": "bench-" + "k" * 40}
    config = load_config(env=env)
    app = await App.open(config)
    try:
        return await _measure(app, messages)
    finally:
        await app.close()


async def round_trips_async(url: str, messages: int = 200) -> dict[str, float]:
    """Statements per message for each kind (`sms_report`, `poll_answer`,
    `telegram_update`), on a fresh database at `url`."""
    figures = await measure(url, messages)
    return {kind: figures[kind] for kind in KINDS}


def round_trips(url: str, messages: int = 200) -> dict[str, float]:
    """round_trips_async from synchronous code (not inside a running event loop)."""
    return asyncio.run(round_trips_async(url, messages))


async def _pg_schema(base: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect("postgresql://" + base.split("://", 1)[1].split("?")[0])
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _print(name: str, figures: dict[str, float]) -> None:
    before = BEFORE.get(name, {})
    for kind in KINDS:
        detail = ", ".join(
            f"{key.split(':', 1)[1]} {value:.2f}"
            for key, value in sorted(figures.items())
            if key.startswith(kind + ":") and not key.endswith(":per_s")
        )
        was = f"{before[kind]:.2f}" if kind in before else "n/a"
        print(
            f"{name} {kind}: {figures[kind]:.2f} statements/message (before {was});"
            f" {figures[kind + ':per_s']:,.0f} msg/s one at a time; {detail}"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="one database URL instead of SQLite and PostgreSQL")
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    if args.url:
        name = "postgresql" if args.url.startswith("postgresql") else "sqlite"
        results[name] = await measure(args.url, args.messages)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'roundtrips.db'}"
            results["sqlite"] = await measure(url, args.messages)
        base = os.environ.get("GRASSROOTS_BENCH_PG", PG_DEFAULT)
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        try:
            await _pg_schema(base, f"CREATE SCHEMA {schema}")
        except OSError as exc:
            print(f"postgresql: not measured ({exc})")
        else:
            try:
                pg = f"{base}{'&' if '?' in base else '?'}search_path={schema}"
                results["postgresql"] = await measure(pg, args.messages)
            finally:
                await _pg_schema(base, f"DROP SCHEMA {schema} CASCADE")
    for name, figures in results.items():
        _print(name, figures)
    name = "postgresql" if "postgresql" in results else "sqlite"
    after = sum(results[name][k] for k in KINDS)
    before = BEFORE.get(name)
    ratio = after / sum(before[k] for k in KINDS) if before else 1.0
    print(f"bench roundtrips: ratio {ratio:.2f} (target {TARGET}; {name}, after/before)")


if __name__ == "__main__":
    asyncio.run(main())
