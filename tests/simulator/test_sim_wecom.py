"""WeCom: group chats, 1:1 app messages, the group robot, and the encrypted staff callback."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from conftest import StartGateway, StartSimulator
from simhelpers import CORP_ID, post_json, wecom_token

TEXTCARD = {
    "title": "Case 0007",
    "description": "Streetlight broken",
    "url": "http://127.0.0.1:8080/console/cases/7",
    "btntxt": "Open",
}


async def _group(client: TestClient, token: str) -> str:
    data = await post_json(
        client,
        "/wecom/cgi-bin/appchat/create",
        {"name": "Grid 1", "owner": "zhangwei", "userlist": ["zhangwei", "tsering"]},
        access_token=token,
    )
    assert data["errcode"] == 0
    return str(data["chatid"])


async def test_group_create_send_and_timeline(client: TestClient) -> None:
    token = await wecom_token(client)
    chatid = await _group(client, token)
    groups = await (await client.get("/sim/api/wecom/groups")).json()
    assert groups == [
        {
            "chatid": chatid,
            "name": "Grid 1",
            "owner": "zhangwei",
            "userlist": ["zhangwei", "tsering"],
        }
    ]
    for body in (
        {"chatid": chatid, "msgtype": "textcard", "textcard": TEXTCARD},
        {"chatid": chatid, "msgtype": "markdown", "markdown": {"content": "**new** case"}},
    ):
        data = await post_json(client, "/wecom/cgi-bin/appchat/send", body, access_token=token)
        assert data["errcode"] == 0
    card, markdown = await (await client.get(f"/sim/api/wecom/groups/{chatid}/messages")).json()
    assert card["msgtype"] == "textcard"
    assert card["title"] == "Case 0007"
    assert card["url"] == TEXTCARD["url"]
    assert card["btntxt"] == "Open"
    assert markdown["content"] == "**new** case"
    newer = await (
        await client.get(f"/sim/api/wecom/groups/{chatid}/messages?after={card['seq']}")
    ).json()
    assert newer == [markdown]


async def test_group_errors(client: TestClient) -> None:
    token = await wecom_token(client)
    lonely = await post_json(
        client,
        "/wecom/cgi-bin/appchat/create",
        {"name": "Solo", "owner": "a", "userlist": ["a"]},
        access_token=token,
    )
    assert lonely["errcode"] == 86006
    unknown = await post_json(
        client,
        "/wecom/cgi-bin/appchat/send",
        {"chatid": "nope", "msgtype": "text", "text": {"content": "x"}},
        access_token=token,
    )
    assert unknown["errcode"] == 86003
    chatid = await _group(client, token)
    no_url = await post_json(
        client,
        "/wecom/cgi-bin/appchat/send",
        {"chatid": chatid, "msgtype": "textcard", "textcard": {**TEXTCARD, "url": ""}},
        access_token=token,
    )
    assert no_url["errcode"] == 40058
    assert "url" in no_url["errmsg"]


async def test_appchat_fault_switch(client: TestClient) -> None:
    token = await wecom_token(client)
    chatid = await _group(client, token)
    body = {"chatid": chatid, "msgtype": "text", "text": {"content": "x"}}
    await post_json(client, "/sim/api/faults", {"wecom_appchat": "error_500"})
    failed = await client.post(
        "/wecom/cgi-bin/appchat/send", json=body, params={"access_token": token}
    )
    assert failed.status == 500
    await post_json(client, "/sim/api/faults", {"wecom_appchat": "errcode_60011"})
    refused = await post_json(client, "/wecom/cgi-bin/appchat/send", body, access_token=token)
    assert refused["errcode"] == 60011
    await post_json(client, "/sim/api/faults", {"wecom_appchat": "ok"})
    ok = await post_json(client, "/wecom/cgi-bin/appchat/send", body, access_token=token)
    assert ok["errcode"] == 0
    assert len(await (await client.get(f"/sim/api/wecom/groups/{chatid}/messages")).json()) == 1


async def test_app_message_to_staff(client: TestClient) -> None:
    token = await wecom_token(client)
    body: dict[str, Any] = {
        "touser": "zhangwei|tsering",
        "msgtype": "text",
        "agentid": 1000002,
        "text": {"content": "case 7 is yours"},
    }
    data = await post_json(client, "/wecom/cgi-bin/message/send", body, access_token=token)
    assert data["errcode"] == 0
    assert data["invaliduser"] == ""
    for user in ("zhangwei", "tsering"):
        [message] = await (await client.get(f"/sim/api/wecom/users/{user}/messages")).json()
        assert message["direction"] == "from_app"
        assert message["content"] == "case 7 is yours"
    wrong_agent = await post_json(
        client, "/wecom/cgi-bin/message/send", {**body, "agentid": 1}, access_token=token
    )
    assert wrong_agent["errcode"] == 40056


async def test_robot_allows_20_per_minute(client: TestClient) -> None:
    body = {"msgtype": "text", "text": {"content": "fallback"}}
    codes = [
        (await post_json(client, "/wecom/cgi-bin/webhook/send", body, key="k1"))["errcode"]
        for _ in range(21)
    ]
    assert codes == [0] * 20 + [45009]
    other_key = await post_json(client, "/wecom/cgi-bin/webhook/send", body, key="k2")
    assert other_key["errcode"] == 0
    await post_json(client, "/sim/api/clock", {"advance_seconds": 61})
    again = await post_json(client, "/wecom/cgi-bin/webhook/send", body, key="k1")
    assert again["errcode"] == 0
    messages = await (await client.get("/sim/api/wecom/robot/messages")).json()
    assert len(messages) == 22
    assert messages[0]["key"] == "k1"
    missing_key = await post_json(client, "/wecom/cgi-bin/webhook/send", body)
    assert missing_key["errcode"] == 93000


async def test_staff_callback_round_trip(
    start_gateway: StartGateway, start_simulator: StartSimulator
) -> None:
    gateway = await start_gateway(reply=lambda msg: f"ok {msg.content}")
    client = await start_simulator(gateway)
    result = await post_json(
        client, "/sim/api/wecom/users/zhangwei/messages", {"content": "take 0007"}
    )
    assert result["delivered"] is True
    assert result["reply_error"] is None
    assert result["passive_reply"]["content"] == "ok take 0007"
    [received] = gateway.wecom_received
    assert set(received.query) == {"msg_signature", "timestamp", "nonce"}
    message = received.message
    assert message.type == "text"
    assert message.source == "zhangwei"
    assert message.target == CORP_ID
    assert int(message.agent) == 1000002
    assert message.content == "take 0007"
    sent, answer = await (await client.get("/sim/api/wecom/users/zhangwei/messages")).json()
    assert (sent["direction"], sent["content"]) == ("to_app", "take 0007")
    assert (answer["direction"], answer["channel"]) == ("from_app", "passive")


async def test_staff_callback_retries_after_timeout(
    start_gateway: StartGateway, start_simulator: StartSimulator
) -> None:
    gateway = await start_gateway(delays=[0.5], reply=lambda msg: None)
    client = await start_simulator(gateway, post_timeout_seconds=0.2)
    result = await post_json(client, "/sim/api/wecom/users/u1/messages", {"content": "help"})
    assert [a["status"] for a in result["attempts"]] == [None, 200]
    assert result["passive_reply"] is None
    assert len(gateway.wecom_received) == 2
