"""`grassroots serve --workers 2` on one PostgreSQL database, run as a real deployment runs it:
uvicorn's supervisor and two spawned worker processes on one port, signed Twilio webhooks
over HTTP, SMS sent through the twilio library to a local fake of Twilio's REST API.

- Webhooks posted at once to both workers (some twice at the same moment, as Twilio retries)
  are each stored once and handled once; both workers answer.
- One scheduler is active; SIGTERM to its worker hands the lease over at the next renewal.
- In the middle of a broadcast, SIGTERM to one worker gives its claims back at once (nothing
  is reclaimed, nothing sent twice); SIGKILL to another loses nothing, and the duplicates
  stay within what it held, counted in `broadcast status`. The supervisor starts a new worker
  each time.
- Messages a dead worker recorded and never handled are handled by the lease holder alone,
  once no live worker can still be holding them.
- With SQLite, or with Telegram polling, more than one worker is refused in one line before
  the database is touched.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from twilio.request_validator import RequestValidator

from bot.app import App
from bot.config import SchedulerSection, load_config
from bot.messages import Address, AddressKind, Channel, Inbound
from bot.serving import workers_problem
from scheduler.jobs import JobContext
from scheduler.service import LOCK, RENEW, STALE, SchedulerService
from storage.engine import Database
from storage.repositories import open_repositories
from tests.conftest import KEY, MEMBER
from tests.servers import free_port, serve_asgi
from tests.test_sms_outbound import FakeTwilio
from tests.test_sms_webhook import ACCOUNT, PUBLIC_URL, SIGNED_URL, TOKEN

PG = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
DEADLINE = 120.0  # seconds for any one wait below (a loaded machine; usually a few)


def member(i: int) -> str:
    return f"+86138{i:08d}"


@dataclass
class Deployment:
    tmp: Path
    env: dict[str, str]
    port: int
    proc: asyncio.subprocess.Process
    log: Path

    def workers(self) -> list[int]:
        """The supervisor's worker processes (spawned; not its resource tracker)."""
        pid = self.proc.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return []
        found = []
        for child in map(int, children):
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in cmdline:
                found.append(child)
        return sorted(found)

    def lines(self, text: str) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if text in line]


async def until(condition: Callable[[], Awaitable[bool]] | Callable[[], bool], what: str) -> float:
    """Wait for `condition`, letting the event loop (the fake Twilio) run; seconds waited."""
    start = time.monotonic()
    while True:
        done = condition()
        if not isinstance(done, bool):
            done = await done
        if done:
            return time.monotonic() - start
        assert time.monotonic() - start < DEADLINE, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def grassroots(dep_env: dict[str, str], cwd: Path, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--config",
        "config.toml",
        *args,
        cwd=cwd,
        env=dep_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, f"grassroots {' '.join(args)}: {err.decode()}"
    return out.decode()


def cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def environment(db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRASSROOTS_", "TWILIO_"))}
    return env | {
        "GRASSROOTS_DATABASE_URL": db_url,
        "GRASSROOTS_SECRET_KEY": KEY,
        "TWILIO_AUTH_TOKEN": TOKEN,
    }


def configure(tmp_path: Path, fake_url: str, outbox: str = "") -> None:
    """SMS through Twilio (the fake's URL), no quiet hours, the scheduler on."""
    (tmp_path / "config.toml").write_text(
        f'[twilio]\naccount_sid = "{ACCOUNT}"\nfrom_number = "+8610690000"\n'
        f'public_url = "{PUBLIC_URL}"\napi_base_url = "{fake_url}"\n'
        f'[outbox]\nquiet_hours = ""\n{outbox}\n[log]\nlevel = "INFO"\n'
    )


async def seed(tmp_path: Path, env: dict[str, str], members: int) -> None:
    """One branch and its `members` members, through the import commands."""
    (tmp_path / "orgs.csv").write_text("code,name,kind,parent_code\nV1,东坡村党支部,branch,\n")
    (tmp_path / "people.csv").write_text(
        "org_code,name,phone,role\n"
        + "".join(f"V1,党员{i},{member(i)},member\n" for i in range(members))
    )
    await grassroots(env, tmp_path, "import-orgs", "orgs.csv")
    await grassroots(env, tmp_path, "import-people", "people.csv")


@asynccontextmanager
async def deployment(tmp_path: Path, env: dict[str, str]) -> AsyncIterator[Deployment]:
    """`serve --workers 2` on the configured database, until the block ends (SIGTERM)."""
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "bot", "--config", "config.toml", "serve"),
            *("--workers", "2", "--port", str(port)),
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    dep = Deployment(tmp_path, env, port, proc, log)
    try:
        await until(lambda: len(dep.lines("Application startup complete")) == 2, "two workers")
        yield dep
        assert await stop(proc) == 0, dep.log.read_text()[-3000:]  # SIGTERM: a clean stop
    finally:
        if proc.returncode is None:
            await stop(proc)


async def stop(proc: asyncio.subprocess.Process) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(30):
            return await proc.wait()
    except TimeoutError:
        proc.kill()
        return await proc.wait()


async def scheduler_holder(db: Database) -> int | None:
    """The pid of the worker holding the scheduler's lease, if one does."""
    holder = await db.fetchval("SELECT holder FROM locks WHERE name = :n", {"n": LOCK})
    return int(holder.split(":")[1]) if holder else None


def webhook(sid: str, sender: str, body: str) -> tuple[dict[str, str], dict[str, str]]:
    form = {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": ACCOUNT,
        "From": sender,
        "To": "+8610690000",
        "Body": body,
        "NumMedia": "0",
        "ApiVersion": "2010-04-01",
    }
    signature = RequestValidator(TOKEN).compute_signature(SIGNED_URL, form)
    return form, {"X-Twilio-Signature": signature}


@PG
async def test_two_workers_store_and_handle_each_webhook_once_under_one_scheduler(
    tmp_path: Path, db_url: str
):
    messages, twice, members = 400, 40, 50
    fake = FakeTwilio()
    env = environment(db_url)
    async with serve_asgi(fake.app()) as fake_url:
        configure(tmp_path, fake_url)
        await seed(tmp_path, env, members)
        async with deployment(tmp_path, env) as dep:
            await _webhooks_and_scheduler(dep, db_url, messages, twice, members)


async def _webhooks_and_scheduler(
    dep: Deployment, db_url: str, messages: int, twice: int, members: int
) -> None:
    workers = dep.workers()
    assert len(workers) == 2
    sids = [f"SM{n:032x}" for n in range(messages)]
    # Twilio retrying: the first `twice` go twice, one right after the other, so two
    # connections (often two workers) carry them at the same moment.
    posts = [
        webhook(sid, member(n % members), f"汇报 今天帮邻居修水渠 {n}")
        for n, sid in enumerate(sids)
        for _ in range(2 if n < twice else 1)
    ]
    order = iter(range(len(posts)))
    statuses: list[int] = [0] * len(posts)
    recorded: Counter[str] = Counter()  # answers saying the deed was recorded, per sid
    cpu_before = {pid: cpu_seconds(pid) for pid in workers}

    async def connection() -> None:
        # One keep-alive connection each: the kernel hands each to one worker.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{dep.port}") as client:
            for n in order:
                form, headers = posts[n]
                response = await client.post("/sms/inbound", data=form, headers=headers)
                statuses[n] = response.status_code
                recorded[form["MessageSid"]] += "已记录" in response.text

    await asyncio.gather(*(connection() for _ in range(32)))
    cpu = {pid: cpu_seconds(pid) - cpu_before[pid] for pid in workers}
    assert Counter(statuses) == {200: len(posts)}
    # Each deed's reply came back; a repeat arriving while the first was being handled was
    # answered with empty TwiML (the first carries the reply), one arriving after it with
    # the same reply again.
    assert all(recorded[sid] >= 1 for sid in sids), recorded
    # Both workers took their share of the load (each over a tenth of the CPU spent).
    assert all(used > 0.1 * sum(cpu.values()) for used in cpu.values()), cpu

    repos = await open_repositories(db_url)
    try:
        rows = await repos.db.fetch(
            "SELECT m.provider_id, m.status, COUNT(d.id) AS deeds FROM inbound_messages m "
            "LEFT JOIN deeds d ON d.inbound_id = m.id WHERE m.channel = 'sms' "
            "GROUP BY m.id, m.provider_id, m.status"
        )
        assert sorted(r["provider_id"] for r in rows) == sorted(sids)  # each stored once
        assert {(r["status"], r["deeds"]) for r in rows} == {("handled", 1)}  # handled once

        # One scheduler: one worker holds the lease, the other stands by.
        leader = await scheduler_holder(repos.db)
        assert leader in workers
        assert len(dep.lines("; active")) == 1
        assert len(dep.lines("standing by")) == 1
        # SIGTERM to the leader gives the lease back. The supervisor starts a worker in
        # place of the stopped one; the first of the two to ask (the other at its renewal,
        # the new one at its start) holds the lease, and only that one.
        os.kill(leader, signal.SIGTERM)

        async def taken_over() -> bool:
            holder = await scheduler_holder(repos.db)
            return holder is not None and holder != leader

        waited = await until(taken_over, "another worker to take the lease")
        assert waited < RENEW.total_seconds() + 10
        await until(lambda: len(dep.workers()) == 2 and leader not in dep.workers(), "a new worker")
        assert await scheduler_holder(repos.db) in dep.workers()
        await until(  # the log says so too, once its start-up or takeover is through
            lambda: len(dep.lines("; active")) + len(dep.lines("took over the lease")) == 2,
            "the log to name the new holder",
        )
    finally:
        await repos.db.close()


@PG
async def test_sigterm_hands_claims_back_and_sigkill_mid_broadcast_loses_nothing(
    tmp_path: Path, db_url: str
):
    recipients = 3000
    fake = FakeTwilio()
    env = environment(db_url)
    async with serve_asgi(fake.app()) as fake_url:
        configure(tmp_path, fake_url, 'claim_lease = "5s"\n[outbox.rate]\nsms = 150\n')
        await seed(tmp_path, env, recipients)
        # Queued before the service starts: nobody sends it yet.
        text = "周五晚七点开党员大会"
        sent = await grassroots(
            env, tmp_path, "broadcast", "send", "--org", "V1", "--role", "member", "--text", text
        )
        broadcast = sent.strip().splitlines()[-1]
        async with deployment(tmp_path, env) as dep:
            repos = await open_repositories(db_url)
            try:
                await until(lambda: len(fake.requests) >= recipients // 5, "a fifth sent")
                # SIGTERM: the worker finishes the sends under way, gives the rest back.
                claims = await claims_by_worker(repos.db)
                term = max(dep.workers(), key=lambda pid: claims.get(pid, 0))
                os.kill(term, signal.SIGTERM)
                await until(lambda: not Path(f"/proc/{term}").exists(), "the worker to stop")
                left = await claims_by_worker(repos.db)
                assert left.get(term, 0) == 0  # nothing left claimed by it
                reclaims = "SELECT COALESCE(SUM(reclaims), 0) FROM outbox"
                assert await repos.db.fetchval(reclaims) == 0  # nor taken back from it

                await until(lambda: len(fake.requests) >= recipients // 2, "half sent")
                # SIGKILL: whatever it held waits for its lease to run out, then is resent.
                claims = await claims_by_worker(repos.db)
                kill = max(dep.workers(), key=lambda pid: claims.get(pid, 0))
                held = claims.get(kill, 0)
                os.kill(kill, signal.SIGKILL)

                async def all_sent() -> bool:
                    return (
                        await repos.db.fetchval("SELECT COUNT(*) FROM outbox WHERE status = 'sent'")
                        == recipients
                    )

                await until(all_sent, "every message sent")
                await until(lambda: len(dep.workers()) == 2, "the supervisor's new worker")
            finally:
                await repos.db.close()
        report = await grassroots(env, tmp_path, "--lang", "en", "broadcast", "status", broadcast)
    counts = Counter(r["fields"]["To"] for r in fake.requests)
    assert len(counts) == recipients  # everyone got it
    duplicates = sum(n - 1 for n in counts.values())
    match = re.search(r"possible duplicates (\d+)", report)
    assert match is not None, report
    reclaimed = int(match.group(1))
    print(f"killed worker held {held}; {duplicates} duplicates, {reclaimed} reclaimed")
    assert f"sent {recipients}," in report and "waiting 0" in report
    # Only the killed worker's claims were taken back (the stopped one gave its own back),
    # and no more than one claimed batch of it.
    assert duplicates <= reclaimed <= 64


async def claims_by_worker(db: Database) -> dict[int, int]:
    """Messages being sent, per worker pid (a dispatcher's holder is host:pid:id)."""
    rows = await db.fetch(
        "SELECT claimed_by, COUNT(*) AS n FROM outbox WHERE status = 'sending' GROUP BY claimed_by"
    )
    return {int(r["claimed_by"].split(":")[1]): r["n"] for r in rows if r["claimed_by"]}


@pytest.mark.parametrize("how", ["option", "config"])
def test_several_workers_on_sqlite_are_refused_in_one_line(tmp_path: Path, how: str):
    db = tmp_path / "bot.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRASSROOTS_")}
    env["GRASSROOTS_DATABASE_URL"] = f"sqlite+aiosqlite:///{db}"
    workers = "[server]\nworkers = 3\n" if how == "config" else ""
    (tmp_path / "config.toml").write_text(workers + '[bot]\nlanguage = "en"\n')
    option = ["--workers", "3"] if how == "option" else []
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--config", "config.toml", "serve", *option],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "3 workers need PostgreSQL: a SQLite file takes one writer at a time (serve with 1 "
        "worker, or set GRASSROOTS_DATABASE_URL to PostgreSQL)"
    ]
    assert not db.exists()  # refused before the database was touched


async def test_only_the_lease_holder_recovers_and_only_what_no_live_worker_can_hold(
    county: App,
):
    """A message recorded and never handled is handled by the scheduler's lease holder
    alone, once it is older than STALE: a younger one may be in a live worker's hands."""
    now = county.clock.now()
    sender = Address(AddressKind.SMS, MEMBER)
    ids = {}
    for name, age in (("old", STALE + timedelta(seconds=1)), ("young", timedelta(seconds=5))):
        inbound = Inbound(Channel.SMS, name, sender, f"汇报 修水渠 {name}", now - age)
        ids[name] = (await county.router.accept(inbound)).id  # recorded; the worker died

    def worker() -> SchedulerService:
        ctx = JobContext(county.repos, county.config.zone, "zh-CN")
        return SchedulerService(
            ctx,
            None,  # [scheduler] off: the lease and the recovery alone
            SchedulerSection(enabled=False),
            county.clock,
            recover=lambda before: county.router.recover(before=before),
        )

    async def status(name: str) -> str:
        return await county.repos.db.fetchval(
            "SELECT status FROM inbound_messages WHERE id = :id", {"id": ids[name]}
        )

    leader, standby = worker(), worker()
    assert await leader.is_leader()
    await standby._sweep()  # not the holder: does nothing
    assert (await status("old"), await status("young")) == ("received", "received")
    await leader._sweep()
    assert (await status("old"), await status("young")) == ("handled", "received")
    reply = await county.repos.db.fetchval(
        "SELECT body FROM outbox WHERE idempotency_key = :k", {"k": f"reply:{ids['old']}:0"}
    )
    assert reply.startswith("已记录")  # the sender hears back through the outbox
    county.clock.advance(STALE)
    await leader._sweep()
    assert await status("young") == "handled"


@pytest.mark.parametrize(
    ("mode", "flag", "refused"),
    [("polling", None, True), ("webhook", True, True), ("webhook", None, False)],
)
def test_several_workers_with_telegram_polling_are_refused(
    tmp_path: Path, mode: str, flag: bool | None, refused: bool
):
    """Telegram gives updates to one poller: several workers need its webhook."""
    (tmp_path / "config.toml").write_text(
        f'[bot]\nlanguage = "en"\n[telegram]\nenabled = true\nmode = "{mode}"\n'
        'public_url = "https://bot.example.org"\n'
    )
    config = load_config(
        tmp_path / "config.toml",
        env={
            "GRASSROOTS_DATABASE_URL": "postgresql+asyncpg://bot@db.example.org/bot",
            "TELEGRAM_BOT_TOKEN": "123456:" + "A" * 35,
            "TELEGRAM_WEBHOOK_SECRET": "s" * 32,
            "GRASSROOTS_SECRET_KEY": KEY,
        },
    )
    problem = workers_problem(config, 2, telegram_polling=flag)
    assert problem == (
        "--telegram-polling fetches updates in one process only: with 2 workers use the "
        "Telegram webhook"
        if refused
        else None
    )
    assert workers_problem(config, 1, telegram_polling=flag) is None


def test_each_worker_gets_a_socket_of_its_own_on_the_held_port():
    """The supervisor's socket holds the port without listening; what a worker unpickles is
    a new socket on the same address that joins it (SO_REUSEPORT). Anything else that binds
    the port finds it busy."""
    from multiprocessing.reduction import ForkingPickler

    from bot.serving import PortOfEachWorker
    from bot.web.app import listen

    held = listen("127.0.0.1", 0, kind=PortOfEachWorker, reuse_port=True)
    try:
        mine = ForkingPickler.loads(ForkingPickler.dumps(held))
        try:
            assert mine.fileno() != held.fileno()
            assert mine.getsockname() == held.getsockname()
            assert mine.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
            mine.listen()
            with pytest.raises(OSError):  # another program, or a `serve` without workers
                listen("127.0.0.1", held.getsockname()[1])
        finally:
            mine.close()
    finally:
        held.close()
