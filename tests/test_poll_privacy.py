"""Privacy of polls and comments: nothing in the database says who answered what, or who
wrote which comment, to anyone without the deployment's secret key (DESIGN.md §4)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from bot.app import App
from bot.messages import Address, AddressKind
from bot.polls import voter_hash
from storage.engine import Database
from storage.models import Role
from storage.people import RosterEntry
from tests.conftest import KEY, MEMBER, MEMBER_2, SECRETARY, VILLAGER, Phone
from tests.test_polls import advance, org_id, person_of, sweep

# 赵大爷 picks 建桥 with a comment, and sends a comment on its own.
QUESTION = "评议 #全体 先办哪件事？/修路/建桥/打井"
HIS_LABEL = "建桥"
HIS_COMMENT = "村主任把修路款挪用了"
HIS_REMARK = "村口的狗晚上总叫"
# Words in a column's name that say whose a row is, and what someone answered or wrote.
WHO = ("person", "people", "address", "sender", "phone", "chat", "name", "author", "member")
WHAT = ("choice", "body", "answer", "option", "comment", "text", "label")
# Tables that would tie a row to a person.
PERSONAL = {"people", "addresses", "roles", "inbound_messages"}


# --- reading the database's own catalog ----------------------------------------------------


async def tables(db: Database) -> list[str]:
    if db.dialect == "sqlite":
        rows = await db.fetch(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    else:
        rows = await db.fetch(
            "SELECT table_name AS name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
    return sorted(r["name"] for r in rows)


async def columns(db: Database, table: str) -> set[str]:
    if db.dialect == "sqlite":
        rows = await db.fetch(f"SELECT name FROM pragma_table_info('{table}')")
    else:
        rows = await db.fetch(
            "SELECT column_name AS name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = :t",
            {"t": table},
        )
    return {r["name"] for r in rows}


async def referenced(db: Database, table: str) -> set[str]:
    """The tables `table`'s foreign keys point at."""
    if db.dialect == "sqlite":
        rows = await db.fetch(f"SELECT \"table\" AS name FROM pragma_foreign_key_list('{table}')")
    else:
        rows = await db.fetch(
            """
            SELECT ccu.table_name AS name
            FROM information_schema.table_constraints tc
            JOIN information_schema.constraint_column_usage ccu
              ON ccu.constraint_name = tc.constraint_name AND ccu.table_schema = tc.table_schema
            WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = current_schema()
              AND tc.table_name = :t
            """,
            {"t": table},
        )
    return {r["name"] for r in rows}


async def everywhere(db: Database, needle: str) -> set[tuple[str, str]]:
    """Every (table, column) where some row's value contains `needle`."""
    found = set()
    for table in await tables(db):
        for row in await db.fetch(f"SELECT * FROM {table}"):
            for column, value in dict(row).items():
                if value is not None and needle in str(value):
                    found.add((table, column))
    return found


# --- a poll the whole branch answered ------------------------------------------------------


async def answered(app: App) -> None:
    """The branch is asked; 赵大爷 picks 建桥 and comments, the members answer (one changes
    his mind), and he comments once more on his own."""
    secretary = Phone(app, SECRETARY)
    await secretary.says(QUESTION)
    assert await secretary.says("确认") == ["评议P1已发出，共4人。回复“结果 P1”看结果。"]
    villager = Phone(app, VILLAGER)
    assert await villager.says(f"2，{HIS_COMMENT}") == [
        f"已记录：{HIS_LABEL}（P1）。谢谢参与！截止后把结果发给您。评论已收到。"
    ]
    assert await villager.says(f"评论 {HIS_REMARK}") == ["评论已收到，谢谢！"]
    assert (await Phone(app, MEMBER).says("P1 3"))[0].startswith("已记录：")
    assert (await Phone(app, MEMBER_2).says("修路"))[0].startswith("已记录：")
    assert (await Phone(app, MEMBER_2).says("2"))[0].startswith("已改为：")
    assert (await Phone(app, SECRETARY).says("1"))[0].startswith("已记录：")


# --- the schema ----------------------------------------------------------------------------


async def test_no_table_of_answers_or_comments_names_a_person(county: App):
    db = county.repos.db
    for table in ("ballots", "poll_participants", "comments"):
        names = await columns(db, table)
        assert names, f"no table {table}"
        who = {c for c in names if any(word in c for word in WHO)}
        what = {c for c in names if any(word in c for word in WHAT)}
        assert not (who and what), (table, who, what)
    # Who answered is kept (turnout, results to those who took part), never with what.
    assert {c for c in await columns(db, "poll_participants") if "person" in c} == {"person_id"}
    # Exactly these columns, so that a new one is a decision taken here.
    assert await columns(db, "ballots") == {"poll_id", "voter", "choice", "org_id"}
    assert await columns(db, "comments") == {
        "id",
        "code",
        "org_id",
        "poll_id",
        "body",
        "status",
        "day",  # the day only: a time of day could be matched to the message log
    }
    # While a poll is open an answer, and a comment until published, are only sealed.
    assert await columns(db, "sealed_ballots") == {"poll_id", "voter", "sealed"}
    assert await columns(db, "pending_comments") == {"id", "sealed", "code_tag"}
    # Nor does a key lead from an answer or a comment to a person or a message.
    for table in ("ballots", "comments", "sealed_ballots", "pending_comments"):
        assert not (await referenced(db, table)) & PERSONAL, table


# --- the rows ------------------------------------------------------------------------------


async def test_no_ballot_is_keyed_by_a_person_or_an_address(county: App):
    await answered(county)
    db = county.repos.db
    # While the poll is open, nothing says a choice in the clear.
    assert await db.fetchval("SELECT COUNT(*) FROM ballots") == 0
    voters = {r["voter"] for r in await db.fetch("SELECT voter FROM sealed_ballots")}
    assert len(voters) == 4
    people = {str(r["id"]) for r in await db.fetch("SELECT id FROM people")}
    addresses = {r["value"] for r in await db.fetch("SELECT value FROM addresses")}
    names = {r["name"] for r in await db.fetch("SELECT name FROM people")}
    assert not voters & (people | addresses | names)
    for voter in voters:
        assert len(voter) == 64 and set(voter) <= set("0123456789abcdef")
        assert not any(number.lstrip("+") in voter for number in addresses)
    # The ballot is the keyed hash of poll and person: with the key, and only with it.
    his = await person_of(county, VILLAGER)
    assert voter_hash(KEY.encode(), 1, his) in voters
    assert voter_hash(b"another deployment's key", 1, his) not in voters
    assert hashlib.sha256(f"ballot:1:{his}".encode()).hexdigest() not in voters
    # Closed: the answers are out in the clear under random keys, the sealed rows gone.
    advance(county, timedelta(days=8))
    await sweep(county)
    assert await db.fetchval("SELECT COUNT(*) FROM sealed_ballots") == 0
    published = {r["voter"] for r in await db.fetch("SELECT voter FROM ballots")}
    assert len(published) == 4
    everyone = [r["id"] for r in await db.fetch("SELECT id FROM people")]
    assert not published & {voter_hash(KEY.encode(), 1, p) for p in everyone}


async def test_counted_answers_and_comments_leave_the_message_log(county: App):
    await answered(county)
    rows = await county.repos.db.fetch(
        "SELECT body, attachments, handler, reply FROM inbound_messages "
        "WHERE handler IN ('poll.answer', 'poll.comment', 'comment') ORDER BY id"
    )
    assert [(r["handler"], r["body"]) for r in rows] == [
        ("poll.comment", "[P1]"),
        ("comment", "[comment]"),
        ("poll.answer", "[P1]"),
        ("poll.answer", "[P1]"),
        ("poll.answer", "[P1]"),
        ("poll.answer", "[P1]"),
    ]
    assert all(r["attachments"] is None for r in rows)
    # The replies kept for a provider's retry do not repeat what was answered either.
    for row in rows:
        for label in ("修路", HIS_LABEL, "打井", HIS_COMMENT, HIS_REMARK):
            assert label not in row["reply"], row["reply"]


async def test_a_comments_text_is_nowhere_but_in_the_comments(county: App):
    await answered(county)
    advance(county, timedelta(days=8))
    await sweep(county)  # closed, results sent: still nowhere else
    db = county.repos.db
    # Two comments are fewer than a batch: they wait sealed, in the clear nowhere, and
    # those who read comments see them all the same.
    assert await everywhere(db, HIS_COMMENT) == set()
    assert await everywhere(db, HIS_REMARK) == set()
    assert await everywhere(db, f"2，{HIS_COMMENT}") == set()  # the answer as he sent it
    branch = await org_id(county, "HX0101")
    shown = {c.body for c in await county.repos.comments.for_orgs([branch], limit=10)}
    assert shown == {HIS_COMMENT, HIS_REMARK}
    # Five comments of one day from one man are still one writer's: they wait, sealed.
    for i in range(3):
        await Phone(county, VILLAGER).says(f"评论 第{i}条意见")
    await sweep(county)
    assert await everywhere(db, "第0条意见") == set()
    assert await db.fetchval("SELECT COUNT(*) FROM comments") == 0


async def test_what_reaches_the_voter_does_not_say_what_they_chose(county: App):
    await answered(county)
    advance(county, timedelta(days=8))
    assert await sweep(county) > 0
    to_him = await county.repos.db.fetch(
        "SELECT body FROM outbox WHERE address = :a", {"a": VILLAGER}
    )
    # The question (its options go as buttons, for everyone alike) and the results.
    assert len(to_him) == 2
    for row in to_him:
        assert HIS_LABEL not in row["body"], row["body"]


def test_the_ballot_hash_depends_on_the_secret_key():
    assert voter_hash(b"key-one", 7, 42) == voter_hash(b"key-one", 7, 42)
    assert voter_hash(b"key-one", 7, 42) != voter_hash(b"key-two", 7, 42)
    assert voter_hash(b"key-one", 7, 42) != voter_hash(b"key-one", 8, 42)  # per poll
    assert voter_hash(b"key-one", 7, 42) != voter_hash(b"key-one", 7, 43)


# --- what the storage itself remembers -----------------------------------------------------

OPTIONS = ["修路", "建桥", "打井", "路灯", "水渠", "垃圾", "学校", "诊所"]


# The options the eight villagers pick, in the order they answer: not sorted, so an index
# ordered by choice (which says nothing of who chose) cannot pass for the order of writing.
PICKED_IN_TURN = [3, 0, 6, 1, 7, 2, 5, 4]


async def eight_villagers_answer_in_turn(app: App) -> list[str]:
    """Eight new villagers each pick a different option, one after another, each with a
    comment; returns the comments in the order they were sent."""
    branch = await org_id(app, "HX0101")
    numbers = [f"+8613600000{i:03d}" for i in range(len(OPTIONS))]
    await app.repos.people.import_roster(
        [
            RosterEntry(branch, f"村民{i}", Address(AddressKind.SMS, n), Role.PUBLIC)
            for i, n in enumerate(numbers)
        ],
        app.clock.now(),
    )
    secretary = Phone(app, SECRETARY)
    await secretary.says("评议 先办哪件事？/" + "/".join(OPTIONS))
    await secretary.says("确认")
    sent = []
    for i, number in enumerate(numbers):
        pick = PICKED_IN_TURN[i]
        comment = f"第{i + 1}位村民的意见：{OPTIONS[pick]}最急"
        replies = await Phone(app, number).says(f"{pick + 1} {comment}")
        assert replies[0].startswith(f"已记录：{OPTIONS[pick]}（P1）"), replies
        sent.append(comment)
        advance(app, timedelta(minutes=3))
    return sent


async def test_storage_order_does_not_replay_who_answered_what(county: App):
    """A heap table keeps rows in the order they were written (ctid) and stamps each with
    its transaction (xmin). Answers and comments are written out at close (comments in a
    batch), shuffled, in a transaction of their own: neither order replays the order the
    message log shows people answering. (SQLite: ballots are WITHOUT ROWID and keyed at
    random, comments by a random id.)"""
    in_turn = await eight_villagers_answer_in_turn(county)
    advance(county, timedelta(days=8))
    await sweep(county)
    db = county.repos.db
    orders = ["ctid", "xmin::text::bigint"] if db.dialect == "postgresql" else [""]
    for order in orders:
        by = f" ORDER BY {order}" if order else ""
        choices = [r["choice"] for r in await db.fetch(f"SELECT choice FROM ballots{by}")]
        assert sorted(choices) == list(range(8))
        assert choices != PICKED_IN_TURN, f"ballots read{by} replay the answers"
        bodies = [r["body"] for r in await db.fetch(f"SELECT body FROM comments{by}")]
        assert sorted(bodies) == sorted(in_turn)
        assert bodies != in_turn, f"comments read{by} replay their authors' order"


async def test_transaction_ids_do_not_pair_participants_with_ballots(county: App):
    """A ballot written in the participant's transaction would carry its xmin, and one
    join would name each voter's choice and each commenter's comment."""
    db = county.repos.db
    if db.dialect != "postgresql":
        pytest.skip("SQLite rows carry no transaction id")
    await answered(county)
    advance(county, timedelta(days=8))
    await sweep(county)
    assert await db.fetchval("SELECT COUNT(*) FROM ballots") == 4
    # Published comments: tests/security/test_ballot_linkage.py (a batch of eight writers).
    paired = await db.fetch(
        "SELECT pp.person_id, b.choice FROM ballots b "
        "JOIN poll_participants pp ON pp.poll_id = b.poll_id AND pp.xmin = b.xmin"
    )
    assert [dict(r) for r in paired] == []
    authored = await db.fetch(
        "SELECT pp.person_id, c.body FROM comments c JOIN poll_participants pp ON pp.xmin = c.xmin"
    )
    assert [dict(r) for r in authored] == []
