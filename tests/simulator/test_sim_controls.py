"""Fault injection, the virtual clock, reset, long-polling, configuration and the page."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient
from conftest import StartSimulator
from simhelpers import post_json, wechat_token

from simulator.config import SimulatorConfig

CUSTOM = {"touser": "o-r", "msgtype": "text", "text": {"content": "x"}}


async def test_wechat_faults_until_reset(start_simulator: StartSimulator) -> None:
    client = await start_simulator(fault_timeout_seconds=0.05)
    token = await wechat_token(client)
    await post_json(client, "/sim/api/residents/o-r/messages", {"type": "text", "content": "x"})
    path = "/cgi-bin/message/custom/send"
    params = {"access_token": token}
    await post_json(client, "/sim/api/faults", {"wechat_api": "error_500"})
    assert (await client.post(path, json=CUSTOM, params=params)).status == 500
    assert (await client.post(path, json=CUSTOM, params=params)).status == 500
    await post_json(client, "/sim/api/faults", {"wechat_api": "timeout"})
    assert (await client.post(path, json=CUSTOM, params=params)).status == 504
    await post_json(client, "/sim/api/faults", {"wechat_api": "errcode_45009"})
    assert (await post_json(client, path, CUSTOM, access_token=token))["errcode"] == 45009
    # token endpoints stay up, so a bot can still refresh during an outage
    assert await wechat_token(client) == token
    await post_json(client, "/sim/api/reset", {})
    await post_json(client, "/sim/api/residents/o-r/messages", {"type": "text", "content": "x"})
    token = await wechat_token(client)
    assert (await post_json(client, path, CUSTOM, access_token=token))["errcode"] == 0


async def test_fault_limited_to_n_calls(client: TestClient) -> None:
    token = await wechat_token(client)
    await post_json(client, "/sim/api/residents/o-r/messages", {"type": "text", "content": "x"})
    faults = await post_json(
        client, "/sim/api/faults", {"wechat_api": "errcode_40001", "times": {"wechat_api": 1}}
    )
    assert faults["faults"]["wechat_api"] == "errcode_40001"
    path = "/cgi-bin/message/custom/send"
    assert (await post_json(client, path, CUSTOM, access_token=token))["errcode"] == 40001
    assert (await post_json(client, path, CUSTOM, access_token=token))["errcode"] == 0
    stats = await (await client.get("/sim/api/stats")).json()
    assert stats["counters"]["fault_wechat_api"] == 1


async def test_bad_fault_requests(client: TestClient) -> None:
    assert (await client.post("/sim/api/faults", json={"wechat_api": "explode"})).status == 400
    assert (await client.post("/sim/api/faults", json={"printer": "ok"})).status == 400


async def test_reset_clears_state_but_seq_keeps_growing(client: TestClient) -> None:
    await post_json(client, "/sim/api/residents/o-r/messages", {"type": "text", "content": "x"})
    await post_json(client, "/sim/api/clock", {"advance_seconds": 3600})
    before = (await (await client.get("/sim/api/info")).json())["seq"]
    reset = await post_json(client, "/sim/api/reset", {})
    assert reset["seq"] > before
    assert await (await client.get("/sim/api/residents")).json() == []
    info = await (await client.get("/sim/api/info")).json()
    assert info["clock_offset_seconds"] == 0


async def test_wait_returns_when_something_arrives(client: TestClient) -> None:
    seq = (await (await client.get("/sim/api/info")).json())["seq"]
    idle = await (await client.get("/sim/api/wait", params={"after": seq, "timeout": 0.05})).json()
    assert idle["seq"] == seq
    waiter = asyncio.ensure_future(
        client.get("/sim/api/wait", params={"after": seq, "timeout": 10})
    )
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await post_json(client, "/sim/api/residents", {"openid": "o-new"})
    woken = await (await asyncio.wait_for(waiter, 5)).json()
    assert woken["seq"] > seq


async def test_chat_merges_both_directions(client: TestClient) -> None:
    await post_json(
        client, "/sim/api/residents/o-r/messages", {"type": "text", "content": "hello"}
    )
    token = await wechat_token(client)
    await post_json(client, "/cgi-bin/message/custom/send", CUSTOM, access_token=token)
    chat = await (await client.get("/sim/api/residents/o-r/chat")).json()
    assert [(m["channel"], m.get("direction")) for m in chat] == [
        ("resident", "out"),
        ("custom", None),
    ]
    missing = await client.get("/sim/api/residents/o-missing/inbox")
    assert missing.status == 404


def test_config_reads_the_bot_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WECHAT__TOKEN", "env-token")
    monkeypatch.setenv("WECHAT__AES_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
    monkeypatch.setenv("WECHAT__API_BASE_URL", "http://ignored")
    monkeypatch.setenv("WECOM__AGENT_ID", "42")
    monkeypatch.setenv("PORT", "8080")  # the bot's port must not leak into ours
    monkeypatch.setenv("SIMULATOR__PORT", "9999")
    monkeypatch.setenv("SIMULATOR__GATEWAY_URL", "http://gw/wechat")
    config = SimulatorConfig(_env_file=None)  # type: ignore[call-arg]
    assert config.wechat.token == "env-token"
    assert config.safe_mode is True
    assert config.wecom.agent_id == 42
    assert config.port == 9999
    assert config.gateway_url == "http://gw/wechat"


def test_config_defaults_and_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WECHAT__AES_KEY", "WECHAT__TOKEN", "SIMULATOR__PORT"):
        monkeypatch.delenv(name, raising=False)
    config = SimulatorConfig(_env_file=None, post_timeout_seconds=0.5)  # type: ignore[call-arg]
    assert (config.host, config.port, config.post_attempts) == ("127.0.0.1", 8081, 3)
    assert config.post_timeout_seconds == 0.5
    assert config.wecom.corp_id == "ww-dev-corp"
    assert config.safe_mode is False
    with pytest.raises(ValueError, match="43"):
        SimulatorConfig(_env_file=None, wechat={"aes_key": "short"})  # type: ignore[call-arg]


async def test_page_and_static_files(client: TestClient) -> None:
    page = await client.get("/")
    assert page.status == 200
    html = await page.text()
    assert "/static/app.js" in html
    assert "demo-data" in html
    css = await (await client.get("/static/app.css")).text()
    assert "Noto Sans Tibetan" in css
    script = await (await client.get("/static/app.js")).text()
    assert "innerHTML" not in script
