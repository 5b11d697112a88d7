"""12.10: what a request carries cannot forge a log line, before or after authentication.

Requests go to the real ASGI app on loopback (unsigned, and signed by the twilio library);
the log is the one `grassroots` configures, read back line by line.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote

from twilio.request_validator import RequestValidator

from tests.security.conftest import Logged
from tests.test_sms_webhook import ACCOUNT, PUBLIC_URL, TOKEN, Site, form

FORGED = "\nCRITICAL bot.auth: admin login OK"
RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")
# Lines of a traceback: frames are indented; the rest are Python's own words or "Type: text".
TRACEBACK = re.compile(r"^(\s|Traceback |The above |During handling |[A-Za-z_][\w.]*(:|$))")


def assert_no_forged_line(logged: Logged) -> None:
    for line in logged.lines:
        assert RECORD.match(line) or TRACEBACK.match(line), f"a line no record wrote: {line!r}"
        assert not line.startswith("CRITICAL"), line
    assert "\x1b" not in logged.text and "\r" not in logged.text


async def test_a_newline_in_an_unsigned_form_key_is_shown_not_obeyed(site: Site, logged: Logged):
    key = quote("Body" + FORGED)
    response = await site.client.post(
        site.url + "/sms/inbound",
        content=f"{key}=1&{key}=2".encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert_no_forged_line(logged)
    assert any("refused (400)" in line for line in logged.lines)  # the refusal is logged
    assert "admin login OK" not in logged.text  # rejected requests log only what is safe


async def test_an_unsigned_request_logs_no_value_it_carried(site: Site, logged: Logged):
    fields = form("汇报 x", From="+8613800001101" + FORGED, MessageSid="SM" + FORGED)
    response = await site.post(fields, signature=None)
    assert response.status_code == 403
    assert_no_forged_line(logged)
    assert "admin login OK" not in logged.text


async def test_values_of_a_signed_status_callback_are_escaped(site: Site, logged: Logged):
    fields = {
        "AccountSid": ACCOUNT,
        "MessageSid": "SM1\r" + FORGED + "\x1b[2J",
        "MessageStatus": "delivered\u2028WARNING",
    }
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL + "/sms/status", fields)
    response = await site.client.post(
        site.url + "/sms/status", data=fields, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 204
    assert_no_forged_line(logged)
    line = next(line for line in logged.lines if "changed nothing" in line)
    assert "SM1\\r\\nCRITICAL bot.auth: admin login OK\\x1b[2J" in line
    assert "delivered\\u2028WARNING" in line


def test_every_record_is_escaped_by_the_formatter_whatever_the_call_site(logged: Logged):
    log = logging.getLogger("handlers.anything")
    log.warning("join %s by %r", "HX01" + FORGED, "x\ty")
    try:
        raise ValueError("no organisation " + FORGED.strip() + "\n\x1b[31mred")
    except ValueError:
        log.exception("failed on %s", "a\u202eb")
    assert_no_forged_line(logged)
    assert "HX01\\nCRITICAL bot.auth: admin login OK" in logged.text
    assert "a\\u202eb" in logged.text
    # The traceback keeps its lines (the frames are code); its message is one escaped line.
    assert "Traceback (most recent call last):" in logged.lines
    assert (
        "ValueError: no organisation CRITICAL bot.auth: admin login OK\\n\\x1b[31mred"
        in logged.lines
    )
