"""Temporary media: upload rules, download headers, and the 3-day expiry on the virtual clock."""

from __future__ import annotations

from aiohttp import FormData
from aiohttp.test_utils import TestClient
from simhelpers import post_json, wechat_token

MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\x00" * 100
AMR = b"#!AMR\n" + b"\x3c" * 100
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 100
PNG_HEAD = b"\x89PNG\r\n\x1a\n" + b"\x00" * 50


async def _upload(
    client: TestClient, token: str, kind: str, data: bytes, filename: str
) -> dict[str, object]:
    form = FormData()
    form.add_field("media", data, filename=filename, content_type="application/octet-stream")
    response = await client.post(
        "/cgi-bin/media/upload", params={"access_token": token, "type": kind}, data=form
    )
    result: dict[str, object] = await response.json()
    return result


async def test_voice_upload_and_download(client: TestClient) -> None:
    token = await wechat_token(client)
    uploaded = await _upload(client, token, "voice", MP3, "reply.mp3")
    assert uploaded["type"] == "voice"
    media_id = str(uploaded["media_id"])
    response = await client.get(
        "/cgi-bin/media/get", params={"access_token": token, "media_id": media_id}
    )
    assert response.status == 200
    assert response.content_type == "audio/mpeg"
    assert f'filename="{media_id}.mp3"' in response.headers["Content-disposition"]
    assert await response.read() == MP3
    amr = await _upload(client, token, "voice", AMR, "reply.amr")
    assert "media_id" in amr


async def test_voice_rules(client: TestClient) -> None:
    token = await wechat_token(client)
    wav = await _upload(client, token, "voice", WAV, "reply.wav")
    assert wav["errcode"] == 40004
    disguised = await _upload(client, token, "voice", WAV, "reply.mp3")
    assert disguised["errcode"] == 40004  # content beats the file name
    too_big = await _upload(client, token, "voice", MP3 + b"\x00" * (2 * 1024 * 1024), "a.mp3")
    assert too_big["errcode"] == 40006
    bad_type = await _upload(client, token, "hologram", MP3, "a.mp3")
    assert bad_type["errcode"] == 40004


async def test_media_expires_after_three_days(client: TestClient) -> None:
    token = await wechat_token(client)
    uploaded = await _upload(client, token, "image", PNG_HEAD, "photo.png")
    await post_json(client, "/sim/api/clock", {"advance_seconds": 3 * 86400 - 60})
    token = await wechat_token(client)
    params = {"access_token": token, "media_id": str(uploaded["media_id"])}
    fresh = await client.get("/cgi-bin/media/get", params=params)
    assert fresh.content_type == "image/png"
    await post_json(client, "/sim/api/clock", {"advance_seconds": 120})
    expired = await client.get("/cgi-bin/media/get", params=params)
    assert (await expired.json())["errcode"] == 40007
    unknown = await client.get("/cgi-bin/media/get", params={**params, "media_id": "nope"})
    assert (await unknown.json())["errcode"] == 40007


async def test_resident_upload_shares_the_store(client: TestClient) -> None:
    token = await wechat_token(client)
    form = FormData()
    form.add_field("file", AMR, filename="voice.amr", content_type="audio/amr")
    uploaded = await (await client.post("/sim/api/residents/o-res/media", data=form)).json()
    assert uploaded["kind"] == "voice"
    assert uploaded["format"] == "amr"
    response = await client.get(
        "/cgi-bin/media/get", params={"access_token": token, "media_id": uploaded["media_id"]}
    )
    assert await response.read() == AMR
    form = FormData()
    form.add_field("file", b"plain text", filename="notes.txt", content_type="text/plain")
    refused = await client.post("/sim/api/residents/o-res/media", data=form)
    assert refused.status == 400
