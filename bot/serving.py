"""`grassroots serve`: check what can stop the service, bind the port, then start.

uvicorn binds its port only after the application's start-up has run, so a busy port
used to surface after the dispatcher had already sent messages. Here the campaign file is
read and the socket bound first; a failure is one line on stderr and nothing has started."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from bot.config import Config
from bot.texts import texts_for

# Exit codes: 1 the port cannot be had, 2 a configuration problem, 3 start-up failed.
CANNOT_LISTEN, BAD_CONFIG, STARTUP_FAILED = 1, 2, 3


def run(
    config: Config,
    *,
    host: str | None,
    port: int | None,
    telegram_polling: bool | None,
    print_sms: bool,
    listening: Callable[[str, int], None] | None = None,
) -> int:
    """Serve until stopped; the exit code (0 after a clean stop). `listening(host, port)` is
    called once the port is bound (the port bound, should 0 have asked for any)."""
    import uvicorn

    from bot.web.app import create_web_app, listen, load_configured_campaign
    from scheduler.campaign import CampaignError

    texts = texts_for(config.bot.language)
    try:
        load_configured_campaign(config)
    except CampaignError as exc:
        print(exc, file=sys.stderr)
        return BAD_CONFIG
    host = host if host is not None else config.server.host
    port = port if port is not None else config.server.port
    try:
        sock = listen(host, port)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(
            texts.get("channels.cannot_listen", host=host, port=port, reason=reason),
            file=sys.stderr,
        )
        return CANNOT_LISTEN
    if listening is not None:
        listening(host, sock.getsockname()[1])
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
