"""Posting to the bot: signatures, message XML, retries after a timeout, safe mode, replies."""

from __future__ import annotations

from typing import Any

from aiohttp import FormData
from conftest import StartGateway, StartSimulator
from simhelpers import AES_KEY, OTHER_AES_KEY, TOKEN, WeChatSide, post_json, tone_wav
from wechatpy.crypto import WeChatCrypto

TIBETAN = (
    "\u0f56\u0f40\u0fb2\u0f0b\u0f64\u0f72\u0f66\u0f0b"
    "\u0f56\u0f51\u0f7a\u0f0b\u0f63\u0f7a\u0f42\u0f66"
)


async def test_text_round_trip_in_plaintext_mode(
    start_gateway: StartGateway, start_simulator: StartSimulator
) -> None:
    gateway = await start_gateway()
    client = await start_simulator(gateway)
    result = await post_json(
        client, "/sim/api/residents/o-res/messages", {"type": "text", "content": TIBETAN}
    )
    assert result["delivered"] is True
    [attempt] = result["attempts"]
    assert attempt["status"] == 200
    assert attempt["error"] is None
    reply = result["passive_reply"]
    assert reply["channel"] == "passive"
    assert reply["msgtype"] == "text"
    assert reply["content"] == f"echo:{TIBETAN}"
    [received] = gateway.received
    assert received.query["openid"] == "o-res"
    message = received.message
    assert message.type == "text"
    assert message.source == "o-res"
    assert message.target == "gh_minqing_dev"
    assert message.content == TIBETAN
    assert int(message.id) == result["msg_id"]
    inbox = await (await client.get("/sim/api/residents/o-res/inbox")).json()
    assert inbox == [reply]


async def test_msg_ids_increase_and_success_means_no_reply(
    start_gateway: StartGateway, start_simulator: StartSimulator
) -> None:
    gateway = await start_gateway(reply=lambda msg: None)
    client = await start_simulator(gateway)
    first = await post_json(
        client, "/sim/api/residents/o-r/messages", {"type": "text", "content": "a"}
    )
    second = await post_json(
        client, "/sim/api/residents/o-r/messages", {"type": "text", "content": "b"}
    )
    assert second["msg_id"] > first["msg_id"] > 0
    assert first["passive_reply"] is None
    assert first["delivered"] is True
    assert await (await client.get("/sim/api/residents/o-r/inbox")).json() == []


async def test_every_message_type_parses_with_wechatpy(
    start_gateway: StartGateway, start_simulator: StartSimulator
) -> None:
    gateway = await start_gateway(reply=lambda msg: None)
    client = await start_simulator(gateway)
    form = FormData()
    form.add_field("file", b"#!AMR\n" + b"\x00" * 40, filename="v.amr", content_type="audio/amr")
    voice = await (await client.post("/sim/api/residents/o-r/media", data=form)).json()
    bodies: list[dict[str, Any]] = [
        {"type": "image"},
        {"type": "voice", "media_id": voice["media_id"], "recognition": "ni hao"},
        {"type": "location", "latitude": 29.65, "longitude": 91.13, "label": "Lhasa", "scale": 16},
        {"type": "link", "title": "T", "description": "D", "url": "http://example.org"},
        {"type": "event", "event": "CLICK", "key": "MENU_STATUS"},
    ]
    for body in bodies:
        result = await post_json(client, "/sim/api/residents/o-r/messages", body)
        assert result["delivered"] is True
    image, voice_msg, location, link, click = (r.message for r in gateway.received)
    assert image.type == "image"
    assert image.image.startswith("http://127.0.0.1:")
    assert image.media_id
    picture = await client.session.get(image.image)  # PicUrl is served by the simulator
    assert (await picture.read()).startswith(b"\x89PNG")
    assert voice_msg.type == "voice"
    assert voice_msg.media_id == voice["media_id"]
    assert voice_msg.format == "amr"
    assert voice_msg.recognition == "ni hao"
    assert location.type == "location"
    assert tuple(map(float, location.location)) == (29.65, 91.13)
    assert int(location.scale) == 16
    assert location.label == "Lhasa"
    assert (link.type, link.title, link.url) == ("link", "T", "http://example.org")
    assert (click.event, click.key) == ("click", "MENU_STATUS")
    assert all(int(r.message.time) > 0 for r in gateway.received)


async def test_retry_after_a_timeout(
    start_gateway: StartGateway, start_simulator: StartSimulator
) -> None:
    gateway = await start_gateway(delays=[0.5])
    client = await start_simulator(gateway, post_timeout_seconds=0.2)
    result = await post_json(
        client, "/sim/api/residents/o-r/messages", {"type": "text", "content": "x"}
    )
    first, second = result["attempts"]
    assert first["status"] is None
    assert "timeout" in first["error"]
    assert first["elapsed_ms"] >= 150
    assert second["status"] == 200
    assert result["delivered"] is True
    assert result["passive_reply"]["content"] == "echo:x"
    first_try, retry = gateway.received
    assert first_try.body == retry.body  # the same signed request, re-sent
    assert first_try.query == retry.query


async def test_three_tries_in_all_when_the_gateway_is_down(
    start_simulator: StartSimulator,
) -> None:
    client = await start_simulator(gateway_url="http://127.0.0.1:1/wechat")
    result = await post_json(
        client, "/sim/api/residents/o-r/messages", {"type": "text", "content": "x"}
    )
    assert result["delivered"] is False
    assert result["passive_reply"] is None
    assert len(result["attempts"]) == 3
    assert all(a["status"] is None and a["error"] for a in result["attempts"])


async def test_safe_mode_round_trip(
    start_gateway: StartGateway, start_simulator: StartSimulator
) -> None:
    gateway = await start_gateway(aes_key=AES_KEY)
    client = await start_simulator(gateway, wechat=WeChatSide(aes_key=AES_KEY))
    result = await post_json(
        client, "/sim/api/residents/o-res/messages", {"type": "text", "content": TIBETAN}
    )
    assert result["reply_error"] is None
    assert result["passive_reply"]["content"] == f"echo:{TIBETAN}"
    [received] = gateway.received
    assert received.query["encrypt_type"] == "aes"
    assert b"<Encrypt>" in received.body
    assert TIBETAN.encode() not in received.body
    assert received.message.content == TIBETAN


async def test_safe_mode_refuses_a_badly_signed_or_plain_reply(
    start_gateway: StartGateway, start_simulator: StartSimulator
) -> None:
    forged = WeChatCrypto(TOKEN, OTHER_AES_KEY, "wx-dev-appid").encrypt_message(
        "<xml><ToUserName>o-res</ToUserName></xml>", "1", "1700000000"
    )
    gateway = await start_gateway(
        aes_key=AES_KEY, raw_reply=forged.replace("<Nonce><![CDATA[1", "<Nonce><![CDATA[2")
    )
    client = await start_simulator(gateway, wechat=WeChatSide(aes_key=AES_KEY))
    result = await post_json(
        client, "/sim/api/residents/o-res/messages", {"type": "text", "content": "x"}
    )
    assert result["delivered"] is True
    assert result["passive_reply"] is None
    assert "MsgSignature" in result["reply_error"]
    gateway.raw_reply = (
        "<xml><ToUserName>o-res</ToUserName><FromUserName>gh_minqing_dev</FromUserName>"
        "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>hi</Content></xml>"
    )
    plain = await post_json(
        client, "/sim/api/residents/o-res/messages", {"type": "text", "content": "x"}
    )
    assert "plaintext reply" in plain["reply_error"]
    stats = await (await client.get("/sim/api/stats")).json()
    assert [v["kind"] for v in stats["violations"]] == ["bad_passive_reply"] * 2


async def test_misaddressed_reply_is_refused(
    start_gateway: StartGateway, start_simulator: StartSimulator
) -> None:
    gateway = await start_gateway(
        raw_reply="<xml><ToUserName>o-other</ToUserName><FromUserName>gh_minqing_dev"
        "</FromUserName><MsgType>text</MsgType><Content>hi</Content></xml>"
    )
    client = await start_simulator(gateway)
    result = await post_json(
        client, "/sim/api/residents/o-res/messages", {"type": "text", "content": "x"}
    )
    assert result["passive_reply"] is None
    assert "ToUserName" in result["reply_error"]


async def test_news_reply_and_long_text_violation(
    start_gateway: StartGateway, start_simulator: StartSimulator
) -> None:
    gateway = await start_gateway(
        raw_reply="<xml><ToUserName>o-res</ToUserName><FromUserName>gh_minqing_dev</FromUserName>"
        "<CreateTime>1</CreateTime><MsgType>news</MsgType><ArticleCount>1</ArticleCount>"
        "<Articles><item><Title>Case 7</Title><Description>d</Description>"
        "<PicUrl></PicUrl><Url>http://h5/case/7</Url></item></Articles></xml>"
    )
    client = await start_simulator(gateway)
    result = await post_json(
        client, "/sim/api/residents/o-res/messages", {"type": "text", "content": "x"}
    )
    reply = result["passive_reply"]
    assert reply["msgtype"] == "news"
    assert reply["articles"][0]["url"] == "http://h5/case/7"
    gateway.raw_reply = None
    gateway.reply = lambda msg: TIBETAN * 60
    await post_json(client, "/sim/api/residents/o-res/messages", {"type": "text", "content": "x"})
    stats = await (await client.get("/sim/api/stats")).json()
    assert stats["violations"][0]["kind"] == "passive_text_too_long"


async def test_invalid_message_bodies_are_400(start_simulator: StartSimulator) -> None:
    client = await start_simulator()
    bad_type = await client.post("/sim/api/residents/o-r/messages", json={"type": "fax"})
    assert bad_type.status == 400
    bad_location = await client.post(
        "/sim/api/residents/o-r/messages",
        json={"type": "location", "latitude": 200, "longitude": 0},
    )
    assert bad_location.status == 400
    unknown_media = await client.post(
        "/sim/api/residents/o-r/messages", json={"type": "voice", "media_id": "nope"}
    )
    assert unknown_media.status == 400
    assert (await unknown_media.json())["errcode"] == 40007


async def test_multipart_message_uploads_and_sends(
    start_gateway: StartGateway, start_simulator: StartSimulator
) -> None:
    gateway = await start_gateway(reply=lambda msg: None)
    client = await start_simulator(gateway)
    form = FormData()
    form.add_field("type", "voice")
    form.add_field("file", tone_wav(), filename="note.wav", content_type="audio/wav")
    result = await (await client.post("/sim/api/residents/o-r/messages", data=form)).json()
    assert result["delivered"] is True
    [received] = gateway.received
    assert received.message.type == "voice"
    assert received.message.format == "amr", "like WeChat, the simulator sends AMR-NB"
    sent = await (await client.get("/sim/api/residents/o-r/chat")).json()
    assert sent[0]["media_id"] == received.message.media_id
