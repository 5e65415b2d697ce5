"""Customer-service messages: 5 within 48 h of a user message, 3 within a minute of an event."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from simhelpers import post_json, wechat_token


async def _send(client: TestClient, token: str, openid: str, text: str = "hi") -> int:
    data: dict[str, Any] = await post_json(
        client,
        "/cgi-bin/message/custom/send",
        {"touser": openid, "msgtype": "text", "text": {"content": text}},
        access_token=token,
    )
    return int(data["errcode"])


async def _message(client: TestClient, openid: str) -> None:
    await post_json(
        client, f"/sim/api/residents/{openid}/messages", {"type": "text", "content": "x"}
    )


async def test_five_messages_per_window_then_45015(client: TestClient) -> None:
    token = await wechat_token(client)
    await _message(client, "o-res")
    results = [await _send(client, token, "o-res", f"m{i}") for i in range(6)]
    assert results == [0, 0, 0, 0, 0, 45015]
    inbox = await (await client.get("/sim/api/residents/o-res/inbox")).json()
    assert [m["content"] for m in inbox] == ["m0", "m1", "m2", "m3", "m4"]
    assert {m["channel"] for m in inbox} == {"custom"}
    stats = await (await client.get("/sim/api/stats")).json()
    assert stats["custom_send"] == {"accepted": 5, "refused": 1}


async def test_a_new_user_message_resets_the_quota(client: TestClient) -> None:
    token = await wechat_token(client)
    await _message(client, "o-res")
    for _ in range(5):
        assert await _send(client, token, "o-res") == 0
    assert await _send(client, token, "o-res") == 45015
    await _message(client, "o-res")
    assert await _send(client, token, "o-res") == 0


async def test_window_closes_after_48_hours(client: TestClient) -> None:
    await _message(client, "o-res")
    await post_json(client, "/sim/api/clock", {"advance_seconds": 47 * 3600})
    token = await wechat_token(client)  # tokens live 2 hours: fetch one after the jump
    assert await _send(client, token, "o-res") == 0
    await post_json(client, "/sim/api/clock", {"advance_seconds": 3600 + 1})
    assert await _send(client, token, "o-res") == 45015


async def test_menu_click_allows_three_within_a_minute(client: TestClient) -> None:
    token = await wechat_token(client)
    await post_json(client, "/sim/api/residents", {"openid": "o-new"})
    assert await _send(client, token, "o-new") == 45015
    await post_json(
        client,
        "/sim/api/residents/o-new/messages",
        {"type": "event", "event": "CLICK", "key": "m"},
    )
    assert [await _send(client, token, "o-new") for _ in range(4)] == [0, 0, 0, 45015]
    await post_json(
        client,
        "/sim/api/residents/o-new/messages",
        {"type": "event", "event": "CLICK", "key": "m"},
    )
    await post_json(client, "/sim/api/clock", {"advance_seconds": 61})
    assert await _send(client, token, "o-new") == 45015


async def test_unknown_openid_unsubscribed_and_bad_bodies(client: TestClient) -> None:
    token = await wechat_token(client)
    assert await _send(client, token, "o-ghost") == 40003
    await _message(client, "o-res")
    await post_json(
        client, "/sim/api/residents/o-res/messages", {"type": "event", "event": "unsubscribe"}
    )
    assert await _send(client, token, "o-res") == 43004
    await _message(client, "o-res")
    empty = await post_json(
        client,
        "/cgi-bin/message/custom/send",
        {"touser": "o-res", "msgtype": "text", "text": {"content": ""}},
        access_token=token,
    )
    assert empty["errcode"] == 44004
    unknown_type = await post_json(
        client,
        "/cgi-bin/message/custom/send",
        {"touser": "o-res", "msgtype": "hologram", "hologram": {}},
        access_token=token,
    )
    assert unknown_type["errcode"] == 40008


async def test_news_and_msgmenu_reach_the_inbox(client: TestClient) -> None:
    token = await wechat_token(client)
    await _message(client, "o-res")
    news = {
        "touser": "o-res",
        "msgtype": "news",
        "news": {"articles": [{"title": "T", "description": "D", "url": "http://x/1"}]},
    }
    menu = {
        "touser": "o-res",
        "msgtype": "msgmenu",
        "msgmenu": {"head_content": "pick", "list": [{"id": "1", "content": "yes"}]},
    }
    for body in (news, menu):
        data = await post_json(client, "/cgi-bin/message/custom/send", body, access_token=token)
        assert data["errcode"] == 0
    inbox = await (await client.get("/sim/api/residents/o-res/inbox")).json()
    assert inbox[0]["msgtype"] == "news"
    assert inbox[0]["url"] == "http://x/1"
    assert inbox[1]["menu"] == [{"id": "1", "content": "yes"}]
    later = await (
        await client.get(f"/sim/api/residents/o-res/inbox?after={inbox[0]['seq']}")
    ).json()
    assert [m["seq"] for m in later] == [inbox[1]["seq"]]
