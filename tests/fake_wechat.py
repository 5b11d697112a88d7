"""A local fake of WeChat's side of an Official Account, written from the platform's
documentation rather than from wechatpy, so that each checks the other (tests/test_wechat.py
runs wechatpy's own client against it, and our webhook against its callbacks).

- `Platform` makes callbacks as WeChat does: the server-URL check (GET), messages and events
  (POST XML), signed with the token; in safe mode AES-256-CBC encrypted with the
  EncodingAESKey and signed over the ciphertext (msg_signature). It opens sealed replies.
- `FakeApi` serves the API on loopback: access token (`token`, `stable_token`),
  customer-service send, mass send, template send, QR code and menu, answering
  `{"errcode": ..., "errmsg": ...}` as WeChat does; errors can be scripted per endpoint, and
  the customer-service window (48 hours after the follower's last message, 5 messages in
  it) can be enforced.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import os
import re
import secrets
import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

APP_ID = "wx0123456789abcdef"
APP_SECRET = "fake-app-secret-0123456789abcdef"
TOKEN = "grassrootsToken2026"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters
ACCOUNT = "gh_0123456789ab"  # the account's own id: ToUserName of every callback
WINDOW = timedelta(hours=48)
WINDOW_MESSAGES = 5


def _signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def _cdata(value: str) -> str:
    return f"<![CDATA[{value}]]>"


class Platform:
    """WeChat's servers as they call the account's server URL."""

    def __init__(self, token: str = TOKEN, aes_key: str = AES_KEY, app_id: str = APP_ID) -> None:
        self.token = token
        self.key = base64.b64decode(aes_key + "=")
        self.app_id = app_id
        self._ids = itertools.count(24000000000000001)

    def next_msg_id(self) -> int:
        return next(self._ids)

    def _signed(self, at: datetime) -> dict[str, str]:
        timestamp, nonce = str(int(at.timestamp())), str(secrets.randbelow(10**9))
        return {
            "signature": _signature(self.token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
        }

    def verification(self, at: datetime, echostr: str = "5837397520312746601") -> dict[str, str]:
        """The query of the GET WeChat makes when the server configuration is saved."""
        return {**self._signed(at), "echostr": echostr}

    def post(
        self, xml: str, at: datetime, *, safe: bool, openid: str = ""
    ) -> tuple[dict[str, str], bytes]:
        """Query and body of a callback carrying `xml`, plain or in safe mode."""
        query = self._signed(at)
        if openid:
            query["openid"] = openid
        if not safe:
            return query, xml.encode()
        encrypted = self.encrypt(xml)
        query["encrypt_type"] = "aes"
        query["msg_signature"] = _signature(
            self.token, query["timestamp"], query["nonce"], encrypted
        )
        body = f"<xml><ToUserName>{_cdata(ACCOUNT)}</ToUserName>"
        body += f"<Encrypt>{_cdata(encrypted)}</Encrypt></xml>"
        return query, body.encode()

    # The message format of safe mode: 16 random bytes, the length (4 bytes, network order),
    # the message, the AppID; PKCS#7 padded to 32 bytes; AES-256-CBC, IV = first 16 key bytes.
    def encrypt(self, text: str) -> str:
        raw = text.encode()
        plain = os.urandom(16) + struct.pack(">I", len(raw)) + raw + self.app_id.encode()
        pad = 32 - len(plain) % 32
        plain += bytes([pad]) * pad
        encryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()

    def decrypt(self, encrypted: str) -> str:
        decryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).decryptor()
        plain = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
        plain = plain[: -plain[-1]]
        (length,) = struct.unpack(">I", plain[16:20])
        assert plain[20 + length :].decode() == self.app_id, "sealed for another AppID"
        return plain[20 : 20 + length].decode()

    def open_reply(self, body: str, *, safe: bool) -> str:
        """A passive reply as the follower's app would show it: the XML, opened and its
        signature checked in safe mode."""
        if not safe:
            return body
        encrypted = _field(body, "Encrypt")
        signature = _signature(
            self.token, _field(body, "TimeStamp"), _field(body, "Nonce"), encrypted
        )
        assert signature == _field(body, "MsgSignature"), "reply signature does not match"
        return self.decrypt(encrypted)


def _field(xml: str, name: str) -> str:
    match = re.search(rf"<{name}>(?:<!\[CDATA\[(.*?)\]\]>|([^<]*))</{name}>", xml, re.S)
    assert match is not None, f"{name} missing in {xml!r}"
    return match.group(1) if match.group(1) is not None else match.group(2)


def reply_text(xml: str, to: str | None = None) -> str:
    """The text of a passive text reply (to the follower `to`, from the account)."""
    assert _field(xml, "MsgType") == "text", xml
    if to is not None:
        assert (_field(xml, "ToUserName"), _field(xml, "FromUserName")) == (to, ACCOUNT), xml
    return _field(xml, "Content")


def text_xml(openid: str, content: str, msg_id: int, at: datetime) -> str:
    return (
        f"<xml><ToUserName>{_cdata(ACCOUNT)}</ToUserName>"
        f"<FromUserName>{_cdata(openid)}</FromUserName>"
        f"<CreateTime>{int(at.timestamp())}</CreateTime><MsgType>{_cdata('text')}</MsgType>"
        f"<Content>{_cdata(content)}</Content><MsgId>{msg_id}</MsgId></xml>"
    )


def image_xml(openid: str, media_id: str, msg_id: int, at: datetime) -> str:
    return (
        f"<xml><ToUserName>{_cdata(ACCOUNT)}</ToUserName>"
        f"<FromUserName>{_cdata(openid)}</FromUserName>"
        f"<CreateTime>{int(at.timestamp())}</CreateTime><MsgType>{_cdata('image')}</MsgType>"
        f"<PicUrl>{_cdata('http://mmbiz.qpic.cn/x')}</PicUrl>"
        f"<MediaId>{_cdata(media_id)}</MediaId><MsgId>{msg_id}</MsgId></xml>"
    )


def event_xml(openid: str, event: str, at: datetime, key: str | None = None) -> str:
    xml = (
        f"<xml><ToUserName>{_cdata(ACCOUNT)}</ToUserName>"
        f"<FromUserName>{_cdata(openid)}</FromUserName>"
        f"<CreateTime>{int(at.timestamp())}</CreateTime><MsgType>{_cdata('event')}</MsgType>"
        f"<Event>{_cdata(event)}</Event>"
    )
    if key is not None:
        xml += f"<EventKey>{_cdata(key)}</EventKey>"
    return xml + "</xml>"


# --- the API ------------------------------------------------------------------------------


@dataclass
class Call:
    endpoint: str
    params: dict[str, Any]
    errcode: int = 0  # what the fake answered: 0 is done


def error(code: int, message: str) -> dict[str, Any]:
    return {"errcode": code, "errmsg": message}


@dataclass
class FakeApi:
    """`/cgi-bin/...` on loopback: records each call, answers like WeChat."""

    url: str = ""
    app_id: str = APP_ID
    secret: str = APP_SECRET
    calls: list[Call] = field(default_factory=list)
    scripted: dict[str, list[dict[str, Any] | None]] = field(default_factory=dict)
    # Customer-service window: None leaves it off; else the clock to judge it by, and the
    # time each follower last wrote (`heard`).
    now: Any = None
    last_heard: dict[str, datetime] = field(default_factory=dict)
    sent_in_window: dict[str, int] = field(default_factory=dict)
    delay: float = 0.0  # seconds each send takes (a slow platform)
    token: str = field(default_factory=lambda: "ACCESS_" + secrets.token_hex(8))
    _heard: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1000001))

    def script(self, endpoint: str, *answers: dict[str, Any] | None) -> None:
        """The next calls of `endpoint` (e.g. "message/custom/send") get these answers in
        turn (None: succeed)."""
        self.scripted.setdefault(endpoint, []).extend(answers)

    def heard(self, openid: str, at: datetime) -> None:
        """The follower wrote to the account: a new 48-hour window of 5 messages opens."""
        self.last_heard[openid] = at
        self.sent_in_window[openid] = 0

    def sent(self, endpoint: str = "message/custom/send") -> list[Call]:
        """Calls of `endpoint`, refused or not."""
        return [call for call in self.calls if call.endpoint == endpoint]

    def texts_to(self, openid: str) -> list[str]:
        """The customer-service texts the follower received (refused ones are not)."""
        return [
            c.params["text"]["content"]
            for c in self.sent()
            if c.params.get("touser") == openid and c.errcode == 0
        ]

    async def wait_for(self, count: int, endpoint: str = "message/custom/send") -> list[Call]:
        async with asyncio.timeout(10):
            while len(self.sent(endpoint)) < count:
                self._heard.clear()
                await self._heard.wait()
        return self.sent(endpoint)

    async def endpoint(self, request: Request) -> JSONResponse:
        name = request.path_params["endpoint"]
        params: dict[str, Any] = dict(request.query_params)
        if request.method == "POST":
            body = await request.body()
            params.update(json.loads(body or b"{}"))
        if name in ("token", "stable_token"):
            return self._token(name, params)
        if params.get("access_token") != self.token:  # refused before anything is done
            return JSONResponse(error(40001, "invalid credential, access_token is invalid"))
        call = Call(name, params)
        self.calls.append(call)
        answer = await self._answer(name, params)
        call.errcode = int(answer.get("errcode", 0))
        self._heard.set()
        return JSONResponse(answer)

    async def _answer(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        if self.scripted.get(name):
            scripted = self.scripted[name].pop(0)
            if scripted is not None:
                return scripted
        if self.delay:
            await asyncio.sleep(self.delay)
        if name == "message/custom/send":
            return self._custom(params)
        if name in ("message/mass/send", "message/mass/sendall"):
            return {**error(0, "send job submission success"), "msg_id": next(self._ids)}
        if name == "message/template/send":
            return {**error(0, "ok"), "msgid": next(self._ids)}
        if name == "qrcode/create":
            scene = params.get("action_info", {}).get("scene", {})
            code = scene.get("scene_str", scene.get("scene_id"))
            ticket = "gQH" + secrets.token_urlsafe(12)
            return {
                "ticket": ticket,
                "expire_seconds": params.get("expire_seconds"),
                "url": f"http://weixin.qq.com/q/{code}",
            }
        if name == "menu/create":
            buttons = params.get("button") or []
            if not 1 <= len(buttons) <= 3:
                return error(40016, "invalid button size")
            return error(0, "ok")
        return error(48001, "api unauthorized")

    def _token(self, name: str, params: dict[str, Any]) -> JSONResponse:
        self.calls.append(Call(name, {k: v for k, v in params.items() if k != "secret"}))
        if params.get("appid") != self.app_id or params.get("secret") != self.secret:
            return JSONResponse(error(40125, "invalid appsecret"))
        if params.get("grant_type") != "client_credential":
            return JSONResponse(error(40002, "invalid grant_type"))
        return JSONResponse({"access_token": self.token, "expires_in": 7200})

    def _custom(self, params: dict[str, Any]) -> dict[str, Any]:
        openid = params.get("touser", "")
        content = (params.get("text") or {}).get("content", "")
        if params.get("msgtype") != "text" or not content:
            return error(44004, "empty content")
        if len(content.encode()) > 2048:
            return error(45002, "content size out of limit")
        if self.now is not None:
            last = self.last_heard.get(openid)
            if last is None or self.now() - last > WINDOW:
                return error(45015, "response out of time limit or subscription is canceled")
            if self.sent_in_window.get(openid, 0) >= WINDOW_MESSAGES:
                return error(45047, "out of response count limit")
            self.sent_in_window[openid] = self.sent_in_window.get(openid, 0) + 1
        return error(0, "ok")

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/cgi-bin/{endpoint:path}", self.endpoint, methods=["GET", "POST"])]
        )
