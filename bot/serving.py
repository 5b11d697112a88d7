"""`grassroots serve`: check what can stop the service, bind the port, then start.

uvicorn binds its port only after the application's start-up has run, so a busy port
used to surface after the dispatcher had already sent messages. Here the campaign file is
read and the socket bound first; a failure is one line on stderr and nothing has started.

Several workers (`--workers N`, `[server] workers`) are uvicorn's own supervisor
(uvicorn.supervisors.Multiprocess): N processes, each a whole service (webhooks, pages, an
outbox dispatcher, a scheduler standing by under the database lease). The supervisor starts
a worker again when it dies, replaces them one by one on SIGHUP and stops them all on
SIGTERM. It is the server `serve` already runs, so one worker and several behave alike, with
no second server and no second configuration (gunicorn's would be both).

Each worker listens on a socket of its own on the port (SO_REUSEPORT), and the kernel deals
the connections out among them evenly. With the one shared socket uvicorn passes by
default, the first worker to wake accepts every connection waiting: a proxy's or a load
generator's pool of keep-alive connections, opened together, all went to one worker (a
test here measured 97% of the CPU in one of two)."""

from __future__ import annotations

import functools
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from bot.config import Config
from bot.texts import texts_for

if TYPE_CHECKING:
    from starlette.applications import Starlette

# Exit codes: 1 the port cannot be had, 2 a configuration problem, 3 start-up failed.
CANNOT_LISTEN, BAD_CONFIG, STARTUP_FAILED = 1, 2, 3


def workers_problem(config: Config, workers: int, telegram_polling: bool | None) -> str | None:
    """Why `workers` processes cannot serve this deployment (one line), or None."""
    if workers == 1:
        return None
    texts = texts_for(config.bot.language)
    if config.sqlite_path() is not None:
        return texts.get("channels.workers_need_postgresql", workers=workers)
    polls = telegram_polling if telegram_polling is not None else config.telegram.mode == "polling"
    if config.telegram.enabled and polls:  # Telegram answers getUpdates to one taker only
        return texts.get("channels.workers_polling", workers=workers)
    return None


def run(
    config: Config,
    *,
    host: str | None,
    port: int | None,
    telegram_polling: bool | None,
    print_sms: bool,
    workers: int | None = None,
    listening: Callable[[str, int], None] | None = None,
) -> int:
    """Serve until stopped; the exit code (0 after a clean stop). `listening(host, port)` is
    called once the port is bound (the port bound, should 0 have asked for any). `workers`:
    processes (default [server] workers)."""
    import uvicorn

    from bot.web.app import create_web_app, listen, load_configured_campaign
    from scheduler.campaign import CampaignError

    texts = texts_for(config.bot.language)
    workers = workers or config.server.workers
    if problem := workers_problem(config, workers, telegram_polling):
        print(problem, file=sys.stderr)
        return BAD_CONFIG
    try:
        load_configured_campaign(config)
    except CampaignError as exc:
        print(exc, file=sys.stderr)
        return BAD_CONFIG
    host = host if host is not None else config.server.host
    port = port if port is not None else config.server.port
    try:
        sock = listen(host, port)
        if workers > 1:
            # Bound alone first: a port anyone holds, another `serve` included, is busy.
            # Then held with SO_REUSEPORT, which the workers' own sockets join.
            bound = sock.getsockname()[1]
            sock.close()
            sock = listen(host, bound, kind=PortOfEachWorker, reuse_port=True)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(
            texts.get("channels.cannot_listen", host=host, port=port, reason=reason),
            file=sys.stderr,
        )
        return CANNOT_LISTEN
    if listening is not None:
        listening(host, sock.getsockname()[1])
    if workers > 1:
        try:
            return _supervise(config, sock, workers, telegram_polling, print_sms)
        finally:
            sock.close()
    web = create_web_app(config, telegram_polling=telegram_polling, print_sms=print_sms)
    server = uvicorn.Server(
        uvicorn.Config(web, log_level=config.log.level.lower(), log_config=None)
    )  # log_config=None keeps our escaping and masking handler
    try:
        with _stop_is_clean():
            server.run(sockets=[sock])
    finally:
        sock.close()
    return 0 if server.started else STARTUP_FAILED


@contextmanager
def _stop_is_clean() -> Iterator[None]:
    """A SIGTERM or SIGINT is a stop asked for: exit 0. After its graceful shutdown uvicorn
    raises the signal once more under the handler it found, and the default one would end
    the process as killed (or click would say "Aborted!"). One that comes before uvicorn
    listens for it ends the start-up the same way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stops = (signal.SIGTERM, signal.SIGINT)
    previous = {stop: signal.signal(stop, _exit_cleanly) for stop in stops}
    try:
        yield
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, handler)


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def worker_app(config: Config, telegram_polling: bool | None, print_sms: bool) -> Starlette:
    """The application of one worker process, built in that process (uvicorn calls this
    factory there): logging as the command set it up, then the same service as one worker."""
    from bot.cli.base import QUIET_LOGGERS
    from bot.logs import setup_logging
    from bot.web.app import create_web_app

    setup_logging(config.log.level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
    return create_web_app(config, telegram_polling=telegram_polling, print_sms=print_sms)


def _supervise(
    config: Config,
    sock: socket.socket,
    workers: int,
    telegram_polling: bool | None,
    print_sms: bool,
) -> int:
    """Run `workers` processes on `sock` until SIGTERM or SIGINT; the exit code. A worker
    that fails its start-up stops them all (exit 3): the next would fail the same way."""
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    settings = uvicorn.Config(
        # Pickled into each worker (spawned, not forked: no event loop or database
        # connection of this process is shared); the factory runs there.
        functools.partial(worker_app, config, telegram_polling, print_sms),
        factory=True,
        workers=workers,
        log_level=config.log.level.lower(),
        log_config=None,
        # The supervisor kills a worker that does not answer its ping in time as hung, and
        # whatever it was handling with it: a worker slowed by a loaded machine is not hung.
        timeout_worker_healthcheck=30,
    )
    previous = {stop: signal.getsignal(stop) for stop in (signal.SIGTERM, signal.SIGINT)}
    supervisor = Multiprocess(settings, sockets=[sock])  # takes the signals from here on
    try:
        supervisor.run()
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, handler)
    failed = any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes)
    return STARTUP_FAILED if failed else 0


class PortOfEachWorker(socket.socket):
    """The supervisor's socket, bound (never listening: it takes no connection) to hold the
    port. Pickled into a worker, it becomes that worker's own socket on the same address."""

    def __reduce_ex__(self, protocol: object) -> tuple[object, ...]:
        return _worker_socket, (self.family, self.getsockname())


def _worker_socket(family: socket.AddressFamily, address: tuple[object, ...]) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock
