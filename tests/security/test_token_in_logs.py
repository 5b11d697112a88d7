"""12.11: a Telegram bot token never reaches the log, whatever path carries it there.

The token has a real shape: a bot id of nine digits (which phone masking would also match),
a colon, 35 characters of secret."""

from __future__ import annotations

import logging

import pytest
from telegram.error import NetworkError

from bot.logs import add_secrets
from tests.security.conftest import Logged

TOKEN = "123456789:AAE" + "x7Kq_Z-3mPw9aLr0TbN2vYc8dFg5hJ1s"
SECRET_HALF = TOKEN.split(":", 1)[1]
assert len(SECRET_HALF) == 35


def assert_secret_absent(logged: Logged) -> None:
    assert SECRET_HALF not in logged.text
    assert SECRET_HALF[:12] not in logged.text  # not even a recognisable piece of it


PATHS = {
    "plain": ("token %s", TOKEN),
    "url": ("GET %s", f"https://api.telegram.org/bot{TOKEN}/getMe"),
    "file url": ("GET %s", f"https://api.telegram.org/file/bot{TOKEN}/photos/file_1.jpg"),
    "url-encoded": ("GET %s", "https://x.example/?u=/bot" + TOKEN.replace(":", "%3A") + "/x"),
    "beside a phone": ("chat +8613800001101 via %s", f"/bot{TOKEN}/sendMessage"),
    "in a repr": ("settings %r", {"token": TOKEN}),
}


@pytest.mark.parametrize("path", PATHS.values(), ids=PATHS.keys())
def test_a_token_in_a_log_message_is_masked(path: tuple[str, str], logged: Logged):
    message, value = path
    logging.getLogger("bot.telegram_service").warning(message, value)
    assert_secret_absent(logged)
    assert "<token>" in logged.text
    assert "+8613800001101" not in logged.text  # phone numbers are still masked


def test_a_token_in_an_exception_message_and_its_cause_is_masked(logged: Logged):
    url = f"https://api.telegram.org/bot{TOKEN}/getMe"
    try:
        try:
            raise OSError(f"connect to {url} refused")
        except OSError as cause:
            raise NetworkError(f"httpx.ConnectError: {url}") from cause
    except NetworkError:
        logging.getLogger("bot.web").exception("telegram: Bot API unreachable")
    assert "Traceback (most recent call last):" in logged.text
    assert_secret_absent(logged)


def test_the_configured_token_is_masked_even_out_of_shape(logged: Logged):
    add_secrets(TOKEN, SECRET_HALF)
    logging.getLogger("bot").error("half: %s", SECRET_HALF)
    assert_secret_absent(logged)
