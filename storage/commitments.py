"""Public commitments (公开承诺) and their progress.

A commitment is known by a stable short code, C<id>, and a poll about it names the subject
`commitment:<id>`. It goes to the branch's public in batches claimed by the sweep: claiming
marks the rows with a batch key, and the broadcast id is written once the batch is queued,
so a batch whose process died in between is queued again under the same keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from bot.messages import Address, AddressKind
from storage.engine import Database, Row, as_date, as_datetime
from storage.reports import PREFERRED_ADDRESS

CODE_PREFIX = "C"


def code_of(commitment_id: int) -> str:
    return f"{CODE_PREFIX}{commitment_id}"


def subject_of(commitment_id: int) -> str:
    """What a poll about this commitment names as its subject."""
    return f"commitment:{commitment_id}"


class PublishMode(StrEnum):
    NOW = "now"  # published as soon as made (the default)
    WEEKLY = "weekly"  # gathered and published on a weekday at a time
    MANUAL = "manual"  # held until the secretary sends 承诺公示


@dataclass(frozen=True, slots=True)
class Schedule:
    mode: PublishMode = PublishMode.NOW
    weekday: int | None = None  # 0 = Monday
    minute: int | None = None  # after local midnight


@dataclass(frozen=True, slots=True)
class Commitment:
    id: int
    org_id: int
    person_id: int | None  # None: the branch's own commitment
    author: str | None  # the member's name
    body: str
    due_on: date | None
    status: str  # open, done
    created_at: datetime
    publish_at: datetime | None
    published_at: datetime | None
    done_at: datetime | None
    progress: int = 0  # deeds reported towards it

    @property
    def code(self) -> str:
        return code_of(self.id)

    @property
    def subject(self) -> str:
        return subject_of(self.id)

    @property
    def is_branch(self) -> bool:
        return self.person_id is None

    @property
    def is_open(self) -> bool:
        return self.status == "open"


@dataclass(frozen=True, slots=True)
class Batch:
    """Commitments of one organisation claimed into one publication."""

    key: str
    org_id: int
    org_name: str
    items: list[Commitment]


@dataclass(frozen=True, slots=True)
class Due:
    """An open commitment with a due date, and what it was sent of reminders so far."""

    commitment: Commitment
    org_name: str
    org_timezone: str | None
    reminded: bool
    prompted: bool


@dataclass(frozen=True, slots=True)
class Reachable:
    person_id: int
    language: str | None
    address: Address


_COLUMNS = """
    c.id, c.org_id, c.person_id, p.name AS author, c.body, c.due_on, c.status, c.created_at,
    c.publish_at, c.published_at, c.done_at,
    (SELECT COUNT(*) FROM deeds d WHERE d.commitment_id = c.id) AS progress
"""
_FROM = "FROM commitments c LEFT JOIN people p ON p.id = c.person_id"
_WITH_ORG = f"{_FROM} JOIN organisations o ON o.id = c.org_id"
_SELECT = f"SELECT {_COLUMNS} {_FROM}"


def commitment_of(row: Row) -> Commitment:
    """A Commitment from a row holding the columns the queries above select (progress
    included: a query that does not count it selects `0 AS progress`)."""
    created = as_datetime(row["created_at"])
    assert created is not None
    return Commitment(
        id=row["id"],
        org_id=row["org_id"],
        person_id=row["person_id"],
        author=row["author"],
        body=row["body"],
        due_on=as_date(row["due_on"]),
        status=row["status"],
        created_at=created,
        publish_at=as_datetime(row["publish_at"]),
        published_at=as_datetime(row["published_at"]),
        done_at=as_datetime(row["done_at"]),
        progress=int(row["progress"]),
    )


class CommitmentRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        *,
        org_id: int,
        person_id: int | None,
        body: str,
        due_on: date | None,
        created_by: int | None,
        publish_at: datetime | None,
        now: datetime,
        source: str,
    ) -> Commitment:
        """A new commitment, or the one already made from `source` (a message handled again
        after a crash makes none twice)."""
        await self.db.write(
            """
            INSERT INTO commitments (org_id, person_id, body, due_on, created_by, created_at,
                                     source, publish_at)
            VALUES (:org, :person, :body, :due, :by, :now, :source, :publish_at)
            ON CONFLICT (source) DO NOTHING
            """,
            {
                "org": org_id,
                "person": person_id,
                "body": body,
                "due": due_on,
                "by": created_by,
                "now": now,
                "source": source,
                "publish_at": publish_at,
            },
        )
        row = await self.db.fetchrow(f"{_SELECT} WHERE c.source = :source", {"source": source})
        assert row is not None
        return commitment_of(row)

    async def get(self, commitment_id: int) -> Commitment | None:
        row = await self.db.fetchrow(f"{_SELECT} WHERE c.id = :id", {"id": commitment_id})
        return commitment_of(row) if row else None

    async def complete(self, commitment_id: int, by: int | None, now: datetime) -> bool:
        """Mark it done. False if it was done already."""
        rows = await self.db.write(
            "UPDATE commitments SET status = 'done', done_at = :now, done_by = :by "
            "WHERE id = :id AND status = 'open' RETURNING id",
            {"id": commitment_id, "by": by, "now": now},
        )
        return bool(rows)

    async def open_of(self, person_id: int) -> list[Commitment]:
        """A member's open commitments, soonest due first."""
        rows = await self.db.fetch(
            f"""{_SELECT} WHERE c.person_id = :person AND c.status = 'open'
            ORDER BY CASE WHEN c.due_on IS NULL THEN 1 ELSE 0 END, c.due_on, c.id""",
            {"person": person_id},
        )
        return [commitment_of(r) for r in rows]

    async def listing(
        self, org_id: int, viewer: int | None, all_of_them: bool, limit: int = 20
    ) -> tuple[list[Commitment], int]:
        """An organisation's open commitments that `viewer` may see (the published ones and
        their own; every one if `all_of_them`), soonest due first; and how many are done."""
        visible = "(:everyone = 1 OR c.published_at IS NOT NULL OR c.person_id = :viewer)"
        params = {"org": org_id, "viewer": viewer or -1, "everyone": 1 if all_of_them else 0}
        rows = await self.db.fetch(
            f"""{_SELECT} WHERE c.org_id = :org AND c.status = 'open' AND {visible}
            ORDER BY CASE WHEN c.due_on IS NULL THEN 1 ELSE 0 END, c.due_on, c.id
            LIMIT :limit""",
            {**params, "limit": limit},
        )
        done = await self.db.fetchval(
            f"""SELECT COUNT(*) AS n FROM commitments c
            WHERE c.org_id = :org AND c.status = 'done' AND {visible}""",
            params,
        )
        return [commitment_of(r) for r in rows], int(done or 0)

    # --- publication ------------------------------------------------------------------

    async def schedule(self, org_id: int) -> Schedule:
        row = await self.db.fetchrow(
            "SELECT mode, weekday, minute FROM commitment_schedules WHERE org_id = :org",
            {"org": org_id},
        )
        if row is None:
            return Schedule()
        return Schedule(PublishMode(row["mode"]), row["weekday"], row["minute"])

    async def set_schedule(
        self,
        org_id: int,
        schedule: Schedule,
        next_publication: datetime | None,
        by: int | None,
        now: datetime,
    ) -> int:
        """Set how a branch publishes; its commitments not yet published follow the new
        schedule (published at `next_publication`, or held if None). Returns how many."""
        async with self.db.transaction() as tx:
            await tx.execute(
                """
                INSERT INTO commitment_schedules (org_id, mode, weekday, minute, updated_by,
                                                  updated_at)
                VALUES (:org, :mode, :weekday, :minute, :by, :now)
                ON CONFLICT (org_id) DO UPDATE SET mode = excluded.mode,
                    weekday = excluded.weekday, minute = excluded.minute,
                    updated_by = excluded.updated_by, updated_at = excluded.updated_at
                """,
                {
                    "org": org_id,
                    "mode": schedule.mode.value,
                    "weekday": schedule.weekday,
                    "minute": schedule.minute,
                    "by": by,
                    "now": now,
                },
            )
            rows = await tx.fetch(
                "UPDATE commitments SET publish_at = :at "
                "WHERE org_id = :org AND published_at IS NULL RETURNING id",
                {"org": org_id, "at": next_publication},
            )
        return len(rows)

    async def release(self, org_id: int, now: datetime) -> int:
        """Publish the organisation's commitments not yet published at the next sweep.
        Returns how many."""
        rows = await self.db.write(
            "UPDATE commitments SET publish_at = :now "
            "WHERE org_id = :org AND published_at IS NULL RETURNING id",
            {"org": org_id, "now": now},
        )
        return len(rows)

    async def claim_due(self, now: datetime) -> list[Batch]:
        """Claim the commitments whose time to be published has come, one batch per
        organisation; with them, batches claimed earlier whose broadcast was never queued."""
        orgs = await self.db.fetch(
            "SELECT DISTINCT org_id FROM commitments "
            "WHERE published_at IS NULL AND publish_at <= :now",
            {"now": now},
        )
        for org in orgs:
            async with self.db.transaction() as tx:
                ids = [
                    r["id"]
                    for r in await tx.fetch(
                        "SELECT id FROM commitments WHERE org_id = :org "
                        "AND published_at IS NULL AND publish_at <= :now ORDER BY id",
                        {"org": org["org_id"], "now": now},
                    )
                ]
                if not ids:
                    continue
                # The first id names the batch: each commitment is claimed once.
                key = f"commitments:{org['org_id']}:{ids[0]}"
                marks = ", ".join(f":id{i}" for i in range(len(ids)))
                await tx.execute(
                    f"UPDATE commitments SET batch = :key, published_at = :now "
                    f"WHERE id IN ({marks})",
                    {"key": key, "now": now, **{f"id{i}": v for i, v in enumerate(ids)}},
                )
        unqueued = await self.db.fetch(
            "SELECT DISTINCT batch FROM commitments "
            "WHERE broadcast_id IS NULL AND batch IS NOT NULL ORDER BY batch"
        )
        batches = []
        for found in unqueued:
            rows = await self.db.fetch(
                f"""SELECT {_COLUMNS}, o.name AS org_name {_WITH_ORG}
                WHERE c.batch = :key ORDER BY c.id""",
                {"key": found["batch"]},
            )
            items = [commitment_of(r) for r in rows]
            batches.append(Batch(found["batch"], items[0].org_id, rows[0]["org_name"], items))
        return batches

    async def mark_queued(self, batch: str, broadcast_id: int) -> None:
        await self.db.write(
            "UPDATE commitments SET broadcast_id = :b WHERE batch = :key",
            {"b": broadcast_id, "key": batch},
        )

    # --- reminders --------------------------------------------------------------------

    async def coming_due(self, until: date) -> list[Due]:
        """Open commitments due by `until` that still owe a reminder or a prompt."""
        rows = await self.db.fetch(
            f"""SELECT {_COLUMNS}, o.name AS org_name, o.timezone AS org_timezone,
                       c.reminded_at, c.prompted_at
            {_WITH_ORG}
            WHERE c.status = 'open' AND c.due_on IS NOT NULL AND c.due_on <= :until
              AND (c.reminded_at IS NULL OR c.prompted_at IS NULL)
            ORDER BY c.due_on, c.id""",
            {"until": until},
        )
        return [
            Due(
                commitment_of(r),
                r["org_name"],
                r["org_timezone"],
                r["reminded_at"] is not None,
                r["prompted_at"] is not None,
            )
            for r in rows
        ]

    async def mark(self, commitment_id: int, what: str, now: datetime) -> None:
        """Note that the reminder (`reminded`) or the prompt (`prompted`) was dealt with."""
        column = {"reminded": "reminded_at", "prompted": "prompted_at"}[what]
        await self.db.write(
            f"UPDATE commitments SET {column} = :now WHERE id = :id AND {column} IS NULL",
            {"id": commitment_id, "now": now},
        )

    async def answerable(self, commitment: Commitment) -> list[Reachable]:
        """Who answers for a commitment: its member, or the secretaries of a branch's own;
        each at their preferred usable address."""
        if commitment.person_id is not None:
            who, params = "p.id = :person", {"person": commitment.person_id}
        else:
            who = "p.id IN (SELECT person_id FROM roles WHERE org_id = :org AND role = 'secretary')"
            params = {"org": commitment.org_id}
        rows = await self.db.fetch(
            f"""
            SELECT p.id, p.language, pa.kind, pa.value
            FROM people p JOIN ({PREFERRED_ADDRESS}) pa ON pa.person_id = p.id
            WHERE {who} ORDER BY p.id
            """,
            params,
        )
        return [_reachable(r) for r in rows]


def _reachable(row: Row) -> Reachable:
    return Reachable(row["id"], row["language"], Address(AddressKind(row["kind"]), row["value"]))
