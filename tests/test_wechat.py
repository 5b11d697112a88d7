"""The WeChat channel's edges: the fake platform checked against wechatpy (its client, its
signature check and its crypto), callbacks refused when not WeChat's, callbacks converted,
and the sender's mapping of the platform's errors, over HTTP against the fake API."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from wechatpy import WeChatClient
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import WeChatClientException
from wechatpy.utils import check_signature

from bot.channels.base import Failure, SendError
from bot.channels.wechat import (
    CallbackRejected,
    Callbacks,
    Ignored,
    Malformed,
    Received,
    Unfollowed,
    WechatApi,
    WechatSender,
    convert,
    parse,
    reply_xml,
    split_bytes,
)
from bot.config import WechatSection
from bot.messages import Address, AddressKind, Choice, Outbound
from tests.conftest import START
from tests.fake_wechat import (
    AES_KEY,
    APP_ID,
    APP_SECRET,
    TOKEN,
    FakeApi,
    Platform,
    error,
    event_xml,
    image_xml,
    reply_text,
    text_xml,
)
from tests.servers import serve_asgi

OPENID = "oV-Fv5Zq3aYyQz_villager01"


@pytest.fixture
async def fake() -> AsyncIterator[FakeApi]:
    api = FakeApi()
    async with serve_asgi(api.app()) as url:
        api.url = url
        yield api


def settings(api_url: str = "http://127.0.0.1:9", **changes: Any) -> WechatSection:
    return WechatSection(app_id=APP_ID, api_base_url=api_url, **changes)


# --- the fake against wechatpy -----------------------------------------------------------


class LocalClient(WeChatClient):  # type: ignore[misc]
    """wechatpy's client pointed at the fake (its token URL is fixed to WeChat's host)."""

    def __init__(self, base: str) -> None:
        super().__init__(APP_ID, APP_SECRET)
        self.API_BASE_URL = base + "/cgi-bin/"

    def fetch_access_token(self) -> dict[str, Any]:
        return self._fetch_access_token(
            url=self.API_BASE_URL + "token",
            params={"grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET},
        )


async def test_wechatpys_client_speaks_to_the_fake_api(fake: FakeApi):
    client = LocalClient(fake.url)

    def use() -> None:
        client.message.send_text(OPENID, "你好")
        client.message.send_template(OPENID, "TPL1", {"content": {"value": "通知"}})
        client.message.send_mass_text([OPENID, "oOther"], "群发")
        ticket = client.qrcode.create(
            {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "HX0101"}}}
        )
        assert ticket["url"].endswith("/HX0101") and ticket["ticket"]
        client.menu.create({"button": [{"type": "click", "name": "汇报", "key": "REPORT"}]})

    await asyncio.to_thread(use)
    assert [c.endpoint for c in fake.calls] == [
        "token",
        "message/custom/send",
        "message/template/send",
        "message/mass/send",
        "qrcode/create",
        "menu/create",
    ]
    assert fake.texts_to(OPENID) == ["你好"]
    assert fake.sent("message/mass/send")[0].params["touser"] == [OPENID, "oOther"]

    fake.script("message/custom/send", error(45015, "response out of time limit"))
    with pytest.raises(WeChatClientException) as raised:
        await asyncio.to_thread(client.message.send_text, OPENID, "迟了")
    assert raised.value.errcode == 45015


def test_the_fakes_callbacks_pass_wechatpys_checks_and_read_its_replies():
    platform = Platform()
    query = platform.verification(START)
    check_signature(TOKEN, query["signature"], query["timestamp"], query["nonce"])

    xml = text_xml(OPENID, "汇报 修好了路灯", 101, START)
    query, body = platform.post(xml, START, safe=True)
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    opened = crypto.decrypt_message(
        body, query["msg_signature"], query["timestamp"], query["nonce"]
    )
    assert opened == xml

    sealed = crypto.encrypt_message(reply_xml(parse(xml), "已记录"), "123", "1700000000")
    assert reply_text(platform.open_reply(sealed, safe=True)) == "已记录"


# --- callbacks -----------------------------------------------------------------------------


@pytest.mark.parametrize("safe", [False, True])
def test_signed_callbacks_open_and_replies_seal(safe: bool):
    platform = Platform()
    callbacks = Callbacks(settings(safe_mode=safe), TOKEN, AES_KEY if safe else None)
    xml = text_xml(OPENID, "查询", 7, START)
    opened = callbacks.open(*platform.post(xml, START, safe=safe), now=START)
    assert (opened.xml, opened.sealed) == (xml, safe)
    answer = callbacks.answer(opened, reply_xml(parse(xml), "您本月汇报 2 件"))
    assert reply_text(platform.open_reply(answer, safe=safe)) == "您本月汇报 2 件"
    assert callbacks.verify_url(platform.verification(START, "echo42"), START) == "echo42"


def _forged(query: dict[str, str], **changes: str) -> dict[str, str]:
    return {**query, **changes}


@pytest.mark.parametrize(
    ("safe", "tamper", "reason"),
    [
        (False, {"signature": "0" * 40}, "signature does not match"),
        (False, {"timestamp": str(int(START.timestamp()) + 1)}, "signature does not match"),
        (True, {"msg_signature": "0" * 40}, "msg_signature does not match"),
        (True, {"encrypt_type": "raw"}, "plain callback while safe_mode is on"),
        (False, {"nonce": ""}, "timestamp or nonce missing"),
    ],
)
def test_callbacks_not_signed_by_wechat_are_refused(safe, tamper, reason):
    platform = Platform()
    callbacks = Callbacks(settings(safe_mode=safe), TOKEN, AES_KEY if safe else None)
    query, body = platform.post(text_xml(OPENID, "1", 8, START), START, safe=safe)
    with pytest.raises(CallbackRejected) as refused:
        callbacks.open(_forged(query, **tamper), body, START)
    assert (refused.value.status, refused.value.reason) == (403, reason)


BOMB = (
    '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
    + "".join(
        f'<!ENTITY {n} "{("&" + p + ";") * 10}">' for p, n in zip("abcdef", "bcdefg", strict=True)
    )
    + "]><xml><Encrypt>&g;</Encrypt></xml>"
)


@pytest.mark.parametrize("safe", [False, True])
def test_xml_entities_are_never_expanded(safe: bool):
    """A billion-laughs body is refused (safe mode: wechatpy parses the envelope before the
    signature can be checked) or dropped (plain), never expanded."""
    platform = Platform()
    callbacks = Callbacks(settings(safe_mode=safe), TOKEN, AES_KEY if safe else None)
    query, _ = platform.post(text_xml(OPENID, "1", 13, START), START, safe=safe)
    if safe:
        with pytest.raises(CallbackRejected, match="cannot decrypt"):
            callbacks.open(query, BOMB.encode(), START)
    else:
        assert parse(callbacks.open(query, BOMB.encode(), START).xml) is None


def test_a_replayed_callback_is_refused_once_stale():
    platform = Platform()
    callbacks = Callbacks(settings(safe_mode=True), TOKEN, AES_KEY)
    query, body = platform.post(text_xml(OPENID, "1", 9, START), START, safe=True)
    with pytest.raises(CallbackRejected, match="too far"):
        callbacks.open(query, body, START + timedelta(minutes=6))


def test_another_accounts_sealed_callback_is_refused():
    other = Platform(app_id="wxffffffffffffffff")
    callbacks = Callbacks(settings(safe_mode=True), TOKEN, AES_KEY)
    query, body = other.post(text_xml(OPENID, "1", 10, START), START, safe=True)
    with pytest.raises(CallbackRejected, match="cannot decrypt"):
        callbacks.open(query, body, START)


# --- what a callback means ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("xml", "body", "provider_id", "followed"),
    [
        (text_xml(OPENID, "汇报 修路", 11, START), "汇报 修路", "11", False),
        (event_xml(OPENID, "subscribe", START, "qrscene_HX0101"), "加入 HX0101", None, True),
        (event_xml(OPENID, "SCAN", START, "HX0102"), "加入 HX0102", None, True),
        (event_xml(OPENID, "subscribe", START), "帮助", None, True),
        (event_xml(OPENID, "subscribe", START, ""), "帮助", None, True),
        (event_xml(OPENID, "CLICK", START, "REPORT"), "汇报", None, False),
        (event_xml(OPENID, "CLICK", START, "POLL"), "评议", None, False),
        (event_xml(OPENID, "CLICK", START, "ME"), "查询", None, False),
    ],
)
def test_callbacks_become_what_a_person_would_type(xml, body, provider_id, followed):
    conversion = convert(parse(xml), START)
    assert isinstance(conversion, Received)
    inbound = conversion.inbound
    assert (inbound.body, inbound.sender) == (body, Address(AddressKind.WECHAT, OPENID))
    # Events have no MsgId: the sender and CreateTime tell a retry from a new one.
    assert inbound.provider_id == (provider_id or f"event:{OPENID}:{int(START.timestamp())}")
    assert conversion.followed is followed


def test_a_picture_is_an_attachment_by_its_media_id():
    conversion = convert(parse(image_xml(OPENID, "MEDIA_42", 12, START)), START)
    assert isinstance(conversion, Received)
    assert conversion.inbound.body == ""
    assert [a.url for a in conversion.inbound.attachments] == ["wechat:MEDIA_42"]


def test_fields_of_the_wrong_kind_are_malformed():
    nested = text_xml(OPENID, "x", 14, START).replace(
        "<Content><![CDATA[x]]></Content>", "<Content><a>1</a></Content>"
    )
    with pytest.raises(Malformed):
        convert(parse(nested), START)
    no_time = text_xml(OPENID, "x", 15, START).replace(
        f"<CreateTime>{int(START.timestamp())}</CreateTime>", "<CreateTime>soon</CreateTime>"
    )
    with pytest.raises(Malformed):
        convert(parse(no_time), START)
    # A text without a MsgId is told apart by sender and time, never lumped under "0".
    no_id = text_xml(OPENID, "x", 0, START).replace("<MsgId>0</MsgId>", "")
    conversion = convert(parse(no_id), START)
    assert isinstance(conversion, Received)
    assert conversion.inbound.provider_id == f"event:{OPENID}:{int(START.timestamp())}"


def test_unsubscribe_is_an_opt_out_and_the_rest_is_ignored():
    assert convert(parse(event_xml(OPENID, "unsubscribe", START)), START) == Unfollowed(
        Address(AddressKind.WECHAT, OPENID)
    )
    assert isinstance(convert(parse(event_xml(OPENID, "CLICK", START, "X")), START), Ignored)
    assert isinstance(convert(parse(event_xml(OPENID, "VIEW", START, "http://a")), START), Ignored)
    assert parse("<xml><MsgType>") is None  # not XML: dropped, logged


# --- sending -------------------------------------------------------------------------------


def sender_for(fake: FakeApi, **changes: Any) -> WechatSender:
    section = settings(fake.url, **changes)
    return WechatSender(WechatApi(section, APP_SECRET), section)


def to(text: str, *choices: str) -> Outbound:
    labels = tuple(Choice(f"P1 {i}", label) for i, label in enumerate(choices, start=1))
    return Outbound(Address(AddressKind.WECHAT, OPENID), text, labels)


async def test_a_message_goes_as_customer_service_text_with_numbered_choices(fake: FakeApi):
    sender = sender_for(fake)
    try:
        result = await sender.send(to("【评议P1】您对修路满意吗？", "满意", "不满意"))
    finally:
        await sender.close()
    assert result.channel_status == "sent"
    assert fake.texts_to(OPENID) == ["【评议P1】您对修路满意吗？\n1. 满意\n2. 不满意"]
    assert [c.endpoint for c in fake.calls] == ["stable_token", "message/custom/send"]


@pytest.mark.parametrize(
    ("answer", "failure"),
    [
        (error(45015, "response out of time limit"), Failure.PLATFORM_LIMIT),
        (error(45047, "out of response count limit"), Failure.PLATFORM_LIMIT),
        (error(45009, "reach max api daily quota limit"), Failure.PLATFORM_LIMIT),
        (error(43004, "require subscribe"), Failure.OPTED_OUT),
        (error(40003, "invalid openid"), Failure.INVALID_ADDRESS),
        (error(-1, "system error"), Failure.TRANSIENT),
        (error(45002, "content size out of limit"), Failure.REJECTED),
    ],
)
async def test_platform_errors_say_what_the_outbox_should_do(fake: FakeApi, answer, failure):
    fake.script("message/custom/send", answer)
    sender = sender_for(fake)
    try:
        with pytest.raises(SendError) as raised:
            await sender.send(to("通知"))
    finally:
        await sender.close()
    assert (raised.value.failure, raised.value.code) == (failure, str(answer["errcode"]))


async def test_the_window_and_count_limits_of_the_platform(fake: FakeApi):
    """48 hours after the follower's last message, 5 messages: the sixth, or one after the
    window, is the platform's limit (the outbox then tries another channel)."""
    clock = {"now": START}
    fake.now = lambda: clock["now"]
    fake.heard(OPENID, START)
    sender = sender_for(fake)
    try:
        for i in range(5):
            await sender.send(to(f"第{i + 1}条"))
        with pytest.raises(SendError) as sixth:
            await sender.send(to("第6条"))
        fake.heard(OPENID, START)
        clock["now"] = START + timedelta(hours=49)
        with pytest.raises(SendError) as late:
            await sender.send(to("过了48小时"))
    finally:
        await sender.close()
    assert (sixth.value.failure, sixth.value.code) == (Failure.PLATFORM_LIMIT, "45047")
    assert (late.value.failure, late.value.code) == (Failure.PLATFORM_LIMIT, "45015")


async def test_out_of_the_window_a_service_account_sends_its_template(fake: FakeApi):
    fake.now = lambda: START
    sender = sender_for(fake, account="service", template_id="TPL-NOTICE")
    try:
        result = await sender.send(to("明晚七点开党员大会"))
    finally:
        await sender.close()
    [template] = fake.sent("message/template/send")
    assert template.params["template_id"] == "TPL-NOTICE"
    assert template.params["data"] == {"content": {"value": "明晚七点开党员大会"}}
    assert result.provider_id.startswith("tpl:")


async def test_an_expired_token_is_fetched_again_once(fake: FakeApi):
    sender = sender_for(fake)
    try:
        await sender.send(to("一"))
        fake.token = "ACCESS_rotated"  # WeChat expired the old one early
        await sender.send(to("二"))
    finally:
        await sender.close()
    assert fake.texts_to(OPENID) == ["一", "二"]
    assert [c.endpoint for c in fake.calls].count("stable_token") == 2


async def test_an_unreachable_api_is_transient():
    sender = WechatSender(WechatApi(settings(), APP_SECRET), settings())
    try:
        with pytest.raises(SendError) as raised:
            await sender.send(to("通知"))
    finally:
        await sender.close()
    assert raised.value.failure is Failure.TRANSIENT


async def test_a_wrong_app_secret_keeps_messages_waiting(fake: FakeApi):
    section = settings(fake.url)
    sender = WechatSender(WechatApi(section, "not-the-secret"), section)
    try:
        with pytest.raises(SendError) as raised:
            await sender.send(to("通知"))
    finally:
        await sender.close()
    assert (raised.value.failure, raised.value.code) == (Failure.TRANSIENT, "40125")
    assert fake.sent() == []


def test_long_texts_are_cut_at_2048_bytes_on_a_line_break():
    text = "\n".join(["修路" * 100] * 8)  # 8 lines of 600 bytes
    pieces = split_bytes(text)
    assert all(len(p.encode()) <= 2048 for p in pieces)
    assert "\n".join(pieces) == text
    assert len(pieces) == 3


# --- configuration -------------------------------------------------------------------------

SECRETS = {
    "WECHAT_TOKEN": TOKEN,
    "WECHAT_ENCODING_AES_KEY": AES_KEY,
    "WECHAT_APP_SECRET": APP_SECRET,
}


@pytest.mark.parametrize(
    ("toml", "unset", "problem"),
    [
        (f'app_id = "{APP_ID}"', "WECHAT_TOKEN", "environment: WECHAT_TOKEN: required"),
        (f'app_id = "{APP_ID}"', "WECHAT_APP_SECRET", "environment: WECHAT_APP_SECRET: required"),
        (
            f'app_id = "{APP_ID}"',
            "WECHAT_ENCODING_AES_KEY",
            "environment: WECHAT_ENCODING_AES_KEY: required when wechat.safe_mode is on",
        ),
        ('app_id = "wx123"', None, "wechat.app_id: must be empty or an AppID"),
        (f'app_id = "{APP_ID}"\ntoken = "x"', None, "wechat.token: unknown key"),
        (f'app_id = "{APP_ID}"\nreply_seconds = 5.0', None, "wechat.reply_seconds"),
        (f'app_id = "{APP_ID}"\ntemplate_id = "T1"', None, 'need account = "service"'),
    ],
)
def test_a_wrong_wechat_configuration_is_one_line(tmp_path, toml, unset, problem):
    from bot.config import ConfigError, load_config

    path = tmp_path / "config.toml"
    path.write_text(f"[wechat]\n{toml}\n")
    env = {k: v for k, v in SECRETS.items() if k != unset}
    with pytest.raises(ConfigError, match=re.escape(problem)):
        load_config(path, env=env)


def test_wechat_is_on_when_app_id_is_set_and_secrets_come_from_the_environment(tmp_path):
    from bot.config import load_config

    path = tmp_path / "config.toml"
    path.write_text(f'[wechat]\napp_id = "{APP_ID}"\nsafe_mode = false\n')
    env = {k: v for k, v in SECRETS.items() if k != "WECHAT_ENCODING_AES_KEY"}
    config = load_config(path, env=env)
    assert config.wechat.enabled and not config.sandbox_on
    assert (config.wechat_token, config.wechat_app_secret) == (TOKEN, APP_SECRET)
    assert TOKEN not in repr(config) and APP_SECRET not in repr(config)
    assert not load_config(env={}).wechat.enabled
