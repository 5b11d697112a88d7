"""The storage contract, on SQLite and PostgreSQL alike (the `repos`/`db_url` fixtures)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta, timezone

import asyncpg
import pytest

from bot.messages import Address, AddressKind, Attachment, Channel, Choice, Inbound, Outbound
from storage.deeds import streak_and_week
from storage.engine import as_datetime
from storage.models import Category, DayCount, DeedStats, Role, SenderRecord
from storage.orgs import upsert
from storage.people import NameClash, RosterEntry
from storage.repositories import Repositories, open_repositories
from tests.conftest import COUNTY

NOW = datetime(2026, 11, 26, 2, 0, 0, 123456, tzinfo=UTC)  # Thursday, 10:00 in Beijing
MONDAY = date(2026, 11, 23)
INJECTION = '\'); DROP TABLE deeds; -- :now $1 "x"'
INTEGRITY_ERRORS = (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError)

# The conftest county, with a second township.
TREE = [
    *COUNTY[:2],
    {"code": "HX02", "name": "白水镇党委", "kind": "township", "parent_code": "HX"},
    *COUNTY[2:],
]


def sms(number: str) -> Address:
    return Address(AddressKind.SMS, number)


def inbound(
    provider_id: str,
    channel: Channel = Channel.SMS,
    body: str = "你好",
    at: datetime = NOW,
    attachments: tuple[Attachment, ...] = (),
) -> Inbound:
    return Inbound(channel, provider_id, sms("+8613800001101"), body, at, attachments)


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[Repositories]:
    repos = await open_repositories(url)
    try:
        yield repos
    finally:
        await repos.db.close()


@pytest.fixture
async def org_ids(repos: Repositories) -> dict[str, int]:
    assert await repos.orgs.upsert_many(TREE, NOW) == len(TREE)
    return {o.code: o.id for o in await repos.orgs.all()}


@pytest.fixture
async def member(repos: Repositories, org_ids: dict[str, int]) -> tuple[int, int]:
    """(person_id, org_id) of a member of the HX0101 branch."""
    await repos.people.join(sms("+8613800001101"), org_ids["HX0101"], Role.MEMBER, "zh", NOW)
    person_id = (await repos.people.resolve(sms("+8613800001101"))).person_id
    assert person_id is not None
    return person_id, org_ids["HX0101"]


# --- organisations ------------------------------------------------------------------------


async def test_upsert_by_code_updates_in_place(repos, org_ids):
    changed = {**TREE[3], "name": "东坡村党总支", "theme": "平安和谐社区"}
    await repos.orgs.upsert_many([changed], NOW)
    org = await repos.orgs.by_id(org_ids["HX0101"])
    assert (org.code, org.name, org.theme, org.parent_id) == (
        "HX0101",
        "东坡村党总支",
        "平安和谐社区",
        org_ids["HX01"],
    )
    assert len(await repos.orgs.all()) == len(TREE)


@pytest.mark.parametrize("code", ["HX0101", "hx0101", "Hx0101"])
async def test_by_code_is_case_insensitive(repos, org_ids, code):
    org = await repos.orgs.by_code(code)
    assert org is not None and org.id == org_ids["HX0101"]


async def test_by_code_unknown(repos, org_ids):
    assert await repos.orgs.by_code("HX99") is None


async def test_tree_queries(repos, org_ids):
    ids = org_ids
    assert [o.code for o in await repos.orgs.children(ids["HX01"])] == ["HX0101", "HX0102"]
    assert [o.code for o in await repos.orgs.children(ids["HX"])] == ["HX01", "HX02"]
    assert await repos.orgs.children(ids["HX0101"]) == []
    assert sorted(await repos.orgs.subtree_ids(ids["HX"])) == sorted(ids.values())
    assert sorted(await repos.orgs.subtree_ids(ids["HX01"])) == sorted(
        [ids["HX01"], ids["HX0101"], ids["HX0102"]]
    )
    assert await repos.orgs.subtree_ids(ids["HX0102"]) == [ids["HX0102"]]
    assert await repos.orgs.ancestor_ids(ids["HX0101"]) == [ids["HX0101"], ids["HX01"], ids["HX"]]
    assert await repos.orgs.ancestor_ids(ids["HX"]) == [ids["HX"]]


# --- people -------------------------------------------------------------------------------


async def count(repos: Repositories, table: str) -> int:
    return await repos.db.fetchval(f"SELECT COUNT(*) AS n FROM {table}")


async def test_join_creates_person_address_and_role_once(repos, org_ids):
    address = sms("+8613800001101")
    assert await repos.people.join(address, org_ids["HX0101"], Role.MEMBER, "zh", NOW) is True
    assert await repos.people.join(address, org_ids["HX0101"], Role.MEMBER, "zh", NOW) is False
    assert [await count(repos, t) for t in ("people", "addresses", "roles")] == [1, 1, 1]
    who = await repos.people.resolve(address)
    assert who.language == "zh" and who.opted_out_at is None
    assert [(g.role, g.org_code, g.org_name) for g in who.grants] == [
        (Role.MEMBER, "HX0101", "东坡村党支部")
    ]


async def test_import_roster_finds_person_by_address_and_updates_name(repos, org_ids):
    address = sms("+8613800001101")
    await repos.people.join(address, org_ids["HX0101"], Role.PUBLIC, None, NOW)
    person_id = (await repos.people.resolve(address)).person_id
    for name in ("李秀英", "李秀芳"):
        entry = RosterEntry(org_ids["HX0101"], name, address, Role.MEMBER)
        if name == "李秀芳":  # a second name for one phone is a rename, never by accident
            with pytest.raises(NameClash):
                await repos.people.import_roster([entry], NOW)
        assert await repos.people.import_roster([entry], NOW, rename=True) == [person_id]
        who = await repos.people.resolve(address)
        assert (who.person_id, who.name) == (person_id, name)
    assert await count(repos, "people") == 1
    assert {g.role for g in who.grants} == {Role.PUBLIC, Role.MEMBER}


async def test_one_person_with_roles_in_two_organisations(repos, org_ids):
    address = sms("+8613800001100")
    await repos.people.import_roster(
        [
            RosterEntry(org_ids["HX0101"], "张建国", address, Role.SECRETARY),
            RosterEntry(org_ids["HX01"], "张建国", address, Role.LEADER),
        ],
        NOW,
    )
    who = await repos.people.resolve(address)
    assert who.name == "张建国"
    assert [(g.role, g.org_id, g.org_kind) for g in who.grants] == [
        (Role.SECRETARY, org_ids["HX0101"], "branch"),
        (Role.LEADER, org_ids["HX01"], "township"),
    ]
    leaders = await repos.people.members_of(org_ids["HX01"], Role.LEADER)
    assert leaders == [(who.person_id, "张建国")]


async def test_resolve_unknown_address(repos):
    assert await repos.people.resolve(sms("+8613912345678")) == SenderRecord(
        None, None, None, None, None
    )


async def test_stranger_opt_out_is_an_address_without_person(repos):
    stranger = sms("+8613912345678")
    assert await repos.people.opt_out(stranger, NOW) is True
    who = await repos.people.resolve(stranger)
    assert who.address_id is not None
    assert (who.person_id, who.name, who.grants) == (None, None, ())
    assert who.opted_out_at == NOW
    assert await count(repos, "people") == 0


async def test_opt_out_and_opt_in_toggle_once(repos, member):
    address = sms("+8613800001101")
    assert await repos.people.opt_in(address) is False
    assert await repos.people.opt_out(address, NOW) is True
    assert await repos.people.opt_out(address, NOW + timedelta(hours=1)) is False
    who = await repos.people.resolve(address)
    assert who.opted_out_at == NOW  # the first opt-out stands
    assert who.person_id == member[0] and len(who.grants) == 1
    assert await repos.people.opt_in(address) is True
    assert await repos.people.opt_in(address) is False
    assert (await repos.people.resolve(address)).opted_out_at is None
    assert await repos.people.opt_in(sms("+8613912345678")) is False


# --- inbound ------------------------------------------------------------------------------


async def test_record_dedupes_per_channel_and_provider_id(repos):
    first = await repos.inbound.record(inbound("SM1"))
    again = await repos.inbound.record(inbound("SM1", body="retried webhook"))
    other = await repos.inbound.record(inbound("SM1", channel=Channel.TELEGRAM))
    assert first.is_new and first.status == "received" and first.reply is None
    assert not again.is_new and again.id == first.id
    assert other.is_new and other.id != first.id
    assert await repos.inbound.count() == 2
    assert (await repos.inbound.load(first.id)).body == "你好"


async def test_finish_stores_replies_and_a_repeat_returns_them(repos):
    rec = await repos.inbound.record(inbound("SM1"))
    replies = ["收到，谢谢！本周第1条。", "second"]
    await repos.inbound.finish(
        rec.id,
        status="handled",
        handler="deeds",
        person_id=None,
        replies=replies,
        error=None,
        now=NOW,
    )
    again = await repos.inbound.record(inbound("SM1"))
    assert (again.id, again.is_new, again.status) == (rec.id, False, "handled")
    assert json.loads(again.reply) == replies
    assert await repos.inbound.unfinished() == []


async def test_unfinished_and_load_round_trip(repos):
    pics = (
        Attachment("https://api.twilio.com/m/ME1", "image/jpeg"),
        Attachment("https://api.twilio.com/m/ME2", "image/png"),
    )
    original = inbound("SM1", body="帮五保户修屋顶", attachments=pics)
    ids = [(await repos.inbound.record(m)).id for m in (original, inbound("SM2"), inbound("SM3"))]
    await repos.inbound.finish(
        ids[1], status="failed", handler=None, person_id=None, replies=[], error="boom", now=NOW
    )
    assert await repos.inbound.unfinished() == [ids[0], ids[2]]
    assert await repos.inbound.unfinished(limit=1) == [ids[0]]
    loaded = await repos.inbound.load(ids[0])
    assert loaded == original
    assert loaded.received_at.utcoffset() == timedelta(0)
    assert (await repos.inbound.load(ids[1])).attachments == ()
    with pytest.raises(KeyError):
        await repos.inbound.load(max(ids) + 1)


# --- deeds --------------------------------------------------------------------------------


async def add_deed(
    repos,
    member,
    day: date,
    week_start: date = MONDAY,
    category: Category | None = None,
    inbound_id: int | None = None,
    body: str = "打扫村道",
) -> DeedStats:
    person_id, org_id = member
    return await repos.deeds.add(
        person_id=person_id,
        org_id=org_id,
        inbound_id=inbound_id,
        category=category,
        body=body,
        local_day=day,
        week_start=week_start,
        now=NOW,
    )


async def test_deed_add_is_idempotent_per_inbound(repos, member):
    inbound_id = (await repos.inbound.record(inbound("SM1"))).id
    first = await add_deed(repos, member, date(2026, 11, 26), inbound_id=inbound_id)
    again = await add_deed(repos, member, date(2026, 11, 26), inbound_id=inbound_id)
    assert first == again == DeedStats(this_week=1, streak_days=1, total=1)
    assert await count(repos, "deeds") == 1


async def test_deed_stats_across_days(repos, member):
    # (local day, week start) -> (this week, streak, total); the 22nd and 25th are missed.
    steps = [
        (date(2026, 11, 20), date(2026, 11, 16), DeedStats(1, 1, 1)),
        (date(2026, 11, 23), MONDAY, DeedStats(1, 1, 2)),
        (date(2026, 11, 24), MONDAY, DeedStats(2, 2, 3)),
        (date(2026, 11, 24), MONDAY, DeedStats(3, 2, 4)),
        (date(2026, 11, 26), MONDAY, DeedStats(4, 1, 5)),
        (date(2026, 11, 27), MONDAY, DeedStats(5, 2, 6)),
        (date(2026, 11, 30), date(2026, 11, 30), DeedStats(1, 1, 7)),
    ]
    for day, week_start, expected in steps:
        assert await add_deed(repos, member, day, week_start) == expected, day


async def test_deeds_by_category(repos, member):
    for day, category in [
        (date(2026, 11, 20), Category.STUDY),
        (MONDAY, Category.STUDY),
        (MONDAY, Category.SERVICE),
        (date(2026, 11, 26), None),
    ]:
        await add_deed(repos, member, day, category=category)
    counts = {
        c.category: (c.this_week, c.total) for c in await repos.deeds.by_category(member[0], MONDAY)
    }
    assert counts == {Category.STUDY: (1, 2), Category.SERVICE: (1, 1), None: (1, 1)}


TODAY = date(2026, 11, 26)


def days(*pairs: tuple[int, int]) -> list[DayCount]:
    """(days before TODAY, count) pairs."""
    return [DayCount(TODAY - timedelta(days=ago), n) for ago, n in pairs]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ([], (0, 0)),
        (days((0, 3)), (1, 3)),
        (days((1, 1)), (0, 1)),  # nothing today: no streak, but the week counts
        (days((2, 1), (0, 1), (1, 2)), (3, 4)),  # order of the input does not matter
        (days((0, 1), (2, 1), (3, 1)), (1, 3)),  # a gap breaks the streak
        (days((0, 1), (1, 1), (2, 1), (3, 1), (4, 1)), (5, 4)),  # the 4th day back was last week
        (days((-1, 1), (0, 1)), (1, 2)),  # a later day does not count for the streak
    ],
)
def test_streak_and_week(given, expected):
    assert streak_and_week(given, TODAY, week_start=MONDAY) == expected


# --- outbox -------------------------------------------------------------------------------


async def test_outbox_enqueue_is_idempotent_on_key(repos):
    poll = Outbound(sms("+8613900001101"), "请评议", (Choice("1", "好"), Choice("2", "较好")))
    assert await repos.outbox.enqueue("poll:7:+8613900001101", poll, NOW) is True
    assert await repos.outbox.enqueue("poll:7:+8613900001101", Outbound(poll.to, "x"), NOW) is False
    assert await repos.outbox.enqueue("poll:7:+8613900001102", poll, NOW) is True
    assert await repos.outbox.pending_count() == 2
    row = await repos.db.fetchrow(
        "SELECT body, choices FROM outbox WHERE idempotency_key = 'poll:7:+8613900001101'"
    )
    assert row["body"] == "请评议"
    assert json.loads(row["choices"]) == [
        {"key": "1", "label": "好"},
        {"key": "2", "label": "较好"},
    ]


# --- constraints, values and timestamps ---------------------------------------------------


@pytest.mark.parametrize(
    ("table", "sql"),
    [
        (
            "roles",
            "INSERT INTO roles (person_id, org_id, role, created_at) "
            "VALUES (:person, :org, 'king', :now)",
        ),
        (
            "deeds",
            "INSERT INTO deeds (person_id, org_id, category, body, local_day, created_at) "
            "VALUES (:person, :org, 'bribery', 'x', :day, :now)",
        ),
    ],
)
async def test_check_constraints_reject_bad_values(repos, member, table, sql):
    before = await count(repos, table)
    params = {"person": member[0], "org": member[1], "day": TODAY, "now": NOW}
    with pytest.raises(INTEGRITY_ERRORS):
        await repos.db.write(sql, params)
    assert await count(repos, table) == before
    await add_deed(repos, member, TODAY, category=Category.INTEGRITY)  # still writable


@pytest.mark.parametrize("offset", [0, 8], ids=["utc", "beijing"])
async def test_timestamps_read_back_equal_and_utc(repos, offset):
    written = NOW.astimezone(timezone(timedelta(hours=offset)))
    rec = await repos.inbound.record(inbound("SM1", at=written))
    await repos.outbox.enqueue("k", Outbound(sms("+8613900001101"), "x"), NOW, written)
    read = (await repos.inbound.load(rec.id)).received_at
    stored = as_datetime(await repos.db.fetchval("SELECT not_before FROM outbox"))
    assert read == stored == written
    # Due a few minutes after it was set, not before: the database compares instants.
    due = await repos.db.fetchval(
        "SELECT COUNT(*) AS n FROM outbox WHERE not_before <= :t", {"t": NOW + timedelta(minutes=5)}
    )
    assert due == 1
    assert read.utcoffset() == stored.utcoffset() == timedelta(0)


async def test_injection_looking_strings_are_stored_verbatim(repos, member):
    rec = await repos.inbound.record(inbound(INJECTION, body=INJECTION))
    await repos.inbound.finish(
        rec.id,
        status="handled",
        handler=None,
        person_id=None,
        replies=[INJECTION],
        error=INJECTION,
        now=NOW,
    )
    await upsert_one(repos, {"code": "X1", "name": INJECTION, "kind": "branch"})
    await repos.people.import_roster(
        [RosterEntry(member[1], INJECTION, sms(INJECTION), Role.MEMBER)], NOW
    )
    assert (await add_deed(repos, member, TODAY, body=INJECTION)).total == 1
    assert await repos.db.fetchval("SELECT body FROM deeds") == INJECTION
    loaded = await repos.inbound.load(rec.id)
    assert (loaded.provider_id, loaded.body) == (INJECTION, INJECTION)
    assert json.loads((await repos.inbound.record(inbound(INJECTION))).reply) == [INJECTION]
    assert (await repos.orgs.by_code("X1")).name == INJECTION
    assert (await repos.people.resolve(sms(INJECTION))).name == INJECTION
    for table in ("deeds", "inbound_messages", "organisations", "people"):
        assert await count(repos, table) > 0


async def upsert_one(repos: Repositories, org: dict[str, str]) -> int:
    async with repos.db.transaction() as tx:
        return await upsert(tx, org, NOW)


# --- transactions, concurrency and durability ---------------------------------------------


class Boom(Exception):
    pass


async def test_failed_transaction_rolls_back_alone_beside_concurrent_writes(db_url):
    message = Outbound(sms("+8613900001101"), "通报")

    async def unit(codes: list[str], fail: bool) -> None:
        async with repos.db.transaction() as tx:
            for code in codes:
                await upsert(tx, {"code": code, "name": code, "kind": "branch"}, NOW)
            if fail:
                raise Boom

    async with opened(db_url) as repos:
        singles = [repos.outbox.enqueue(f"single-{i}", message, NOW) for i in range(30)]
        results = await asyncio.gather(
            *singles[:10],
            unit(["BAD1", "BAD2", "BAD3"], fail=True),
            *singles[10:20],
            unit(["OK1", "OK2"], fail=False),
            *singles[20:],
            return_exceptions=True,
        )
        assert isinstance(results[10], Boom)
        assert results[:10] + results[11:21] + results[22:] == [True] * 30
        assert results[21] is None
    async with opened(db_url) as repos:
        assert sorted(o.code for o in await repos.orgs.all()) == ["OK1", "OK2"]
        keys = {r["k"] for r in await repos.db.fetch("SELECT idempotency_key AS k FROM outbox")}
        assert keys == {f"single-{i}" for i in range(30)}


@pytest.mark.parametrize("failing", ["unit", "write"])
async def test_sqlite_failure_leaves_database_writable_by_others(sqlite_url, failing):
    async with opened(sqlite_url) as repos:
        with pytest.raises((Boom, sqlite3.IntegrityError)):
            if failing == "write":
                await repos.db.write(
                    "INSERT INTO organisations (code, name, kind, created_at) "
                    "VALUES (NULL, 'x', 'branch', :now)",
                    {"now": NOW},
                )
            async with repos.db.transaction() as tx:
                await upsert(tx, {"code": "BAD", "name": "x", "kind": "branch"}, NOW)
                raise Boom
        other = sqlite3.connect(sqlite_url.split("///", 1)[1], timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")  # raises "database is locked" if still held
            other.execute("ROLLBACK")
        finally:
            other.close()


async def test_concurrent_records_are_all_durable(db_url):
    async with opened(db_url) as repos:
        results = await asyncio.gather(
            *(repos.inbound.record(inbound(f"SM{i}")) for i in range(200))
        )
    assert all(r.is_new for r in results)
    assert len({r.id for r in results}) == 200
    async with opened(db_url) as repos:
        assert await repos.inbound.count() == 200
        rows = await repos.db.fetch("SELECT id, provider_id FROM inbound_messages")
        assert {(r["id"], r["provider_id"]) for r in rows} == {
            (r.id, f"SM{i}") for i, r in enumerate(results)
        }


async def test_concurrent_records_of_one_provider_id_yield_one_new(db_url):
    async with opened(db_url) as repos:
        results = await asyncio.gather(*(repos.inbound.record(inbound("SM1")) for _ in range(50)))
    assert sum(r.is_new for r in results) == 1
    assert len({r.id for r in results}) == 1
    async with opened(db_url) as repos:
        assert await repos.inbound.count() == 1
