"""Callback security: signatures, time window, nonce reuse, size cap, AES safe mode, XML bombs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import xmltodict
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto

from bot.kv import MemoryKeyValueStore
from bot.wechat.inbound import parse_inbound
from bot.wechat.outbound import passive_text_xml
from bot.wechat.security import CallbackRejected, CallbackSecurity, OpenedCallback
from governance.clock import ManualClock

TOKEN = "test-token"
APP_ID = "wx-test-appid"
CORP_ID = "ww-test-corp"
KEY_CURRENT = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
KEY_PREVIOUS = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
KEY_WRONG = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
NOW = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
TS = str(int(NOW.timestamp()))
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "wechat"
TEXT_XML = (FIXTURES / "text.xml").read_text(encoding="utf-8")


def sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def plain_query(timestamp: str = TS, nonce: str = "n-1", token: str = TOKEN) -> dict[str, str]:
    return {
        "signature": sign(token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "openid": "oResident0001",
    }


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


def make_security(
    clock: ManualClock,
    *,
    aes_keys: tuple[str, ...] = (),
    receive_id: str = APP_ID,
    require_encryption: bool = False,
    max_body_bytes: int = 65536,
) -> CallbackSecurity:
    return CallbackSecurity(
        token=TOKEN,
        receive_id=receive_id,
        aes_keys=aes_keys,
        replay_store=MemoryKeyValueStore(clock),
        clock=clock,
        max_body_bytes=max_body_bytes,
        require_encryption=require_encryption,
    )


async def rejected(coro: object) -> CallbackRejected:
    with pytest.raises(CallbackRejected) as caught:
        await coro  # type: ignore[misc]
    return caught.value


# -- plaintext mode --------------------------------------------------------------------------


async def test_good_signature_opens_plaintext(clock: ManualClock) -> None:
    opened = await make_security(clock).open(plain_query(), TEXT_XML.encode())
    assert opened == OpenedCallback(
        xml=TEXT_XML, encrypted=False, nonce="n-1", timestamp=TS, is_resend=False
    )
    assert parse_inbound(opened.xml).user_id == "oResident0001"


async def test_bad_signature_is_403(clock: ManualClock) -> None:
    error = await rejected(
        make_security(clock).open(plain_query(token="other"), TEXT_XML.encode())
    )
    assert error.status == 403


async def test_missing_signature_is_403(clock: ManualClock) -> None:
    query = plain_query()
    del query["signature"]
    assert (await rejected(make_security(clock).open(query, TEXT_XML.encode()))).status == 403


async def test_signatures_are_compared_in_constant_time(
    clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[object, object]] = []
    real_compare = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr("bot.wechat.security.hmac.compare_digest", spy)
    await make_security(clock).open(plain_query(), TEXT_XML.encode())
    assert any(a == sign(TOKEN, TS, "n-1").encode() for a, _ in calls)


@pytest.mark.parametrize("offset", [-301, 301, -3600, 86400])
async def test_stale_and_future_timestamps_are_403(clock: ManualClock, offset: int) -> None:
    query = plain_query(timestamp=str(int(NOW.timestamp()) + offset))
    error = await rejected(make_security(clock).open(query, TEXT_XML.encode()))
    assert error.status == 403
    assert "window" in error.reason


@pytest.mark.parametrize("offset", [-300, 0, 300])
async def test_timestamps_inside_the_window_pass(clock: ManualClock, offset: int) -> None:
    query = plain_query(timestamp=str(int(NOW.timestamp()) + offset))
    assert not (await make_security(clock).open(query, TEXT_XML.encode())).is_resend


@pytest.mark.parametrize("timestamp", ["", "abc", "1.5e9", "-1714550400", " 1714550400", "1_0"])
async def test_non_integer_timestamp_is_403(clock: ManualClock, timestamp: str) -> None:
    query = plain_query()
    query["timestamp"] = timestamp
    assert (await rejected(make_security(clock).open(query, TEXT_XML.encode()))).status == 403


async def test_same_nonce_same_body_is_a_resend(clock: ManualClock) -> None:
    security = make_security(clock)
    first = await security.open(plain_query(), TEXT_XML.encode())
    clock.advance(timedelta(seconds=5))  # WeChat retries after its 5-second timeout
    again = await security.open(plain_query(), TEXT_XML.encode())
    assert (first.is_resend, again.is_resend) == (False, True)
    assert again.xml == first.xml


async def test_same_nonce_different_body_is_403(clock: ManualClock) -> None:
    security = make_security(clock)
    await security.open(plain_query(), TEXT_XML.encode())
    forged = TEXT_XML.replace("路灯", "水管").encode()
    error = await rejected(security.open(plain_query(), forged))
    assert (error.status, error.reason) == (403, "nonce reused with a different body")


async def test_bad_signature_does_not_poison_the_nonce(clock: ManualClock) -> None:
    security = make_security(clock)
    forged = TEXT_XML.replace("路灯", "水管").encode()
    await rejected(security.open(plain_query(token="attacker"), forged))
    assert not (await security.open(plain_query(), TEXT_XML.encode())).is_resend


async def test_oversized_body_is_413_before_parsing(clock: ManualClock) -> None:
    security = make_security(clock, max_body_bytes=1024)
    assert security.max_body_bytes == 1024
    body = b"<" * 2000  # not even XML: size is checked first
    error = await rejected(security.open({}, body))
    assert error.status == 413


@pytest.mark.parametrize("body", [b"<xml><a>", b"plain words", b"<root/>", b"\xff\xfe"])
async def test_malformed_xml_is_400(clock: ManualClock, body: bytes) -> None:
    assert (await rejected(make_security(clock).open(plain_query(), body))).status == 400


async def test_plaintext_refused_when_encryption_required(clock: ManualClock) -> None:
    security = make_security(clock, aes_keys=(KEY_CURRENT,), require_encryption=True)
    assert (await rejected(security.open(plain_query(), TEXT_XML.encode()))).status == 403


XXE = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName>"
    "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content></xml>"
)
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a0 "ha">'
    + "".join(f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    + "]><xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName>"
    "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&a9;</Content></xml>"
)


@pytest.mark.parametrize("payload", [XXE, BILLION_LAUGHS], ids=["xxe", "billion-laughs"])
async def test_entity_payloads_are_400_without_expansion(clock: ManualClock, payload: str) -> None:
    started = time.perf_counter()
    error = await rejected(make_security(clock).open(plain_query(), payload.encode()))
    assert error.status == 400
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("payload", [XXE, BILLION_LAUGHS], ids=["xxe", "billion-laughs"])
async def test_entity_payloads_inside_aes_are_400(clock: ManualClock, payload: str) -> None:
    security = make_security(clock, aes_keys=(KEY_CURRENT,))
    query, body = wechatpy_encrypted(payload, "n-x", KEY_CURRENT)
    assert (await rejected(security.open(query, body))).status == 400


def test_xmltodict_refuses_entity_declarations_by_itself() -> None:
    with pytest.raises(ValueError, match="entities are disabled"):
        xmltodict.parse(BILLION_LAUGHS)


# -- safe (AES) mode -------------------------------------------------------------------------


def wechatpy_encrypted(
    xml: str, nonce: str, key: str, receive_id: str = APP_ID
) -> tuple[dict[str, str], bytes]:
    """What WeChat sends in safe mode, produced by wechatpy's own crypto."""
    envelope = WeChatCrypto(TOKEN, key, receive_id).encrypt_message(xml, nonce, TS)
    fields = xmltodict.parse(envelope)["xml"]
    body = (
        "<xml><ToUserName><![CDATA[gh_minqing_dev]]></ToUserName>"
        f"<Encrypt><![CDATA[{fields['Encrypt']}]]></Encrypt></xml>"
    )
    query = {
        **plain_query(nonce=nonce),
        "encrypt_type": "aes",
        "msg_signature": fields["MsgSignature"],
    }
    return query, body.encode()


def encrypt_by_spec(xml: str, key: str, receive_id: str) -> str:
    """AES-256-CBC, IV = key[:16], random(16) + len(4, network order) + msg + id, PKCS#7 to 32."""
    aes_key = base64.b64decode(key + "=")
    raw = (
        os.urandom(16) + struct.pack(">I", len(xml.encode())) + xml.encode() + receive_id.encode()
    )
    pad = 32 - len(raw) % 32
    raw += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(aes_key), modes.CBC(aes_key[:16])).encryptor()
    return base64.b64encode(encryptor.update(raw) + encryptor.finalize()).decode()


def decrypt_by_spec(ciphertext: str, key: str) -> tuple[str, str]:
    aes_key = base64.b64decode(key + "=")
    decryptor = Cipher(algorithms.AES(aes_key), modes.CBC(aes_key[:16])).decryptor()
    raw = decryptor.update(base64.b64decode(ciphertext)) + decryptor.finalize()
    raw = raw[: -raw[-1]]
    (length,) = struct.unpack(">I", raw[16:20])
    return raw[20 : 20 + length].decode(), raw[20 + length :].decode()


async def test_safe_mode_round_trip_with_wechatpy_payload(clock: ManualClock) -> None:
    security = make_security(clock, aes_keys=(KEY_CURRENT,))
    query, body = wechatpy_encrypted(TEXT_XML, "n-aes", KEY_CURRENT)
    opened = await security.open(query, body)
    assert opened.encrypted
    assert opened.xml == TEXT_XML
    assert parse_inbound(opened.xml).text.startswith("我家门口")


async def test_safe_mode_with_hand_built_payload(clock: ManualClock) -> None:
    security = make_security(clock, aes_keys=(KEY_CURRENT,))
    encrypt = encrypt_by_spec(TEXT_XML, KEY_CURRENT, APP_ID)
    body = f"<xml><ToUserName>gh</ToUserName><Encrypt>{encrypt}</Encrypt></xml>".encode()
    query = {
        **plain_query(nonce="n-spec"),
        "encrypt_type": "aes",
        "msg_signature": sign(TOKEN, TS, "n-spec", encrypt),
    }
    assert (await security.open(query, body)).xml == TEXT_XML


async def test_safe_mode_bad_msg_signature_is_403(clock: ManualClock) -> None:
    security = make_security(clock, aes_keys=(KEY_CURRENT,))
    query, body = wechatpy_encrypted(TEXT_XML, "n-aes", KEY_CURRENT)
    query["msg_signature"] = sign("other-token", TS, "n-aes", "x")
    assert (await rejected(security.open(query, body))).status == 403


async def test_safe_mode_without_encrypt_element_is_400(clock: ManualClock) -> None:
    security = make_security(clock, aes_keys=(KEY_CURRENT,))
    query, _ = wechatpy_encrypted(TEXT_XML, "n-aes", KEY_CURRENT)
    assert (await rejected(security.open(query, TEXT_XML.encode()))).status == 400


async def test_previous_key_still_opens_during_rotation(clock: ManualClock) -> None:
    security = make_security(clock, aes_keys=(KEY_CURRENT, KEY_PREVIOUS))
    query, body = wechatpy_encrypted(TEXT_XML, "n-old", KEY_PREVIOUS)
    opened = await security.open(query, body)
    assert (opened.xml, opened.key_index) == (TEXT_XML, 1)


async def test_wrong_key_is_403(clock: ManualClock) -> None:
    security = make_security(clock, aes_keys=(KEY_CURRENT, KEY_PREVIOUS))
    query, body = wechatpy_encrypted(TEXT_XML, "n-bad", KEY_WRONG)
    error = await rejected(security.open(query, body))
    assert error.status == 403


async def test_foreign_appid_is_403(clock: ManualClock) -> None:
    security = make_security(clock, aes_keys=(KEY_CURRENT,))
    query, body = wechatpy_encrypted(TEXT_XML, "n-app", KEY_CURRENT, receive_id="wx-other")
    assert (await rejected(security.open(query, body))).status == 403


async def test_encrypted_request_without_keys_is_403(clock: ManualClock) -> None:
    query, body = wechatpy_encrypted(TEXT_XML, "n-aes", KEY_CURRENT)
    assert (await rejected(make_security(clock).open(query, body))).status == 403


async def test_seal_output_decrypts_back(clock: ManualClock) -> None:
    security = make_security(clock, aes_keys=(KEY_CURRENT, KEY_PREVIOUS))
    query, body = wechatpy_encrypted(TEXT_XML, "n-seal", KEY_CURRENT)
    opened = await security.open(query, body)
    reply = passive_text_xml("oResident0001", "gh_minqing_dev", "收到 ཐུགས་རྗེ་ཆེ།", NOW)
    sealed = security.seal(reply, opened)
    fields = xmltodict.parse(sealed)["xml"]
    # wechatpy (what a WeChat-compatible peer runs) verifies and decrypts it...
    decrypted = WeChatCrypto(TOKEN, KEY_CURRENT, APP_ID).decrypt_message(
        sealed, fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"]
    )
    assert decrypted == reply
    # ...and so does a decoder written from the spec.
    assert decrypt_by_spec(fields["Encrypt"], KEY_CURRENT) == (reply, APP_ID)
    assert fields["Nonce"] == "n-seal"


async def test_seal_uses_the_key_that_opened_the_request(clock: ManualClock) -> None:
    security = make_security(clock, aes_keys=(KEY_CURRENT, KEY_PREVIOUS))
    query, body = wechatpy_encrypted(TEXT_XML, "n-rot", KEY_PREVIOUS)
    sealed = security.seal("<xml><Content>ok</Content></xml>", await security.open(query, body))
    encrypt = xmltodict.parse(sealed)["xml"]["Encrypt"]
    assert decrypt_by_spec(encrypt, KEY_PREVIOUS)[0] == "<xml><Content>ok</Content></xml>"


async def test_seal_is_plain_for_plain_requests_and_declines(clock: ManualClock) -> None:
    security = make_security(clock, aes_keys=(KEY_CURRENT,))
    plain = await security.open(plain_query(), TEXT_XML.encode())
    assert security.seal("<xml/>", plain) == "<xml/>"
    query, body = wechatpy_encrypted(TEXT_XML, "n-dec", KEY_CURRENT)
    assert security.seal("success", await security.open(query, body)) == "success"


# -- URL verification ------------------------------------------------------------------------


def test_verify_url_official_account_echoes(clock: ManualClock) -> None:
    query = {**plain_query(), "echostr": "5837397520918283"}
    assert make_security(clock).verify_url(query) == "5837397520918283"


def test_verify_url_official_account_bad_signature(clock: ManualClock) -> None:
    query = {**plain_query(token="nope"), "echostr": "5837397520918283"}
    with pytest.raises(CallbackRejected) as caught:
        make_security(clock).verify_url(query)
    assert caught.value.status == 403


def test_verify_url_wecom_decrypts_echostr(clock: ManualClock) -> None:
    security = make_security(
        clock, aes_keys=(KEY_CURRENT,), receive_id=CORP_ID, require_encryption=True
    )
    envelope = WeComCrypto(TOKEN, KEY_CURRENT, CORP_ID).encrypt_message("echo-1234", "n-w", TS)
    echostr = xmltodict.parse(envelope)["xml"]["Encrypt"]
    query = {
        "msg_signature": sign(TOKEN, TS, "n-w", echostr),
        "timestamp": TS,
        "nonce": "n-w",
        "echostr": echostr,
    }
    assert security.verify_url(query) == "echo-1234"
    query["msg_signature"] = sign(TOKEN, TS, "n-w", "tampered")
    with pytest.raises(CallbackRejected):
        security.verify_url(query)


async def test_wecom_callback_without_encrypt_type_is_decrypted(clock: ManualClock) -> None:
    """WeCom sends msg_signature but no encrypt_type: still safe mode."""
    security = make_security(
        clock, aes_keys=(KEY_CURRENT,), receive_id=CORP_ID, require_encryption=True
    )
    xml = (FIXTURES / "wecom_text.xml").read_text(encoding="utf-8")
    encrypt = encrypt_by_spec(xml, KEY_CURRENT, CORP_ID)
    body = (
        f"<xml><ToUserName>{CORP_ID}</ToUserName><AgentID>1000002</AgentID>"
        f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    ).encode()
    query = {"msg_signature": sign(TOKEN, TS, "n-wc", encrypt), "timestamp": TS, "nonce": "n-wc"}
    opened = await security.open(query, body)
    assert (opened.xml, opened.encrypted) == (xml, True)


def test_bad_aes_key_is_refused_at_startup(clock: ManualClock) -> None:
    with pytest.raises(ValueError, match="43"):
        make_security(clock, aes_keys=("short",))
