"""Template messages: the 20-character one-line rule, idempotency, and the job-finish event."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from conftest import StartGateway, StartSimulator
from simhelpers import post_json, simulator_of, wechat_token


def _template(openid: str, client_msg_id: str | None = None, **fields: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "touser": openid,
        "template_id": "status-template",
        "url": "http://127.0.0.1:8080/s/abc",
        "data": {name: {"value": value} for name, value in fields.items()},
    }
    if client_msg_id:
        body["client_msg_id"] = client_msg_id
    return body


async def test_field_over_20_characters_is_rejected_and_recorded(client: TestClient) -> None:
    token = await wechat_token(client)
    await post_json(client, "/sim/api/residents", {"openid": "o-res", "following": True})
    long_value = "x" * 21
    data = await post_json(
        client,
        "/cgi-bin/message/template/send",
        _template("o-res", thing1=long_value, time2="2024-05-01"),
        access_token=token,
    )
    assert data["errcode"] == 47003
    assert "thing1" in data["errmsg"]
    stats = await (await client.get("/sim/api/stats")).json()
    assert stats["template_send"]["rejected"] == 1
    [violation] = stats["violations"]
    assert violation["kind"] == "template_field"
    assert violation["field"] == "thing1"
    assert violation["value"] == long_value
    assert await (await client.get("/sim/api/residents/o-res/inbox")).json() == []


async def test_line_break_is_rejected_but_20_characters_pass(client: TestClient) -> None:
    token = await wechat_token(client)
    await post_json(client, "/sim/api/residents", {"openid": "o-res", "following": True})
    broken = await post_json(
        client,
        "/cgi-bin/message/template/send",
        _template("o-res", thing1="a\nb"),
        access_token=token,
    )
    assert broken["errcode"] == 47003
    ok = await post_json(
        client,
        "/cgi-bin/message/template/send",
        _template("o-res", thing1="y" * 20),
        access_token=token,
    )
    assert ok["errcode"] == 0
    [message] = await (await client.get("/sim/api/residents/o-res/inbox")).json()
    assert message["channel"] == "template"
    assert message["template_id"] == "status-template"
    assert message["url"] == "http://127.0.0.1:8080/s/abc"
    assert message["fields"] == {"thing1": "y" * 20}


async def test_client_msg_id_is_idempotent_for_ten_minutes(client: TestClient) -> None:
    token = await wechat_token(client)
    await post_json(client, "/sim/api/residents", {"openid": "o-res", "following": True})
    body = _template("o-res", client_msg_id="case-7-accepted", thing1="ok")
    first = await post_json(client, "/cgi-bin/message/template/send", body, access_token=token)
    again = await post_json(client, "/cgi-bin/message/template/send", body, access_token=token)
    assert first["errcode"] == again["errcode"] == 0
    assert first["msgid"] == again["msgid"]
    assert len(await (await client.get("/sim/api/residents/o-res/inbox")).json()) == 1
    await post_json(client, "/sim/api/clock", {"advance_seconds": 601})
    token = await wechat_token(client)
    later = await post_json(client, "/cgi-bin/message/template/send", body, access_token=token)
    assert later["msgid"] != first["msgid"]
    assert len(await (await client.get("/sim/api/residents/o-res/inbox")).json()) == 2
    stats = await (await client.get("/sim/api/stats")).json()
    assert stats["template_send"] == {"accepted": 2, "duplicates": 1, "rejected": 0}


async def test_job_finish_event_reaches_the_gateway(
    start_gateway: StartGateway, start_simulator: StartSimulator
) -> None:
    gateway = await start_gateway(reply=lambda msg: None)
    client = await start_simulator(gateway, template_event_delay_seconds=0)
    token = await wechat_token(client)
    await post_json(client, "/sim/api/residents", {"openid": "o-res", "following": True})
    sent = await post_json(
        client,
        "/cgi-bin/message/template/send",
        _template("o-res", thing1="ok"),
        access_token=token,
    )
    await simulator_of(client).drain()
    [received] = gateway.received
    event = received.message
    assert event.type == "event"
    assert event.event == "templatesendjobfinish"
    assert event.source == "o-res"
    assert event.status == "success"
    assert int(event.id) == sent["msgid"]


async def test_template_errors(client: TestClient) -> None:
    token = await wechat_token(client)
    unknown = await post_json(
        client, "/cgi-bin/message/template/send", _template("o-x", a="1"), access_token=token
    )
    assert unknown["errcode"] == 40003
    await post_json(client, "/sim/api/residents", {"openid": "o-res", "following": True})
    no_template = {**_template("o-res", a="1"), "template_id": ""}
    data = await post_json(
        client, "/cgi-bin/message/template/send", no_template, access_token=token
    )
    assert data["errcode"] == 40037
