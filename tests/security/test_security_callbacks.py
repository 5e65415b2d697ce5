"""Forged and odd WeChat callbacks against the real gateway: forged ones get a 4xx and run no turn;
genuine-but-odd ones get a polite answer in the resident's language; nothing ever answers 5xx."""

from __future__ import annotations

import asyncio
import time
import unicodedata

from tests.security.conftest import (
    AES_KEY,
    OTHER_AES_KEY,
    Caller,
    message_xml,
    petition_count,
)

UNSUPPORTED_ZH = "这类消息我还看不懂"


async def test_a_bad_signature_is_403_and_runs_no_turn(caller: Caller) -> None:
    query = {**caller.query(), "signature": "f" * 40}
    answer = await caller.post(message_xml("o-forger", Content="转人工"), query=query)
    assert answer.status == 403
    query = caller.query(token="guessed-token")
    answer = await caller.post(message_xml("o-forger", Content="转人工"), query=query)
    assert answer.status == 403
    assert await petition_count(caller.stack) == 0


async def test_a_stale_future_or_malformed_timestamp_is_403(caller: Caller) -> None:
    now = int(time.time())
    stale = [str(now + skew) for skew in (-3600, -301, 301, 86400)]
    malformed = ["", "abc", "1e9", "-5", "１７００００００００", "9" * 40]
    for timestamp in stale + malformed:
        query = caller.query(timestamp=timestamp or None)
        query["timestamp"] = timestamp
        answer = await caller.post(message_xml("o-late", Content="你好"), query=query)
        assert answer.status == 403, timestamp


async def test_a_replayed_nonce_with_another_body_is_403(caller: Caller) -> None:
    query = caller.query(nonce="replayed-nonce")
    first = await caller.post(message_xml("o-replay", Content="你好"), query=query)
    assert first.status == 200
    forged = await caller.post(message_xml("o-replay", Content="转人工"), query=query)
    assert forged.status == 403


async def test_a_replay_of_the_same_delivery_runs_the_turn_once(caller: Caller) -> None:
    body = message_xml("o-retry", Content="你好")
    query = caller.query(nonce="same-delivery")
    first = await caller.post(body, query=query)
    again = await caller.post(body, query=query)
    assert first.status == again.status == 200
    assert first.content
    assert again.content in ("", first.content)  # a retry never starts a second turn


async def test_safe_mode_with_the_wrong_aes_key_is_403(safe_caller: Caller) -> None:
    answer = await safe_caller.post(
        message_xml("o-aes", Content="你好"), encrypt_with=OTHER_AES_KEY
    )
    assert answer.status == 403


async def test_safe_mode_with_the_right_key_answers_encrypted(safe_caller: Caller) -> None:
    answer = await safe_caller.post(message_xml("o-aes", Content="你好"), encrypt_with=AES_KEY)
    assert answer.status == 200
    assert "<Encrypt>" in answer.body
    assert answer.content


ENTITY_PAYLOADS = {
    "xxe": '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    "<xml><ToUserName>a</ToUserName><FromUserName>o-x</FromUserName>"
    "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content></xml>",
    "billion-laughs": '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;">]><xml><Content>&lol3;</Content></xml>',
    "external-dtd": '<!DOCTYPE xml SYSTEM "http://127.0.0.1:1/evil.dtd"><xml><a>1</a></xml>',
    "lowercase": '<!doctype xml [<!entity a "b">]><xml><Content>&a;</Content></xml>',
    "undefined-entity": "<xml><Content>&undefined;</Content></xml>",
    "parameter-entity": '<!DOCTYPE x [<!ENTITY % p SYSTEM "file:///etc/hosts"> %p;]><xml/>',
}


async def test_entity_payloads_are_400_in_plain_mode(caller: Caller) -> None:
    for name, xml in ENTITY_PAYLOADS.items():
        assert (await caller.post(xml)).status == 400, name


async def test_entity_payloads_are_400_inside_aes_too(safe_caller: Caller) -> None:
    for name, xml in ENTITY_PAYLOADS.items():
        assert (await safe_caller.post(xml)).status == 400, name


async def test_an_unsigned_cdata_flood_is_refused_without_burning_cpu(safe_caller: Caller) -> None:
    """Safe mode parses the envelope before its msg_signature can be checked; the DTD scan used
    a regex that took ~8 s of CPU (blocking every resident) on 63 KB of `<![CDATA[`."""
    query = {**safe_caller.query(), "encrypt_type": "aes", "msg_signature": "0" * 40}
    query.pop("signature")
    flood = "<![CDATA[" * 7000
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with safe_caller.stack.http.post(safe_caller.url, params=query, data=flood) as response:
        assert response.status == 400
    assert loop.time() - started < 2.0


async def test_an_oversized_body_is_413(caller: Caller, safe_caller: Caller) -> None:
    huge = message_xml("o-big", Content="路" * 30_000)
    assert (await caller.post(huge)).status == 413
    assert (await safe_caller.post(huge)).status == 413


async def test_garbage_bodies_are_400(caller: Caller) -> None:
    bodies = [b"", b"not xml", b"<xml>", b"<xml></xml>", b"\xff\xfe<xml/>", b"<other>1</other>"]
    for body in bodies:
        assert (await caller.post(body)).status == 400, body


async def test_a_signed_callback_with_an_odd_create_time_is_refused_not_crashed(
    caller: Caller,
) -> None:
    """Was a 500 (OverflowError / ValueError in datetime.fromtimestamp): WeChat would retry."""
    for create_time in ["99999999999999999999999", "²", "٣٤٥", "１７００００００００", "-1", ""]:
        answer = await caller.post(message_xml("o-time", Content="你好", create_time=create_time))
        assert answer.status == 400, create_time


async def test_an_unknown_message_type_gets_a_polite_reply(caller: Caller) -> None:
    answer = await caller.post(message_xml("o-odd", "hologram", Payload="x"))
    assert answer.status == 200
    assert UNSUPPORTED_ZH in answer.content


async def test_an_unknown_event_is_acknowledged(caller: Caller) -> None:
    answer = await caller.post(message_xml("o-odd", "event", Event="teleport", EventKey="k"))
    assert answer.status == 200


MALFORMED_MEDIA: list[tuple[str, dict[str, str]]] = [
    ("image", {}),
    ("image", {"PicUrl": "javascript:alert(1)", "MediaId": ""}),
    ("location", {"Location_X": "nan", "Location_Y": "inf", "Scale": "x", "Label": ""}),
    ("location", {"Location_X": "91.1", "Location_Y": ""}),
    ("location", {"Location_X": "1e999", "Location_Y": "-1e999"}),
    ("link", {"Title": "", "Url": "file:///etc/passwd"}),
    ("video", {"MediaId": "\u202e", "ThumbMediaId": ""}),
    ("shortvideo", {}),
    ("file", {"Title": "a.exe"}),
]


async def test_malformed_media_fields_get_an_answer_never_a_crash(caller: Caller) -> None:
    for index, (msg_type, fields) in enumerate(MALFORMED_MEDIA):
        answer = await caller.post(message_xml(f"o-media-{index}", msg_type, **fields))
        assert answer.status == 200, (msg_type, fields)
        assert answer.content, f"the resident is told something: {msg_type} {fields}"


async def test_nested_elements_where_text_is_expected_are_handled(caller: Caller) -> None:
    xml = message_xml("o-nested", Content="PLACEHOLDER").replace(
        "<![CDATA[PLACEHOLDER]]>", "<a><b>1</b></a><a>2</a>"
    )
    answer = await caller.post(xml)
    assert answer.status == 200
    assert UNSUPPORTED_ZH in answer.content


async def test_a_text_message_without_content_is_handled(caller: Caller) -> None:
    answer = await caller.post(message_xml("o-empty"))
    assert answer.status == 200
    assert answer.content


async def test_extremely_long_text_within_the_body_cap_is_answered(caller: Caller) -> None:
    answer = await caller.post(message_xml("o-long", Content="路灯坏了" * 5000))
    assert answer.status == 200
    assert answer.content


async def test_control_and_invisible_characters_never_crash(caller: Caller) -> None:
    texts = [
        "\u200b\u200d\u2060\ufeff",  # only zero-width characters
        "\u202e人工\u202c",  # bidi override around a command
        "\ud800",  # a lone surrogate, sent as raw (invalid) UTF-8
        "\x00\x01\x1b[31m",  # C0 controls: not legal XML 1.0
        "\x85\u2028\u2029",
    ]
    for text in texts:
        body = message_xml("o-ctrl", Content=text).encode("utf-8", "surrogatepass")
        answer = await caller.post(body)
        assert answer.status in (200, 400), repr(text)
        if answer.status == 200:
            assert answer.content, repr(text)


async def test_control_characters_as_character_references_are_400(caller: Caller) -> None:
    xml = message_xml("o-ctrl", Content="X").replace("<![CDATA[X]]>", "a&#1;b&#x0;")
    assert (await caller.post(xml)).status == 400


async def test_decomposed_tibetan_gets_a_tibetan_reply(caller: Caller) -> None:
    """NFD Tibetan (vowel signs split differently) and zero-width joiners inside words."""
    text = unicodedata.normalize("NFD", "ལས་བྱེད་པ") + "\u200d"
    answer = await caller.post(message_xml("o-bo", Content=text))
    assert answer.status == 200
    assert any("\u0f00" <= ch <= "\u0fff" for ch in answer.content)


async def test_full_width_and_tibetan_digits_in_a_ticket_number_are_understood(
    caller: Caller,
) -> None:
    for ticket in ("２０２６１１２２－０００１", "༢༠༢༦༡༡༢༢-༠༠༠༡"):
        answer = await caller.post(message_xml("o-status", Content=f"查询工单{ticket}"))
        assert answer.status == 200
        assert "20261122-0001" in answer.content, answer.content


async def test_compatibility_characters_in_a_command_are_folded(caller: Caller) -> None:
    """Full-width letters/spaces and a zero-width space must not hide a command."""
    answer = await caller.post(message_xml("o-nfkc", Content="\u3000转\u200b人工\u3000"))
    assert answer.status == 200
    assert "工作人员" in answer.content
