"""Parametric QR codes: scene rules, the permanent cap, the registry and the PNG."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from conftest import StartSimulator
from simhelpers import post_json, wechat_token


def _permanent(scene: str) -> dict[str, Any]:
    return {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": scene}}}


async def test_scene_str_is_1_to_64_characters(client: TestClient) -> None:
    token = await wechat_token(client)
    for scene, errcode in (("", 40097), ("s" * 65, 40097), ("s" * 64, 0)):
        data = await post_json(
            client, "/cgi-bin/qrcode/create", _permanent(scene), access_token=token
        )
        assert data["errcode" if errcode else "ticket"] == (errcode or data["ticket"])


async def test_permanent_cap(start_simulator: StartSimulator) -> None:
    client = await start_simulator(permanent_qr_limit=2)
    token = await wechat_token(client)
    first = await post_json(
        client, "/cgi-bin/qrcode/create", _permanent("report:GP-001"), access_token=token
    )
    second = await post_json(
        client, "/cgi-bin/qrcode/create", _permanent("report:GP-002"), access_token=token
    )
    assert "expire_seconds" not in first
    third = await post_json(
        client, "/cgi-bin/qrcode/create", _permanent("report:GP-003"), access_token=token
    )
    assert third["errcode"] == 45029
    again = await post_json(
        client, "/cgi-bin/qrcode/create", _permanent("report:GP-001"), access_token=token
    )
    assert again["ticket"] == first["ticket"]
    assert second["ticket"] != first["ticket"]


async def test_temporary_codes_expire(client: TestClient) -> None:
    token = await wechat_token(client)
    too_long = {
        "expire_seconds": 2_592_001,
        "action_name": "QR_STR_SCENE",
        "action_info": {"scene": {"scene_str": "staff:G1"}},
    }
    data = await post_json(client, "/cgi-bin/qrcode/create", too_long, access_token=token)
    assert data["errcode"] == 40097
    temporary = {**too_long, "expire_seconds": 600}
    created = await post_json(client, "/cgi-bin/qrcode/create", temporary, access_token=token)
    assert created["expire_seconds"] == 600
    assert created["url"].startswith("http://weixin.qq.com/q/")
    codes = await (await client.get("/sim/api/qrcodes")).json()
    assert [(c["scene"], c["permanent"]) for c in codes] == [("staff:G1", False)]
    await post_json(client, "/sim/api/clock", {"advance_seconds": 601})
    assert await (await client.get("/sim/api/qrcodes")).json() == []
    image = await client.get("/cgi-bin/showqrcode", params={"ticket": created["ticket"]})
    assert image.status == 404


async def test_showqrcode_returns_a_png_and_the_registry_lists_it(client: TestClient) -> None:
    token = await wechat_token(client)
    created = await post_json(
        client, "/cgi-bin/qrcode/create", _permanent("policy:C1"), access_token=token
    )
    [listed] = await (await client.get("/sim/api/qrcodes")).json()
    assert listed["ticket"] == created["ticket"]
    assert listed["scene"] == "policy:C1"
    assert listed["permanent"] is True
    image = await client.session.get(listed["image_url"])  # absolute URL, served by us
    assert image.content_type == "image/png"
    assert (await image.read()).startswith(b"\x89PNG")


async def test_integer_scenes(client: TestClient) -> None:
    token = await wechat_token(client)
    body = {"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 100_001}}}
    data = await post_json(client, "/cgi-bin/qrcode/create", body, access_token=token)
    assert data["errcode"] == 40097
    body["action_info"] = {"scene": {"scene_id": 7}}
    data = await post_json(client, "/cgi-bin/qrcode/create", body, access_token=token)
    assert "ticket" in data
    [listed] = await (await client.get("/sim/api/qrcodes")).json()
    assert listed["scene"] == "7"
