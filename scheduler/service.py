"""The scheduler: APScheduler's AsyncIOScheduler as a timer over stored data.

Jobs are derived at start from the campaign file and the configuration, never pickled: a
timer for each milestone still ahead, and weekly and daily triggers. What was missed while
the service was down is caught up at start if it is at most `grace` late, and every job
notes its run per period, so nothing is sent twice. Among several processes (workers, hosts)
one scheduler is active: whoever holds the lease in the database; the others stand by and
take over when it stops renewing (within LEASE + RENEW of its death; at once after a clean
stop, which gives the lease back). What must happen once per deployment rather than once per
worker happens only in the lease's holder: the jobs, the sweeps, and the recovery of messages
a dead worker recorded and never handled. With the scheduler off ([scheduler] enabled =
false), the service still holds the lease for the recovery alone.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.clock import Clock
from bot.config import DAYS, SchedulerSection, parse_duration, parse_weekly
from scheduler import jobs
from scheduler.campaign import Campaign, Milestone
from scheduler.sweeps import run_sweeps

log = logging.getLogger(__name__)

LOCK = "scheduler"
LEASE = timedelta(seconds=30)
RENEW = timedelta(seconds=10)  # three renewals per lease: one late or failed one is no takeover
# A message recorded this long ago and still unhandled was left by a worker that died: a live
# one answers its webhook within seconds (Twilio gives up after 15).
STALE = timedelta(seconds=60)

Job = Callable[[jobs.JobContext, datetime], Awaitable[int]]
# Handles the messages recorded before the instant given and never handled; returns how many.
Recover = Callable[[datetime], Awaitable[int]]


def last_fire(now_local: datetime, weekday: int | None, at: time) -> datetime:
    """The latest instant at or before `now_local` matching weekday (None: daily) and time."""
    candidate = datetime.combine(now_local.date(), at, tzinfo=now_local.tzinfo)
    if candidate > now_local:
        candidate -= timedelta(days=1)
    while weekday is not None and candidate.weekday() != weekday:
        candidate -= timedelta(days=1)
    return candidate


class SchedulerService:
    def __init__(
        self,
        ctx: jobs.JobContext,
        campaign: Campaign | None,
        settings: SchedulerSection,
        clock: Clock,
        sweep_every: timedelta = timedelta(seconds=60),
        recover: Recover | None = None,
    ) -> None:
        """`campaign` None: the scheduler is off, and only `recover` runs (under the lease)."""
        self.sweep_every = sweep_every
        self.recover = recover
        self.ctx = ctx
        self.campaign = campaign
        self.settings = settings
        self.clock = clock
        self.grace = parse_duration(settings.grace)
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.periodic: list[tuple[str, Job, int | None, time]] = []
        for name, job, spec in (
            ("weekly_reminder", jobs.weekly_reminder, settings.weekly_reminder),
            ("daily_nudge", jobs.daily_nudge, settings.daily_nudge),
            ("weekly_digest", jobs.weekly_digest, settings.weekly_digest),
        ):
            parsed = parse_weekly(spec)
            if parsed is not None and campaign is not None:
                self.periodic.append((name, job, *parsed))
        self._scheduler: AsyncIOScheduler | None = None
        self.leader = False

    async def is_leader(self) -> bool:
        now = self.clock.now()
        self.leader = await self.ctx.repos.runs.acquire(LOCK, self.holder, now, now + LEASE)
        return self.leader

    async def start(self) -> None:
        scheduler = AsyncIOScheduler(timezone=self.ctx.zone)
        now = self.clock.now()
        for milestone in self.campaign.milestones if self.campaign is not None else ():
            if milestone.at > now:
                scheduler.add_job(
                    self._milestone,
                    DateTrigger(milestone.at),
                    args=[milestone],
                    id=f"milestone:{milestone.id}",
                    misfire_grace_time=None,
                )
        for name, job, weekday, at in self.periodic:
            trigger = CronTrigger(
                day_of_week=DAYS[weekday] if weekday is not None else "*",
                hour=at.hour,
                minute=at.minute,
                timezone=self.ctx.zone,
            )
            scheduler.add_job(
                self._periodic,
                trigger,
                args=[name, job],
                id=name,
                misfire_grace_time=int(self.grace.total_seconds()),
                coalesce=True,
            )
        scheduler.add_job(
            self._renew,
            IntervalTrigger(seconds=RENEW.total_seconds()),
            id="lease",
            # Late (a busy event loop) is still worth renewing: skipped, the lease would lapse.
            misfire_grace_time=None,
            coalesce=True,
        )
        scheduler.add_job(
            self._sweep,
            IntervalTrigger(seconds=self.sweep_every.total_seconds()),
            id="sweep",
            coalesce=True,
            max_instances=1,
        )
        scheduler.start()
        self._scheduler = scheduler
        if await self.is_leader():
            await self.catch_up()
        log.info(
            "scheduler %s: %d jobs%s; %s",
            self.holder,
            len(scheduler.get_jobs()),
            "" if self.campaign is not None else " (off: recovery only)",
            "active" if self.leader else "standing by (another process holds the lease)",
        )

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self.leader:
            await self.ctx.repos.runs.release(LOCK, self.holder)
            self.leader = False

    async def catch_up(self) -> int:
        """Run what should have run within the grace period and did not. Returns jobs run."""
        now = self.clock.now()
        ran = 0
        if self.campaign is None:
            await self._recover(now)
            return ran
        for milestone in self.campaign.milestones:
            late = now - milestone.at
            if timedelta(0) <= late <= self.grace:
                ran += bool(await jobs.push_milestone(self.ctx, self.campaign, milestone, now))
            elif late > self.grace:
                log.debug("milestone %s is %s late, beyond the grace: skipped", milestone.id, late)
        local = now.astimezone(self.ctx.zone)
        for name, job, weekday, at in self.periodic:
            due = last_fire(local, weekday, at)
            if local - due <= self.grace:
                # Run as of the missed instant, so its period (week, day) is the missed one.
                ran += bool(await job(self.ctx, due))
                log.info("caught up %s due at %s", name, due)
        await run_sweeps(self.ctx, now)  # polls due to open or close while we were down
        await self._recover(now)
        return ran

    async def _recover(self, now: datetime) -> None:
        """Handle what dead workers left recorded and unhandled (their replies go through
        the outbox). Only messages older than STALE: younger ones may be in the hands of a
        live worker right now, and are taken at a later sweep if they are not."""
        if self.recover is None:
            return
        try:
            await self.recover(now - STALE)
        except Exception:
            log.exception("recovering unhandled messages failed; tried again at the next sweep")

    async def _renew(self) -> None:
        was = self.leader
        if await self.is_leader() and not was:
            log.warning("scheduler %s took over the lease", self.holder)
            await self.catch_up()

    async def _milestone(self, milestone: Milestone) -> None:
        assert self.campaign is not None  # a timer only exists for a campaign's milestone
        if await self.is_leader():
            await jobs.push_milestone(self.ctx, self.campaign, milestone, self.clock.now())

    async def _sweep(self) -> None:
        if await self.is_leader():
            now = self.clock.now()
            if self.campaign is not None:
                await run_sweeps(self.ctx, now)
            await self._recover(now)

    async def _periodic(self, name: str, job: Job) -> None:
        if await self.is_leader():
            count = await job(self.ctx, self.clock.now())
            log.info("%s: %d messages queued", name, count)
