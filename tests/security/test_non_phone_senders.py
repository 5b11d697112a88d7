"""12.15: the SMS webhook takes only senders it is configured for, plain E.164 numbers.

A WhatsApp, Messenger or `tel:` sender (Twilio's webhook posts them all the same way) is not
a phone identity: it is refused, with a log line that says why, and Twilio gets an empty
TwiML 200 so it does not retry. Requests are signed by the twilio library."""

from __future__ import annotations

import pytest

from tests.conftest import MEMBER
from tests.security.conftest import Logged
from tests.test_sms_webhook import Site, form

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'

SENDERS = {
    "whatsapp": f"whatsapp:{MEMBER}",
    "messenger": "messenger:2470235139675811",
    "tel uri": f"tel:{MEMBER}",
    "sip": "sip:alice@example.org",
    "written with spaces": "+86 138 0000 1101",
    "national": "13800001101",
    "short code": "10086",
    "alphanumeric id": "CMBCHINA",
    "empty": "",
}


async def people_count(site: Site) -> int:
    return await site.app.repos.db.fetchval("SELECT COUNT(*) AS n FROM addresses")


@pytest.mark.parametrize("sender", SENDERS.values(), ids=SENDERS.keys())
async def test_a_sender_that_is_not_an_sms_number_is_refused_with_a_reason(
    site: Site, logged: Logged, sender: str
):
    before = await people_count(site)
    sid = "SM" + "c" * 32
    response = await site.post(form("查询", sender=sender, sid=sid))
    assert response.status_code == 200
    assert response.text == EMPTY_TWIML  # acknowledged: Twilio does not retry
    assert await site.app.repos.inbound.count() == 0  # no identity made of it
    assert await people_count(site) == before
    [line] = [line for line in logged.lines if sid in line]
    assert "WARNING" in line and "refused" in line and "not an E.164" in line
    assert "查询" not in line  # the body stays out of the log
    assert MEMBER not in line  # a number in it is masked like any other


async def test_a_plain_e164_sender_is_still_handled(site: Site):
    response = await site.post(form("查询", sender=MEMBER))
    assert response.status_code == 200 and "<Message>" in response.text
    assert await site.app.repos.inbound.count() == 1
