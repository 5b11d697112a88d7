"""`grassroots serve`: check what can stop the service, bind the port, then start.

uvicorn binds its port only after the application's start-up has run, so a busy port
used to surface after the dispatcher had already sent messages. Here the campaign file is
read and the socket bound first; a failure is one line on stderr and nothing has started."""

from __future__ import annotations

import sys

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
) -> int:
    """Serve until stopped; the exit code (0 after a clean stop)."""
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
    web = create_web_app(config, telegram_polling=telegram_polling, print_sms=print_sms)
    server = uvicorn.Server(
        uvicorn.Config(web, log_level=config.log.level.lower(), log_config=None)
    )  # log_config=None keeps our escaping and masking handler
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0 if server.started else STARTUP_FAILED
