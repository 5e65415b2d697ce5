"""The async WeChat/WeCom clients against the simulator's API app (no other fake)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.kv import MemoryKeyValueStore
from bot.wechat.api_client import (
    WeChatApiClient,
    WeChatApiError,
    WeComApiClient,
    mask_secrets,
)
from governance.clock import ManualClock

# Must match the simulator configuration in conftest.py (checked by test_accounts_match).
APP_ID = "wx-test-appid"
APP_SECRET = "test-app-secret-value"
CORP_ID = "ww-test-corp"
CORP_SECRET = "test-corp-secret-value"
AGENT_ID = 1000002

OPENID = "oResident0001"
Control = TestClient[Any, Any]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2024, 5, 1, 8, 0, tzinfo=UTC))


@pytest.fixture
def cache(clock: ManualClock) -> MemoryKeyValueStore:
    return MemoryKeyValueStore(clock)


def wechat_client(
    simulator: TestServer,
    cache: MemoryKeyValueStore,
    clock: ManualClock,
    *,
    timeout_seconds: float = 5.0,
    base_url: str | None = None,
) -> WeChatApiClient:
    return WeChatApiClient(
        session_factory=aiohttp.ClientSession,
        base_url=base_url or str(simulator.make_url("")),
        app_id=APP_ID,
        app_secret=APP_SECRET,
        cache=cache,
        clock=clock,
        timeout_seconds=timeout_seconds,
    )


@pytest.fixture
async def client(
    simulator: TestServer, cache: MemoryKeyValueStore, clock: ManualClock
) -> AsyncIterator[WeChatApiClient]:
    api = wechat_client(simulator, cache, clock)
    yield api
    await api.close()


@pytest.fixture
async def wecom(
    simulator: TestServer, cache: MemoryKeyValueStore, clock: ManualClock
) -> AsyncIterator[WeComApiClient]:
    api = WeComApiClient(
        session_factory=aiohttp.ClientSession,
        base_url=str(simulator.make_url("/wecom")),
        corp_id=CORP_ID,
        corp_secret=CORP_SECRET,
        agent_id=AGENT_ID,
        cache=cache,
        clock=clock,
    )
    yield api
    await api.close()


async def sim_get(control: Control, path: str) -> Any:
    response = await control.get(f"/sim/api/{path}")
    assert response.status == 200, await response.text()
    return await response.json()


async def sim_post(control: Control, path: str, body: dict[str, Any] | None = None) -> Any:
    response = await control.post(f"/sim/api/{path}", json=body or {})
    assert response.status == 200, await response.text()
    return await response.json()


async def resident_writes(control: Control, text: str = "你好") -> None:
    """The resident messages the account: opens the 48-hour customer-service window."""
    await sim_post(control, "residents", {"openid": OPENID, "following": True})
    report = await sim_post(
        control, f"residents/{OPENID}/messages", {"type": "text", "content": text}
    )
    assert report["delivered"], report


async def token_stats(control: Control) -> tuple[int, int]:
    stats = await sim_get(control, "stats")
    return stats["token_requests"]["wechat_stable"], stats["token_refreshes"]["wechat_stable"]


def test_accounts_match(accounts: Any) -> None:
    configured = (
        accounts.app_id,
        accounts.app_secret,
        accounts.corp_id,
        accounts.corp_secret,
        accounts.agent_id,
    )
    assert configured == (APP_ID, APP_SECRET, CORP_ID, CORP_SECRET, AGENT_ID)


# -- access tokens -----------------------------------------------------------------------------


async def test_token_is_cached_and_reused(
    client: WeChatApiClient, control: Control, cache: MemoryKeyValueStore
) -> None:
    first = await client.access_token()
    assert await client.access_token() == first
    await resident_writes(control)
    await client.send_custom_text(OPENID, "收到")
    assert await token_stats(control) == (1, 1)
    assert await cache.get(f"wechat:token:{APP_ID}") == first


async def test_cached_token_expires_five_minutes_early(
    client: WeChatApiClient, control: Control, clock: ManualClock
) -> None:
    first = await client.access_token()
    clock.advance(timedelta(seconds=7200 - 300 - 1))
    assert await client.access_token() == first
    clock.advance(timedelta(seconds=2))
    await client.access_token()  # the cache entry lapsed: asks again (stable token: same one)
    assert (await token_stats(control))[0] == 2


async def test_concurrent_clients_sharing_a_cache_refresh_once(
    simulator: TestServer, control: Control, cache: MemoryKeyValueStore, clock: ManualClock
) -> None:
    first, second = wechat_client(simulator, cache, clock), wechat_client(simulator, cache, clock)
    try:
        tokens = await asyncio.gather(
            *(api.access_token() for api in (first, second) for _ in range(5))
        )
    finally:
        await first.close()
        await second.close()
    assert len(set(tokens)) == 1
    assert await token_stats(control) == (1, 1)


async def test_stale_token_is_refreshed_once_and_the_call_retried(
    client: WeChatApiClient, control: Control, cache: MemoryKeyValueStore
) -> None:
    await cache.set(f"wechat:token:{APP_ID}", "token-from-yesterday", 3600)
    await resident_writes(control)
    await client.send_custom_text(OPENID, "收到")  # 40001 → force refresh → retry succeeds
    fresh = await cache.get(f"wechat:token:{APP_ID}")
    assert fresh not in (None, "token-from-yesterday")
    assert await token_stats(control) == (1, 1)
    inbox = await sim_get(control, f"residents/{OPENID}/inbox")
    assert [entry["content"] for entry in inbox if entry["channel"] == "custom"] == ["收到"]


async def test_40001_fault_forces_a_refresh(client: WeChatApiClient, control: Control) -> None:
    await resident_writes(control)
    before = await client.access_token()
    await sim_post(control, "faults", {"wechat_api": "errcode_40001", "times": {"wechat_api": 1}})
    await client.send_custom_text(OPENID, "第二次")
    assert await client.access_token() != before  # force_refresh issued a new stable token
    assert await token_stats(control) == (2, 2)


async def test_persistent_40001_is_raised_after_one_retry(
    client: WeChatApiClient, control: Control
) -> None:
    await resident_writes(control)
    await client.access_token()
    await sim_post(control, "faults", {"wechat_api": "errcode_40001", "times": {"wechat_api": 2}})
    with pytest.raises(WeChatApiError) as caught:
        await client.send_custom_text(OPENID, "x")
    assert caught.value.errcode == 40001
    assert (await token_stats(control))[0] == 2


async def test_wrong_secret_is_not_retryable(
    simulator: TestServer, cache: MemoryKeyValueStore, clock: ManualClock
) -> None:
    api = WeChatApiClient(
        session_factory=aiohttp.ClientSession,
        base_url=str(simulator.make_url("")),
        app_id=APP_ID,
        app_secret="not-the-secret",
        cache=cache,
        clock=clock,
    )
    try:
        with pytest.raises(WeChatApiError) as caught:
            await api.access_token()
    finally:
        await api.close()
    assert (caught.value.errcode, caught.value.retryable) == (40125, False)
    assert "not-the-secret" not in str(caught.value)


# -- customer-service and template messages ---------------------------------------------------


async def test_custom_send_then_45015_after_the_window(
    client: WeChatApiClient, control: Control
) -> None:
    await resident_writes(control)
    await client.send_custom_text(OPENID, "您的诉求已受理 ཐུགས་རྗེ་ཆེ།")
    await sim_post(control, "clock", {"advance_seconds": 49 * 3600})
    with pytest.raises(WeChatApiError) as caught:
        await client.send_custom_text(OPENID, "进度更新")
    assert (caught.value.errcode, caught.value.retryable) == (45015, False)
    inbox = await sim_get(control, f"residents/{OPENID}/inbox")
    custom = [entry["content"] for entry in inbox if entry["channel"] == "custom"]
    assert custom == ["您的诉求已受理 ཐུགས་རྗེ་ཆེ།"]


async def test_five_messages_per_window(client: WeChatApiClient, control: Control) -> None:
    await resident_writes(control)
    for number in range(5):
        await client.send_custom_text(OPENID, f"第{number}条")
    with pytest.raises(WeChatApiError) as caught:
        await client.send_custom_text(OPENID, "第六条")
    assert caught.value.errcode == 45015


async def test_unknown_openid_is_40003(client: WeChatApiClient) -> None:
    with pytest.raises(WeChatApiError) as caught:
        await client.send_custom_text("oNobody", "x")
    assert (caught.value.errcode, caught.value.retryable) == (40003, False)


async def test_template_with_client_msg_id_is_idempotent(
    client: WeChatApiClient, control: Control
) -> None:
    await sim_post(control, "residents", {"openid": OPENID, "following": True})
    data = {"thing1": "路灯维修", "phrase2": "已办结", "time3": "2024-05-01 16:00"}
    first = await client.send_template(
        OPENID, "status-template", data, url="https://example.org/s/abc", client_msg_id="p42-v3"
    )
    again = await client.send_template(
        OPENID, "status-template", data, url="https://example.org/s/abc", client_msg_id="p42-v3"
    )
    assert first == again
    stats = await sim_get(control, "stats")
    assert stats["template_send"] == {"accepted": 1, "duplicates": 1, "rejected": 0}
    inbox = await sim_get(control, f"residents/{OPENID}/inbox")
    [template] = [entry for entry in inbox if entry["channel"] == "template"]
    assert template["fields"] == data
    assert template["url"] == "https://example.org/s/abc"


async def test_template_field_too_long_is_47003(client: WeChatApiClient, control: Control) -> None:
    await sim_post(control, "residents", {"openid": OPENID, "following": True})
    with pytest.raises(WeChatApiError) as caught:
        await client.send_template(
            OPENID, "status-template", {"thing1": "长" * 21}, url=None, client_msg_id="x1"
        )
    assert (caught.value.errcode, caught.value.retryable) == (47003, False)


# -- media and QR codes ------------------------------------------------------------------------


async def test_media_round_trip(client: WeChatApiClient) -> None:
    audio = b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 8
    media_id = await client.upload_media("voice", "reply.mp3", audio)
    content, content_type = await client.download_media(media_id)
    assert (content, content_type) == (audio, "audio/mpeg")


async def test_expired_media_is_40007(client: WeChatApiClient, control: Control) -> None:
    media_id = await client.upload_media("image", "a.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    await sim_post(control, "clock", {"advance_seconds": 3 * 24 * 3600 + 1})
    with pytest.raises(WeChatApiError) as caught:
        await client.download_media(media_id)
    assert (caught.value.errcode, caught.value.retryable) == (40007, False)


async def test_custom_voice_and_image(client: WeChatApiClient, control: Control) -> None:
    await resident_writes(control)
    voice = await client.upload_media("voice", "r.mp3", b"ID3" + b"\0" * 128)
    image = await client.upload_media("image", "p.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    await client.send_custom_voice(OPENID, voice)
    await client.send_custom_image(OPENID, image)
    inbox = await sim_get(control, f"residents/{OPENID}/inbox")
    sent = [(e["msgtype"], e["media_id"]) for e in inbox if e["channel"] == "custom"]
    assert sent == [("voice", voice), ("image", image)]


async def test_create_qrcode_and_fetch_its_picture(
    client: WeChatApiClient, control: Control
) -> None:
    ticket, url = await client.create_qrcode("report:gp-0042")
    assert url.startswith("http")
    temporary, _ = await client.create_qrcode("policy:c-7", permanent=False, expire_seconds=600)
    async with (
        aiohttp.ClientSession() as session,
        session.get(client.qrcode_image_url(ticket)) as response,
    ):
        assert response.status == 200
        assert response.content_type == "image/png"
        assert (await response.read()).startswith(b"\x89PNG")
    codes = await sim_get(control, "qrcodes")
    assert {code["ticket"] for code in codes} >= {ticket, temporary}


async def test_qrcode_scene_length_is_checked_locally(client: WeChatApiClient) -> None:
    with pytest.raises(ValueError, match="1-64"):
        await client.create_qrcode("x" * 65)


# -- failures ----------------------------------------------------------------------------------


async def test_5xx_fault_is_a_retryable_error(client: WeChatApiClient, control: Control) -> None:
    await resident_writes(control)
    token = await client.access_token()
    await sim_post(control, "faults", {"wechat_api": "error_500", "times": {"wechat_api": 1}})
    with pytest.raises(WeChatApiError) as caught:
        await client.send_custom_text(OPENID, "x")
    assert (caught.value.errcode, caught.value.retryable) == (-1, True)
    assert token not in str(caught.value)
    await client.send_custom_text(OPENID, "x")  # the fault was for one call only


async def test_frequency_limit_is_retryable(client: WeChatApiClient, control: Control) -> None:
    await sim_post(control, "faults", {"wechat_api": "errcode_45009", "times": {"wechat_api": 1}})
    with pytest.raises(WeChatApiError) as caught:
        await client.create_qrcode("report:gp-1")
    assert (caught.value.errcode, caught.value.retryable) == (45009, True)


async def test_timeout_is_a_retryable_error(
    simulator: TestServer, control: Control, cache: MemoryKeyValueStore, clock: ManualClock
) -> None:
    api = wechat_client(simulator, cache, clock, timeout_seconds=0.3)
    try:
        await api.access_token()
        await sim_post(control, "faults", {"wechat_api": "timeout", "times": {"wechat_api": 1}})
        with pytest.raises(WeChatApiError) as caught:
            await api.create_qrcode("report:gp-2")
    finally:
        await api.close()
    assert (caught.value.errcode, caught.value.retryable) == (-1, True)


async def test_network_errors_never_show_the_token(
    cache: MemoryKeyValueStore, clock: ManualClock, unused_tcp_port: int
) -> None:
    await cache.set(f"wechat:token:{APP_ID}", "SECRET-TOKEN-VALUE", 3600)
    api = WeChatApiClient(
        session_factory=aiohttp.ClientSession,
        base_url=f"http://127.0.0.1:{unused_tcp_port}",
        app_id=APP_ID,
        app_secret=APP_SECRET,
        cache=cache,
        clock=clock,
        timeout_seconds=1.0,
    )
    try:
        with pytest.raises(WeChatApiError) as caught:
            await api.send_custom_text(OPENID, "x")
    finally:
        await api.close()
    assert caught.value.retryable
    assert "SECRET-TOKEN-VALUE" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__  # the aiohttp error (with the URL) is not chained


def test_mask_secrets() -> None:
    url = "https://api/cgi-bin/x?access_token=abc.DEF-1&media_id=m&corpsecret=s3&key=k9"
    assert mask_secrets(url) == (
        "https://api/cgi-bin/x?access_token=***&media_id=m&corpsecret=***&key=***"
    )


def test_qrcode_image_url_base_is_configurable(
    cache: MemoryKeyValueStore, clock: ManualClock
) -> None:
    api = WeChatApiClient(
        session_factory=aiohttp.ClientSession,
        base_url="https://api.weixin.qq.com",
        app_id=APP_ID,
        app_secret=APP_SECRET,
        cache=cache,
        clock=clock,
        qrcode_base_url="https://mp.weixin.qq.com",
    )
    assert api.qrcode_image_url("gQ/8+x==") == (
        "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=gQ%2F8%2Bx%3D%3D"
    )


async def test_a_passed_in_session_is_shared_and_left_open(
    simulator: TestServer, cache: MemoryKeyValueStore, clock: ManualClock
) -> None:
    async with aiohttp.ClientSession() as session:
        api = WeChatApiClient(
            session_factory=session,
            base_url=str(simulator.make_url("")),
            app_id=APP_ID,
            app_secret=APP_SECRET,
            cache=cache,
            clock=clock,
        )
        await api.access_token()
        await api.close()
        assert not session.closed


# -- WeCom -------------------------------------------------------------------------------------


async def test_wecom_appchat_create_and_send(
    wecom: WeComApiClient, control: Control, cache: MemoryKeyValueStore
) -> None:
    chatid = await wecom.create_appchat(
        name="城关区八廓街道处置群", owner="zhaxi", userlist=["zhaxi", "yangjin"], chatid="grid07"
    )
    assert chatid == "grid07"
    card = {
        "title": "新诉求 MQ-0042",
        "description": "路灯损坏 · 八廓街",
        "url": "https://example.org/console/petitions/42",
        "btntxt": "处理",
    }
    await wecom.send_appchat(chatid, {"msgtype": "textcard", "textcard": card})
    messages = await sim_get(control, f"wecom/groups/{chatid}/messages")
    assert [(m["msgtype"], m["title"]) for m in messages] == [("textcard", "新诉求 MQ-0042")]
    assert await cache.get(f"wecom:token:{CORP_ID}")
    stats = await sim_get(control, "stats")
    assert stats["token_requests"]["wecom"] == 1


async def test_wecom_app_message_and_robot(wecom: WeComApiClient, control: Control) -> None:
    await wecom.send_app_message(
        ["zhaxi", "yangjin"], {"msgtype": "text", "text": {"content": "MQ-0042 即将超时"}}
    )
    for userid in ("zhaxi", "yangjin"):
        timeline = await sim_get(control, f"wecom/users/{userid}/messages")
        assert [m["content"] for m in timeline] == ["MQ-0042 即将超时"]
    await wecom.send_robot("robot-key-1", {"msgtype": "text", "text": {"content": "告警"}})
    robot = await sim_get(control, "wecom/robot/messages")
    assert [m["content"] for m in robot] == ["告警"]


async def test_wecom_stale_token_is_refreshed(
    wecom: WeComApiClient, control: Control, cache: MemoryKeyValueStore
) -> None:
    await cache.set(f"wecom:token:{CORP_ID}", "stale", 3600)
    await wecom.send_app_message("zhaxi", {"msgtype": "text", "text": {"content": "hi"}})
    assert await cache.get(f"wecom:token:{CORP_ID}") not in (None, "stale")


async def test_wecom_5xx_is_retryable(wecom: WeComApiClient, control: Control) -> None:
    await sim_post(control, "faults", {"wecom_appchat": "error_500"})
    with pytest.raises(WeChatApiError) as caught:
        await wecom.send_appchat("nochat", {"msgtype": "text", "text": {"content": "x"}})
    assert caught.value.retryable


async def test_wecom_unknown_chat_is_not_retryable(wecom: WeComApiClient) -> None:
    with pytest.raises(WeChatApiError) as caught:
        await wecom.send_appchat("nochat", {"msgtype": "text", "text": {"content": "x"}})
    assert (caught.value.errcode, caught.value.retryable) == (86003, False)
