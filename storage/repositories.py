"""One object holding every repository over one open database."""

from __future__ import annotations

from dataclasses import dataclass

from storage.deeds import DeedRepository
from storage.engine import Database, open_database
from storage.inbound import InboundRepository
from storage.migrate import ensure_schema
from storage.orgs import OrgRepository
from storage.outbox import OutboxRepository
from storage.people import PeopleRepository
from storage.reports import ReportRepository
from storage.runs import RunRepository


@dataclass(frozen=True, slots=True)
class Repositories:
    db: Database
    orgs: OrgRepository
    people: PeopleRepository
    inbound: InboundRepository
    deeds: DeedRepository
    outbox: OutboxRepository
    runs: RunRepository
    reports: ReportRepository

    @classmethod
    def over(cls, db: Database) -> Repositories:
        return cls(
            db=db,
            orgs=OrgRepository(db),
            people=PeopleRepository(db),
            inbound=InboundRepository(db),
            deeds=DeedRepository(db),
            outbox=OutboxRepository(db),
            runs=RunRepository(db),
            reports=ReportRepository(db),
        )


async def open_repositories(url: str) -> Repositories:
    """Open the database at `url`, upgrade its schema in place if needed."""
    db = await open_database(url)
    try:
        await ensure_schema(db)
    except BaseException:
        await db.close()
        raise
    return Repositories.over(db)
