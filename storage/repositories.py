"""One object holding every repository over one open database."""

from __future__ import annotations

from dataclasses import dataclass

from storage.activity import ActivityRepository
from storage.commentary import CommentaryRepository
from storage.comments import CommentRepository
from storage.commitments import CommitmentRepository
from storage.console_sessions import ConsoleSessionRepository
from storage.deeds import DeedRepository
from storage.engine import Database, open_database
from storage.inbound import InboundRepository
from storage.limits import LimitRepository
from storage.migrate import ensure_schema
from storage.orgs import OrgRepository
from storage.outbox import OutboxRepository
from storage.pending import PendingRepository
from storage.people import PeopleRepository
from storage.polls import PollRepository
from storage.public_messages import PublicMessageRepository
from storage.public_notices import PublicNoticeRepository
from storage.recommendations import RecommendationRepository
from storage.reports import ReportRepository
from storage.runs import RunRepository
from storage.sealing import Keys
from storage.sender_lists import SenderListRepository


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
    pending: PendingRepository
    commitments: CommitmentRepository
    commentary: CommentaryRepository
    recommendations: RecommendationRepository
    public_notices: PublicNoticeRepository
    polls: PollRepository
    comments: CommentRepository
    public_messages: PublicMessageRepository
    limits: LimitRepository
    lists: SenderListRepository
    console_sessions: ConsoleSessionRepository
    activity: ActivityRepository

    def use_secret(self, secret: bytes) -> None:
        """Seal ballots, pending comments and message bodies under keys derived from the
        deployment's secret (storage/sealing.py)."""
        keys = Keys(secret)
        self.polls.keys = keys
        self.comments.keys = keys
        self.inbound.keys = keys

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
            pending=PendingRepository(db),
            commitments=CommitmentRepository(db),
            commentary=CommentaryRepository(db),
            recommendations=RecommendationRepository(db),
            public_notices=PublicNoticeRepository(db),
            polls=PollRepository(db),
            comments=CommentRepository(db),
            public_messages=PublicMessageRepository(db),
            limits=LimitRepository(db),
            lists=SenderListRepository(db),
            console_sessions=ConsoleSessionRepository(db),
            activity=ActivityRepository(db),
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
