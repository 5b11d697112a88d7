"""SMS through Twilio: signed webhooks in, REST sends out, delivery statuses back.

This module knows Twilio and nothing of the campaign. Inbound requests are checked against
the public URL Twilio was given (never the URL the request arrived on: behind a proxy or a
TLS terminator they differ) and the configured account, then turned into `Inbound`.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qsl

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from bot.channels.base import Failure, SendError, SendResult, plain_text
from bot.config import TwilioSection
from bot.messages import Address, AddressKind, Attachment, Channel, Inbound, Outbound
from bot.privacy import mask_phone
from bot.segments import count_segments

log = logging.getLogger(__name__)

INBOUND_PATH = "/sms/inbound"
STATUS_PATH = "/sms/status"
MAX_BODY_CHARS = 1600  # Twilio's own limit for a message body
MAX_FORM_BYTES = 64 * 1024  # a real webhook is a few KB even with ten media URLs
MAX_MEDIA = 10
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")

# Twilio error codes (https://www.twilio.com/docs/api/errors) and what they mean for us.
OPTED_OUT_CODES = frozenset({"21610"})  # "Attempt to send to unsubscribed recipient"
INVALID_CODES = frozenset({"21211", "21614"})  # invalid 'To'; not a mobile number
TRANSIENT_CODES = frozenset({"20429"})  # too many requests
# Errors a delivery status callback reports later, that say the address is no good.
CALLBACK_INVALID_CODES = frozenset({"30005", "30006"})  # unknown destination; landline


class WebhookRejected(Exception):
    """A request that is not a valid Twilio webhook; `status` is the HTTP answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class SenderRefused(Exception):
    """A well-formed webhook from a sender this channel is not for (WhatsApp, Messenger, a
    `tel:` URI, a short code): acknowledged to Twilio, never turned into a phone identity."""

    def __init__(self, sender: str, reason: str) -> None:
        super().__init__(reason)
        self.sender = sender
        self.reason = reason

    @property
    def masked_sender(self) -> str:
        scheme, colon, rest = self.sender.rpartition(":")
        return f"{scheme}{colon}{mask_phone(rest)}"


def parse_form(raw: bytes, content_type: str | None) -> dict[str, str]:
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise WebhookRejected(415, "expected application/x-www-form-urlencoded")
    if len(raw) > MAX_FORM_BYTES:
        raise WebhookRejected(413, f"form larger than {MAX_FORM_BYTES} bytes")
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
    except (UnicodeDecodeError, ValueError):
        raise WebhookRejected(400, "malformed form body") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            # The reason is logged: it names no value the request carried.
            raise WebhookRejected(400, "a field given twice")
        form[key] = value
    return form


@dataclass(frozen=True, slots=True)
class WebhookVerifier:
    """Checks the signature against the configured public URL, and the account."""

    account_sid: str
    auth_token: str = field(repr=False)
    public_url: str
    enabled: bool = True

    def verify(self, path: str, form: Mapping[str, str], signature: str | None) -> None:
        if not self.enabled:
            return
        if not signature:
            raise WebhookRejected(403, "missing X-Twilio-Signature")
        url = self.public_url + path
        validator = RequestValidator(self.auth_token)
        # One HMAC for the URL as configured is the common case; the library's validate()
        # also tries the URL with and without the port, so it is the fallback, not the rule.
        expected = validator.compute_signature(url, dict(form))
        if not hmac.compare_digest(expected.encode(), signature.encode()) and not (
            validator.validate(url, dict(form), signature)
        ):
            raise WebhookRejected(403, "signature does not match")
        if form.get("AccountSid") != self.account_sid:
            raise WebhookRejected(403, "AccountSid is not this service's account")


def to_inbound(form: Mapping[str, str], received_at: datetime) -> Inbound:
    sid = form.get("MessageSid") or form.get("SmsSid")
    sender = form.get("From", "")
    if not sid:
        raise WebhookRejected(400, "MessageSid missing")
    body = form.get("Body", "")
    if len(body) > MAX_BODY_CHARS:
        raise WebhookRejected(413, f"Body longer than {MAX_BODY_CHARS} characters")
    # Twilio's SMS webhook gives E.164 and nothing else; the same webhook also carries
    # WhatsApp ("whatsapp:+86..."), Messenger and other senders, which are not SMS numbers.
    if not _E164.fullmatch(sender):
        raise SenderRefused(sender, "From is not an E.164 phone number (SMS only)")
    phone = sender
    try:
        media = min(int(form.get("NumMedia") or 0), MAX_MEDIA)
    except ValueError:
        raise WebhookRejected(400, "NumMedia is not a number") from None
    attachments = tuple(
        Attachment(form[f"MediaUrl{i}"], form.get(f"MediaContentType{i}", ""))
        for i in range(media)
        if form.get(f"MediaUrl{i}")
    )
    return Inbound(
        Channel.SMS, sid, Address(AddressKind.SMS, phone), body, received_at, attachments
    )


def twiml(replies: list[Outbound]) -> str:
    """The replies as TwiML; no reply is an empty <Response/>, which Twilio sends nothing for."""
    response = MessagingResponse()
    for reply in replies:
        response.message(plain_text(reply))
    return str(response)


def classify(error: TwilioRestException) -> SendError:
    code = str(error.code) if error.code else None
    detail = error.msg or str(error)
    if code in OPTED_OUT_CODES:
        return SendError(Failure.OPTED_OUT, code, detail)
    if code in INVALID_CODES:
        return SendError(Failure.INVALID_ADDRESS, code, detail)
    if code in TRANSIENT_CODES or error.status == 429 or error.status >= 500:
        return SendError(Failure.TRANSIENT, code or str(error.status), detail)
    return SendError(Failure.REJECTED, code or str(error.status), detail)


class TwilioSms:
    """The SMS channel adapter: sends through Twilio's REST API with the twilio library."""

    kind = AddressKind.SMS
    channel = "sms"

    def __init__(
        self,
        settings: TwilioSection,
        auth_token: str,
        http_client: AsyncTwilioHttpClient | None = None,
    ) -> None:
        self.settings = settings
        self._http = http_client or AsyncTwilioHttpClient(timeout=10)
        self.client = Client(settings.account_sid, auth_token, http_client=self._http)
        self.client.api.base_url = settings.api_base_url  # a gateway, or the tests' local fake
        self.status_callback = settings.public_url + STATUS_PATH

    async def send(self, message: Outbound) -> SendResult:
        body = plain_text(message)
        sender = (
            {"messaging_service_sid": self.settings.messaging_service_sid}
            if self.settings.messaging_service_sid
            else {"from_": self.settings.from_number}
        )
        cost = count_segments(body)
        try:
            sent = await self.client.messages.create_async(
                to=message.to.value, body=body, status_callback=self.status_callback, **sender
            )
        except TwilioRestException as exc:
            error = classify(exc)
            log.info("SMS to %s failed: %s", mask_phone(message.to.value), error)
            raise error from None
        except (OSError, TimeoutError, aiohttp.ClientError) as exc:  # refused, reset, timed out
            raise SendError(Failure.TRANSIENT, None, f"{type(exc).__name__}: {exc}") from None
        segments = int(sent.num_segments) if sent.num_segments else cost.segments
        return SendResult(sent.sid, sent.status or "queued", segments, cost.encoding)

    async def close(self) -> None:
        if self._http.session is not None:
            await self._http.session.close()
