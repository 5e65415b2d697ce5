"""Follower state: a first QR scan subscribes with qrscene_, later scans send SCAN."""

from __future__ import annotations

from conftest import StartGateway, StartSimulator
from simhelpers import post_json, wechat_token


async def test_first_scan_subscribes_then_scan_events(
    start_gateway: StartGateway, start_simulator: StartSimulator
) -> None:
    gateway = await start_gateway(reply=lambda msg: None)
    client = await start_simulator(gateway)
    resident = await post_json(client, "/sim/api/residents", {"nickname": "Tsering"})
    openid = resident["openid"]
    assert openid.startswith("o")
    assert resident["following"] is False
    first = await post_json(
        client, f"/sim/api/residents/{openid}/scan", {"scene": "report:GP-001"}
    )
    assert first["event"] == "subscribe"
    assert first["event_key"] == "qrscene_report:GP-001"
    second = await post_json(
        client, f"/sim/api/residents/{openid}/scan", {"scene": "report:GP-002"}
    )
    assert second["event"] == "SCAN"
    subscribe, scan = (r.message for r in gateway.received)
    assert subscribe.event == "subscribe_scan"  # wechatpy's name for subscribe + qrscene_
    assert subscribe.scene_id == "report:GP-001"
    assert subscribe.ticket
    assert scan.event == "scan"
    assert scan.scene_id == "report:GP-002"
    assert int(scan.time) > int(subscribe.time)  # events never share a CreateTime
    [listed] = await (await client.get("/sim/api/residents")).json()
    assert listed["following"] is True


async def test_unsubscribe_then_scan_subscribes_again(
    start_gateway: StartGateway, start_simulator: StartSimulator
) -> None:
    gateway = await start_gateway(reply=lambda msg: None)
    client = await start_simulator(gateway)
    await post_json(client, "/sim/api/residents", {"openid": "o-r", "following": True})
    await post_json(
        client, "/sim/api/residents/o-r/messages", {"type": "event", "event": "unsubscribe"}
    )
    resident = await (await client.get("/sim/api/residents/o-r")).json()
    assert resident["following"] is False
    result = await post_json(client, "/sim/api/residents/o-r/scan", {"scene": "staff:G1"})
    assert result["event"] == "subscribe"


async def test_scan_a_registered_ticket(
    start_gateway: StartGateway, start_simulator: StartSimulator
) -> None:
    gateway = await start_gateway(reply=lambda msg: None)
    client = await start_simulator(gateway)
    token = await wechat_token(client)
    created = await post_json(
        client,
        "/cgi-bin/qrcode/create",
        {
            "action_name": "QR_LIMIT_STR_SCENE",
            "action_info": {"scene": {"scene_str": "policy:C1"}},
        },
        access_token=token,
    )
    result = await post_json(client, "/sim/api/residents/o-r/scan", {"ticket": created["ticket"]})
    assert result["event_key"] == "qrscene_policy:C1"
    assert gateway.received[0].message.ticket == created["ticket"]
    unknown = await client.post("/sim/api/residents/o-r/scan", json={"ticket": "nope"})
    assert unknown.status == 404


async def test_a_text_message_implies_following(start_simulator: StartSimulator) -> None:
    client = await start_simulator()
    await post_json(client, "/sim/api/residents/o-r/messages", {"type": "text", "content": "hi"})
    resident = await (await client.get("/sim/api/residents/o-r")).json()
    assert resident["following"] is True
    assert resident["last_active_at"] is not None
