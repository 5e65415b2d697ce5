"""Simulator → echo gateway built from security/inbound/outbound → sealed passive reply back."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from bot.messages import EventKind, MessageKind

Control = TestClient[Any, Any]
OPENID = "oResident0001"


async def post(control: Control, path: str, body: dict[str, Any]) -> Any:
    response = await control.post(f"/sim/api/{path}", json=body)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_safe_mode_text_gets_an_encrypted_passive_reply(
    start_simulator: Any, aiohttp_client: Any, echo_gateway: Any, accounts: Any
) -> None:
    control = await aiohttp_client(await start_simulator(safe_mode=True))
    text = "路灯坏了 བཀྲ་ཤིས་བདེ་ལེགས།"
    report = await post(control, f"residents/{OPENID}/messages", {"type": "text", "content": text})
    assert report["reply_error"] is None
    assert report["passive_reply"]["content"] == f"echo: {text}"
    [message] = echo_gateway.received
    assert (message.kind, message.text, message.user_id) == (MessageKind.TEXT, text, OPENID)
    assert message.account_id == accounts.original_id
    assert echo_gateway.rejections == []


async def test_plaintext_mode_round_trip(
    start_simulator: Any, aiohttp_client: Any, echo_gateway: Any
) -> None:
    control = await aiohttp_client(await start_simulator(safe_mode=False))
    report = await post(
        control, f"residents/{OPENID}/messages", {"type": "text", "content": "你好"}
    )
    assert report["passive_reply"]["content"] == "echo: 你好"


async def test_qr_subscribe_arrives_as_scene(
    start_simulator: Any, aiohttp_client: Any, echo_gateway: Any
) -> None:
    control = await aiohttp_client(await start_simulator(safe_mode=True))
    report = await post(control, f"residents/{OPENID}/scan", {"scene": "report:gp-0042"})
    assert report["delivered"]
    assert report["passive_reply"] is None  # "success" = no reply
    [message] = echo_gateway.received
    assert (message.event, message.event_key) == (EventKind.SUBSCRIBE, "report:gp-0042")


async def test_platform_retry_is_recognised_as_a_resend(
    start_simulator: Any, aiohttp_client: Any, echo_gateway: Any
) -> None:
    control = await aiohttp_client(await start_simulator(safe_mode=True))
    echo_gateway.fail_next = 1
    report = await post(
        control, f"residents/{OPENID}/messages", {"type": "text", "content": "再试"}
    )
    assert [attempt["status"] for attempt in report["attempts"]] == [503, 200]
    assert echo_gateway.resends == 1
    first, second = echo_gateway.received
    assert first.dedup_key == second.dedup_key
    assert report["passive_reply"]["content"] == "echo: 再试"


async def test_wecom_staff_message_round_trip(
    start_simulator: Any, aiohttp_client: Any, echo_gateway: Any, accounts: Any
) -> None:
    control = await aiohttp_client(await start_simulator())
    report = await post(control, "wecom/users/zhaxi/messages", {"content": "接单 MQ-0042"})
    assert report["reply_error"] is None
    assert report["passive_reply"]["content"] == "echo: 接单 MQ-0042"
    [message] = echo_gateway.received
    assert (message.user_id, message.account_id) == ("zhaxi", accounts.corp_id)
    assert message.extra == {"AgentID": str(accounts.agent_id)}
