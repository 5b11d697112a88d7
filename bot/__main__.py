"""`python -m bot` is the `grassroots` command."""

from bot.cli import main

main(prog_name="grassroots")
