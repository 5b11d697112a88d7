"""WeChat Official Accounts (公众号): server callbacks in, customer-service messages out.

wechatpy does what it does well: the callback signature (`check_signature`), safe mode's AES
(`WeChatCrypto`), parsing the XML (`parse_message`) and rendering a passive reply
(`create_reply`). Its API client is synchronous (requests) and fetches its access token from a
fixed host, so the few API calls the bot makes (stable access token, customer-service send,
template send, QR code, menu) go through httpx here, asynchronously, to `api_base_url`.

This module knows WeChat and nothing of the campaign: a callback becomes an `Inbound` (a menu
CLICK becomes the keyword a person would type, a scan of a branch's QR code becomes 加入 and
the branch's code), a note that the follower unsubscribed, or nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from wechatpy import events, messages, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from bot.channels.base import Failure, SendError, SendResult, plain_text
from bot.config import WechatSection
from bot.messages import Address, AddressKind, Attachment, Channel, Inbound, Outbound

log = logging.getLogger(__name__)

PATH = "/wechat"
MAX_BODY_BYTES = 64 * 1024  # a callback is a few hundred bytes; a text at most a few KB
MAX_TEXT_BYTES = 2048  # one text message, passive or customer-service
MAX_CLOCK_SKEW = 300  # seconds: a signed callback older than this is a replay
SUCCESS = "success"  # the answer that means "received, no reply": WeChat does not retry

# The menu `grassroots wechat menu` sets: a CLICK sends its key, which stands for the keyword
# a person would type (汇报, 评议, 查询), so a button and typing take the same route.
MENU_KEYWORDS = {"REPORT": "汇报", "POLL": "评议", "ME": "查询"}
# Scanning a branch's parameter QR code (scene "HX0101") means joining that branch.
JOIN_KEYWORD = "加入"
# A new follower without a scene gets what a stranger asking for help gets.
WELCOME_KEYWORD = "帮助"

# Error codes of the API (https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/
# Global_Return_Code.html) and what they mean for the outbox.
PLATFORM_LIMIT_CODES = {
    45015,  # the follower's last message is over 48 hours old: outside the service window
    45047,  # more than the customer-service messages allowed in that window
    45009,  # the account's daily quota for this API is used up
    45011,  # the API's per-minute quota
    45028,  # no mass-send quota left
}
OPTED_OUT_CODES = {43004, 43019}  # no longer follows the account; blocked it
INVALID_ADDRESS_CODES = {40003}  # no such OpenID for this account
TOKEN_CODES = {40001, 40014, 42001}  # the access token is invalid or expired: fetch anew
TRANSIENT_CODES = {-1, 45033}  # system busy; too many calls at once


# --- callbacks ----------------------------------------------------------------------------


class CallbackRejected(Exception):
    """A request that is not WeChat's (bad signature, stale, not the configured mode)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Opened:
    """A verified callback: its XML in clear, and how to answer (sealed in safe mode)."""

    xml: str
    nonce: str
    timestamp: str
    sealed: bool


class Callbacks:
    """Checks and opens what WeChat posts to the server URL, and seals the answers."""

    def __init__(self, settings: WechatSection, token: str, aes_key: str | None) -> None:
        self.token = token
        self.safe_mode = settings.safe_mode
        self.crypto = WeChatCrypto(token, aes_key, settings.app_id) if aes_key else None

    def _check(self, query: dict[str, str], now: datetime) -> tuple[str, str]:
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        if not timestamp.isdigit() or not nonce:
            raise CallbackRejected(403, "timestamp or nonce missing")
        if abs(now.timestamp() - int(timestamp)) > MAX_CLOCK_SKEW:
            raise CallbackRejected(403, "timestamp too far from now (a replay?)")
        try:
            check_signature(self.token, query.get("signature", ""), timestamp, nonce)
        except InvalidSignatureException:
            raise CallbackRejected(403, "signature does not match") from None
        return timestamp, nonce

    def verify_url(self, query: dict[str, str], now: datetime) -> str:
        """The server-URL check (a GET): the echostr back if WeChat signed it."""
        self._check(query, now)
        echo = query.get("echostr", "")
        if not echo:
            raise CallbackRejected(400, "echostr missing")
        return echo

    def open(self, query: dict[str, str], body: bytes, now: datetime) -> Opened:
        timestamp, nonce = self._check(query, now)
        if query.get("encrypt_type", "raw") == "aes":
            if self.crypto is None:
                raise CallbackRejected(403, "encrypted callback without an EncodingAESKey")
            try:
                xml = self.crypto.decrypt_message(
                    body, query.get("msg_signature", ""), timestamp, nonce
                )
            except InvalidSignatureException:
                raise CallbackRejected(403, "msg_signature does not match") from None
            except Exception as error:  # not XML, not ours (another AppID), bad padding
                raise CallbackRejected(400, f"cannot decrypt: {type(error).__name__}") from None
            return Opened(xml, nonce, timestamp, sealed=True)
        if self.safe_mode:
            # The plain signature does not cover the body: in safe mode only what is
            # encrypted (and signed with it) is believed.
            raise CallbackRejected(403, "plain callback while safe_mode is on")
        try:
            return Opened(body.decode("utf-8"), nonce, timestamp, sealed=False)
        except UnicodeDecodeError:
            raise CallbackRejected(400, "not UTF-8") from None

    def answer(self, opened: Opened, xml: str) -> str:
        """A passive reply as WeChat expects it: sealed with the callback's nonce in safe mode."""
        if not opened.sealed:
            return xml
        assert self.crypto is not None
        return self.crypto.encrypt_message(xml, opened.nonce, opened.timestamp)


def reply_xml(incoming: Any, text: str) -> str:
    """A passive text reply to the message or event `incoming`."""
    return TextReply(message=incoming, content=text).render()


# --- what a callback means ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Received:
    inbound: Inbound
    followed: bool = False  # a (re)subscription: broadcasts may resume


@dataclass(frozen=True, slots=True)
class Unfollowed:
    """The follower unsubscribed: nothing may be sent to them any more (opt-out)."""

    address: Address


@dataclass(frozen=True, slots=True)
class Ignored:
    reason: str


Conversion = Received | Unfollowed | Ignored


def parse(xml: str) -> Any:
    """wechatpy's message or event, or None for anything that is not one."""
    try:
        return parse_message(xml)
    except Exception as error:  # untrusted input (once the signature passed): a drop
        log.warning("wechat callback dropped: not a usable message (%s)", type(error).__name__)
        return None


class Malformed(ValueError):
    """A callback whose fields are not of the kinds WeChat sends."""


def _text(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):  # xmltodict makes a dict of nested elements
        raise Malformed("a field that is not text")
    return value


def convert(message: Any, received_at: datetime) -> Conversion:
    """What a callback means for the bot; Malformed if its fields are not what WeChat sends
    (wechatpy does not check)."""
    openid = _text(message.source)
    if not openid:
        return Ignored("no sender")
    sender = Address(AddressKind.WECHAT, openid)
    try:
        created = int(message.time)
    except (TypeError, ValueError):
        raise Malformed("CreateTime is not a number") from None
    # Messages are deduplicated by MsgId, events (which have none) by sender and CreateTime.
    event_id = f"event:{openid}:{created}"
    msg_id = str(message.id) if message.id else event_id

    def inbound(provider_id: str, body: str, **extra: Any) -> Inbound:
        return Inbound(Channel.WECHAT, provider_id, sender, body, received_at, **extra)

    if isinstance(message, messages.TextMessage):
        return Received(inbound(msg_id, _text(message.content)))
    if isinstance(message, messages.ImageMessage):
        picture = Attachment(f"wechat:{_text(message.media_id)}", "image/jpeg")
        return Received(inbound(msg_id, "", attachments=(picture,)))
    if isinstance(message, messages.VoiceMessage) and message.recognition:
        return Received(inbound(msg_id, _text(message.recognition)))
    if isinstance(message, events.UnsubscribeEvent):
        return Unfollowed(sender)
    if isinstance(message, events.SubscribeScanEvent | events.ScanEvent):
        code = _text(message.scene_id).strip()
        body = f"{JOIN_KEYWORD} {code}" if code else WELCOME_KEYWORD
        return Received(inbound(event_id, body), followed=True)
    if isinstance(message, events.SubscribeEvent):
        return Received(inbound(event_id, WELCOME_KEYWORD), followed=True)
    if isinstance(message, events.ClickEvent):
        keyword = MENU_KEYWORDS.get(_text(message.key))
        if keyword is None:
            return Ignored(f"menu key {message.key!r} the bot did not set")
        return Received(inbound(event_id, keyword))
    return Ignored(f"{message.type} not used")


# --- the API ------------------------------------------------------------------------------


class ApiError(Exception):
    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class TokenUnavailable(ApiError):
    """No access token: a wrong AppSecret, the server's IP not on the account's whitelist
    (40164), or the API unreachable. The operator's to fix; messages wait meanwhile."""


class WechatApi:
    """The API endpoints the bot calls, over one httpx client.

    The access token comes from `stable_token`, which hands every caller the same token
    until it expires: several workers (or hosts) share one account without invalidating each
    other's tokens, as the older `token` endpoint would."""

    def __init__(
        self, settings: WechatSection, app_secret: str, client: httpx.AsyncClient | None = None
    ) -> None:
        self.base = settings.api_base_url
        self.app_id = settings.app_id
        self._secret = app_secret
        self._http = client or httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0))
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def token(self, *, refresh: bool = False) -> str:
        async with self._lock:
            if refresh or self._token is None or time.monotonic() >= self._expires:
                try:
                    result = await self._post(
                        "/cgi-bin/stable_token",
                        {
                            "grant_type": "client_credential",
                            "appid": self.app_id,
                            "secret": self._secret,
                            "force_refresh": False,
                        },
                    )
                except ApiError as error:
                    log.error("wechat: no access token: %s", error)
                    raise TokenUnavailable(error.code, error.message) from None
                self._token = str(result["access_token"])
                # Fetched again five minutes before it expires, as WeChat advises.
                self._expires = time.monotonic() + int(result.get("expires_in", 7200)) - 300
            return self._token

    async def call(self, endpoint: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST `payload` to /cgi-bin/<endpoint> with the access token; ApiError on errcode."""
        try:
            return await self._post(f"/cgi-bin/{endpoint}", payload, await self.token())
        except ApiError as error:
            if error.code not in TOKEN_CODES:
                raise
        return await self._post(f"/cgi-bin/{endpoint}", payload, await self.token(refresh=True))

    async def _post(
        self, path: str, payload: dict[str, Any], token: str | None = None
    ) -> dict[str, Any]:
        params = {"access_token": token} if token else None
        try:
            response = await self._http.post(self.base + path, params=params, json=payload)
            response.raise_for_status()
            result = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise ApiError(None, f"{type(error).__name__}: {error}"[:300]) from None
        if not isinstance(result, dict):
            raise ApiError(None, "answer is not a JSON object")
        code = int(result.get("errcode", 0) or 0)
        if code:
            raise ApiError(code, str(result.get("errmsg", "")))
        return result

    async def send_text(self, openid: str, text: str) -> dict[str, Any]:
        """A customer-service text message (within 48 hours of the follower's last message)."""
        return await self.call(
            "message/custom/send", {"touser": openid, "msgtype": "text", "text": {"content": text}}
        )

    async def send_template(
        self, openid: str, template_id: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        return await self.call(
            "message/template/send", {"touser": openid, "template_id": template_id, "data": data}
        )

    async def create_qrcode(self, scene: str) -> dict[str, Any]:
        """A permanent QR code whose scan sends `scene` (a branch's code): ticket and url."""
        return await self.call(
            "qrcode/create",
            {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": scene}}},
        )

    async def create_menu(self, buttons: list[dict[str, Any]]) -> dict[str, Any]:
        return await self.call("menu/create", {"button": buttons})

    async def close(self) -> None:
        await self._http.aclose()


def menu_buttons(labels: dict[str, str]) -> list[dict[str, Any]]:
    """The three CLICK buttons, labelled in the deployment's language."""
    return [{"type": "click", "name": labels[key], "key": key} for key in MENU_KEYWORDS]


# --- sending ------------------------------------------------------------------------------


def split_bytes(text: str, limit: int = MAX_TEXT_BYTES) -> list[str]:
    """Pieces of at most `limit` bytes of UTF-8, cut at a line break where there is one."""
    pieces: list[str] = []
    while len(text.encode()) > limit:
        cut = len(text.encode()[:limit].decode(errors="ignore"))  # whole characters
        line = text.rfind("\n", 0, cut)
        cut = line if line > cut // 2 else cut
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [piece for piece in (*pieces, text) if piece.strip()] or [text]


def classify(error: ApiError) -> SendError:
    code = str(error.code) if error.code is not None else None
    if isinstance(error, TokenUnavailable):
        return SendError(Failure.TRANSIENT, code, f"no access token: {error.message}")
    if error.code in PLATFORM_LIMIT_CODES:
        return SendError(Failure.PLATFORM_LIMIT, code, error.message)
    if error.code in OPTED_OUT_CODES:
        return SendError(Failure.OPTED_OUT, code, error.message)
    if error.code in INVALID_ADDRESS_CODES:
        return SendError(Failure.INVALID_ADDRESS, code, error.message)
    if error.code is None or error.code in TRANSIENT_CODES | TOKEN_CODES:
        return SendError(Failure.TRANSIENT, code, error.message)
    return SendError(Failure.REJECTED, code, error.message)


_OUT_OF_WINDOW = 45015


class WechatSender:
    """The WeChat channel adapter for the outbox: customer-service text messages; outside
    the 48-hour window, a template message where the account may send one."""

    kind = AddressKind.WECHAT
    channel = "wechat"

    def __init__(self, api: WechatApi, settings: WechatSection) -> None:
        self.api = api
        self.template_id = settings.template_id if settings.account == "service" else ""
        self.template_field = settings.template_field

    async def send(self, message: Outbound) -> SendResult:
        openid = message.to.value
        pieces = split_bytes(plain_text(message))
        for i, piece in enumerate(pieces):
            try:
                await self.api.send_text(openid, piece)
            except ApiError as error:
                if error.code == _OUT_OF_WINDOW and i == 0 and self.template_id:
                    return await self._send_template(openid, "\n".join(pieces))
                failure = classify(error)
                if i:  # earlier pieces were delivered: only the rest is left
                    failure = SendError(
                        failure.failure, failure.code, failure.detail, unsent="\n".join(pieces[i:])
                    )
                raise failure from None
        # Each piece is one customer-service message of the five the window allows.
        return SendResult(f"cs:{uuid.uuid4().hex}", "sent", segments=len(pieces))

    async def _send_template(self, openid: str, text: str) -> SendResult:
        data = {self.template_field: {"value": text}}
        try:
            result = await self.api.send_template(openid, self.template_id, data)
        except ApiError as error:
            raise classify(error) from None
        return SendResult(f"tpl:{result.get('msgid', uuid.uuid4().hex)}", "sent")

    async def close(self) -> None:
        await self.api.close()
