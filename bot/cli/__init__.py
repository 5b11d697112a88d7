"""The `grassroots` command (also `python -m bot`): the group `main` (bot/cli/base.py) and
one module per command or command group, imported here so that each registers itself."""

from bot.cli import (  # noqa: F401 (imported to register their commands)
    broadcast,
    campaign,
    chat,
    console,
    demo,
    inbound,
    migrate,
    poll_results,
    polls,
    prune,
    roster,
    serve,
    telegram,
    wechat,
)
from bot.cli.base import main

__all__ = ["main"]
