"""access_token semantics: /token rotates with a 5-minute overlap, stable_token stays put."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from simhelpers import APP_ID, APP_SECRET, CORP_ID, post_json, wechat_token

STABLE = {"grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET}


async def _custom_send_errcode(client: TestClient, token: str) -> int:
    """errcode of a call that only fails on the token (unknown openid → 40003 otherwise)."""
    data = await post_json(
        client,
        "/cgi-bin/message/custom/send",
        {"touser": "nobody", "msgtype": "text", "text": {"content": "x"}},
        access_token=token,
    )
    return int(data["errcode"])


async def _basic_token(client: TestClient) -> str:
    response = await client.get(
        "/cgi-bin/token",
        params={"grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET},
    )
    data = await response.json()
    assert data["expires_in"] == 7200
    return str(data["access_token"])


async def test_stable_token_returns_the_same_token_and_counts_one_refresh(
    client: TestClient,
) -> None:
    first = await post_json(client, "/cgi-bin/stable_token", STABLE)
    second = await post_json(client, "/cgi-bin/stable_token", STABLE)
    assert first["access_token"] == second["access_token"]
    assert 0 < second["expires_in"] <= 7200
    stats = await (await client.get("/sim/api/stats")).json()
    assert stats["token_refreshes"]["wechat_stable"] == 1
    assert stats["token_requests"]["wechat_stable"] == 2


async def test_stable_token_force_refresh_issues_a_new_one(client: TestClient) -> None:
    first = await post_json(client, "/cgi-bin/stable_token", STABLE)
    forced = await post_json(client, "/cgi-bin/stable_token", {**STABLE, "force_refresh": True})
    assert forced["access_token"] != first["access_token"]
    stats = await (await client.get("/sim/api/stats")).json()
    assert stats["token_refreshes"]["wechat_stable"] == 2


async def test_stable_token_renews_after_expiry(client: TestClient) -> None:
    first = await post_json(client, "/cgi-bin/stable_token", STABLE)
    await post_json(client, "/sim/api/clock", {"advance_seconds": 7201})
    assert await _custom_send_errcode(client, first["access_token"]) == 42001
    second = await post_json(client, "/cgi-bin/stable_token", STABLE)
    assert second["access_token"] != first["access_token"]
    assert await _custom_send_errcode(client, second["access_token"]) == 40003


async def test_basic_token_invalidates_the_previous_after_five_minutes(
    client: TestClient,
) -> None:
    old = await _basic_token(client)
    new = await _basic_token(client)
    assert old != new
    assert await _custom_send_errcode(client, old) == 40003  # still inside the overlap
    await post_json(client, "/sim/api/clock", {"advance_seconds": 301})
    assert await _custom_send_errcode(client, old) == 40001
    assert await _custom_send_errcode(client, new) == 40003


async def test_wrong_credentials_and_unknown_tokens(client: TestClient) -> None:
    wrong_secret = await post_json(client, "/cgi-bin/stable_token", {**STABLE, "secret": "x"})
    assert wrong_secret["errcode"] == 40125
    response = await client.get(
        "/cgi-bin/token",
        params={"grant_type": "client_credential", "appid": "wx-other", "secret": APP_SECRET},
    )
    assert (await response.json())["errcode"] == 40013
    assert await _custom_send_errcode(client, "made-up") == 40001
    data = await post_json(client, "/cgi-bin/message/custom/send", {})
    assert data["errcode"] == 41001


async def test_wecom_token_is_separate_from_wechat(client: TestClient) -> None:
    response = await client.get(
        "/wecom/cgi-bin/gettoken", params={"corpid": CORP_ID, "corpsecret": APP_SECRET}
    )
    data = await response.json()
    assert data["errcode"] == 0
    assert data["expires_in"] == 7200
    assert await _custom_send_errcode(client, data["access_token"]) == 40001
    wechat = await wechat_token(client)
    refused = await post_json(
        client, "/wecom/cgi-bin/appchat/send", {"chatid": "x"}, access_token=wechat
    )
    assert refused["errcode"] == 40014
    wrong = await client.get(
        "/wecom/cgi-bin/gettoken", params={"corpid": CORP_ID, "corpsecret": "nope"}
    )
    assert (await wrong.json())["errcode"] == 40001
