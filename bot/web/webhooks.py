"""Webhooks and health: what providers and orchestrators call. Each route verifies its
caller (Twilio's signature, Telegram's secret token) before it reads anything else."""

from __future__ import annotations

import hmac
import logging
from typing import Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from bot.app import App
from bot.channels import sms
from bot.telegram_service import MAX_UPDATE_BYTES, TelegramService

log = logging.getLogger(__name__)
TWIML = "application/xml"


async def healthz(request: Request) -> JSONResponse:
    """200 while the service can take webhooks (the database answers), even with a provider
    channel degraded: an orchestrator that restarts or unroutes on 503 would then take SMS
    down for a Telegram outage. "status" says "degraded" and "degraded" says which and why."""
    app: App = request.app.state.bot
    try:
        await app.repos.db.fetchval("SELECT 1 AS ok")
    except Exception as exc:  # the probe reports, it does not crash
        log.warning("health check: database unavailable: %s", exc)
        return JSONResponse({"status": "unavailable", "database": "error"}, status_code=503)
    degraded = {name: h.as_json() for name, h in sorted(app.health.items()) if not h.ok}
    body: dict[str, object] = {
        "status": "degraded" if degraded else "ok",
        "database": app.repos.db.dialect,
        "channels": app.channel_names(),
    }
    if degraded:
        body["degraded"] = degraded
    return JSONResponse(body)


async def _verified_form(request: Request, path: str) -> dict[str, str]:
    app: App = request.app.state.bot
    form = sms.parse_form(await read_limited(request), request.headers.get("content-type"))
    assert app.sms_verifier is not None  # the route exists only with SMS configured
    app.sms_verifier.verify(path, form, request.headers.get("x-twilio-signature"))
    return form


async def read_limited(request: Request, limit: int = sms.MAX_FORM_BYTES) -> bytes:
    """The body, refused past the limit without reading it all into memory."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise sms.WebhookRejected(413, f"body larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise sms.WebhookRejected(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class Refusal(Protocol):
    """What a channel's check raises for a callback it refuses (sms.WebhookRejected,
    wechat.CallbackRejected)."""

    status: int
    reason: str


def rejected(request: Request, error: Refusal) -> Response:
    """A callback refused (forged, stale, malformed): logged, answered with its status."""
    log.warning(
        "%s %s refused (%d): %s", request.method, request.url.path, error.status, error.reason
    )
    return PlainTextResponse(error.reason + "\n", status_code=error.status)


async def sms_inbound(request: Request) -> Response:
    """Twilio's Messaging webhook: record, handle, answer with TwiML in the same request."""
    app: App = request.app.state.bot
    try:
        form = await _verified_form(request, sms.INBOUND_PATH)
        inbound = sms.to_inbound(form, app.clock.now())
    except sms.WebhookRejected as error:
        return rejected(request, error)
    except sms.SenderRefused as refused:
        # Signed and well formed, so Twilio gets a 200 and does not retry; the log line is
        # the record (the inbound log holds phone identities only, and this is none).
        log.warning(
            "SMS %s from %s refused: %s",
            form.get("MessageSid") or form.get("SmsSid"),
            refused.masked_sender,
            refused.reason,
        )
        return Response(sms.twiml([]), media_type=TWIML)
    replies = await app.router.handle(inbound)
    return Response(sms.twiml(replies), media_type=TWIML)


async def sms_status(request: Request) -> Response:
    """Twilio's status callback for a message we sent."""
    app: App = request.app.state.bot
    try:
        form = await _verified_form(request, sms.STATUS_PATH)
    except sms.WebhookRejected as error:
        return rejected(request, error)
    sid, status = form.get("MessageSid"), form.get("MessageStatus")
    if not sid or not status:
        return rejected(request, sms.WebhookRejected(400, "MessageSid or MessageStatus missing"))
    now, code = app.clock.now(), form.get("ErrorCode") or None
    recipient = await app.repos.outbox.update_delivery(sid, status.lower(), code, now)
    if recipient is None:
        log.info("status %s for %s changed nothing (late, repeated or unknown)", status, sid)
    elif code in sms.OPTED_OUT_CODES:  # honoured for the next broadcast, as send errors are
        await app.repos.people.opt_out(recipient, now)
    elif code in sms.CALLBACK_INVALID_CODES:
        await app.repos.people.mark_invalid(recipient, now)
    return Response(status_code=204)


async def telegram_webhook(request: Request) -> Response:
    """Telegram's webhook: the secret token first, then the update recorded before the 200."""
    service: TelegramService = request.app.state.telegram
    secret = request.app.state.bot.config.telegram_secret or ""
    given = request.headers.get("x-telegram-bot-api-secret-token", "")
    if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        return PlainTextResponse("secret token does not match\n", status_code=403)
    try:
        raw = await read_limited(request, MAX_UPDATE_BYTES)
    except sms.WebhookRejected as error:
        return rejected(request, error)
    # Past the secret, whatever cannot be used is acknowledged and dropped (with a log
    # line): any other answer makes Telegram deliver it again, for a day. A storage failure
    # still answers 500, so that a good update is redelivered once storage is back.
    update = service.parse(raw)
    if update is not None:
        await service.ingest(update, wait=False)
    return Response(status_code=200)
