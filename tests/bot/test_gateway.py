"""The gateway end to end against the simulator: passive replies, the slow path, dedup, staff."""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import CLAIM_TTL_SECONDS
from bot.app_keys import OUTBOX
from bot.kv import SqlKeyValueStore
from governance.clock import ManualClock
from governance.outbox.models import OutboxChannel, OutboxMessage, OutboxStatus
from governance.petitions.models import Petition
from nlu.embedded import EmbeddedEngine
from nlu.parsed import ParsedMessage
from tests.bot.conftest import Stack, StackFactory

AES_KEY = "ThisIsA43CharacterLongEncodingAESKeyForTest"
GROUP_CARD = OutboxMessage.channel == OutboxChannel.HANDLER_GROUP


async def _file_streetlight(stack: Stack, openid: str) -> str:
    await stack.sim("POST", "/sim/api/residents", openid=openid, nickname="test")
    scan = await stack.sim("POST", f"/sim/api/residents/{openid}/scan", scene="report:GP-0101")
    assert "北京中路12号院门口" in scan["passive_reply"]["content"]
    assert "ask" not in scan["passive_reply"]["content"]
    assert "手机号" in await stack.say(openid, "院门口的路灯坏了好几天晚上很黑")
    assert "请核对" in await stack.say(openid, "跳过")
    return await stack.say(openid, "1")


async def test_a_resident_files_a_petition_and_the_card_reaches_the_handler_group(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack()
    receipt = await _file_streetlight(stack, "o-resident-1")
    assert "工单号：" in receipt
    assert "前办结" in receipt

    async def card() -> list[dict[str, Any]]:
        groups = await stack.sim("GET", "/sim/api/wecom/groups")
        if not groups:
            return []
        return list(
            await stack.sim("GET", f"/sim/api/wecom/groups/{groups[0]['chatid']}/messages")
        )

    messages = await stack.wait_for(card)
    text = str(messages[-1])
    assert "路灯" in text
    assert "第一网格" in text
    groups = await stack.sim("GET", "/sim/api/wecom/groups")
    assert {"dolma", "tsering", "lhakpa"} <= set(groups[0]["userlist"])


async def test_the_same_flow_works_in_safe_aes_mode(make_stack: StackFactory) -> None:
    stack = await make_stack(aes_key=AES_KEY)
    receipt = await _file_streetlight(stack, "o-resident-aes")
    assert "工单号：" in receipt


class SlowNlu:
    """The real engine, made slower than the reply budget (as voice or a busy Rasa would be)."""

    def __init__(self, engine: EmbeddedEngine, delay: float) -> None:
        self._engine = engine
        self._delay = delay

    async def parse(self, text: str) -> ParsedMessage:
        await asyncio.sleep(self._delay)
        return await self._engine.parse(text)


async def test_a_slow_turn_answers_success_and_the_reply_arrives_by_customer_service(
    make_stack: StackFactory, embedded_nlu: EmbeddedEngine
) -> None:
    stack = await make_stack(nlu=SlowNlu(embedded_nlu, 0.6), reply_budget=0.2)
    openid = "o-slow"
    await stack.sim("POST", "/sim/api/residents", openid=openid)
    result = await stack.sim(
        "POST", f"/sim/api/residents/{openid}/messages", type="text", content="你好"
    )
    assert result["passive_reply"] is None, "the gateway must not hold WeChat past the budget"

    async def custom_reply() -> list[dict[str, Any]]:
        inbox = await stack.sim("GET", f"/sim/api/residents/{openid}/inbox")
        return [m for m in inbox if m["channel"] == "custom"]

    delivered = await stack.wait_for(custom_reply)
    assert "民情通" in delivered[0]["content"]


def _signed_query(token: str, nonce: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce, "openid": "o-dup"}


def _text_xml(msg_id: int, content: str) -> str:
    return (
        "<xml><ToUserName><![CDATA[gh_test]]></ToUserName>"
        "<FromUserName><![CDATA[o-dup]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )


async def test_a_redelivered_message_is_handled_once(make_stack: StackFactory) -> None:
    stack = await make_stack()
    body = _text_xml(9001, "转人工")
    url = f"{stack.gateway_url}/wechat"
    responses = []
    for nonce in ("n1", "n2", "n3"):  # WeChat's retries, each newly signed
        async with stack.http.post(url, params=_signed_query("dev-token", nonce), data=body) as r:
            responses.append((r.status, await r.text()))
    assert [status for status, _ in responses] == [200, 200, 200]
    assert "工作人员" in responses[0][1]
    async with stack.sessions() as session:
        handoffs = await session.scalar(
            select(func.count(OutboxMessage.id)).where(
                OutboxMessage.idempotency_key.like("handoff:%")
            )
        )
    assert handoffs == 1


async def test_bad_requests_are_refused_without_a_turn(make_stack: StackFactory) -> None:
    stack = await make_stack()
    url = f"{stack.gateway_url}/wechat"
    forged = {**_signed_query("dev-token", "x1"), "signature": "0" * 40}
    async with stack.http.post(url, params=forged, data=_text_xml(1, "hi")) as r:
        assert r.status == 403
    stale = _signed_query("dev-token", "x2")
    stale["timestamp"] = str(int(time.time()) - 3600)
    async with stack.http.post(url, params=stale, data=_text_xml(2, "hi")) as r:
        assert r.status == 403
    huge = _text_xml(3, "路" * 40_000)
    async with stack.http.post(url, params=_signed_query("dev-token", "x3"), data=huge) as r:
        assert r.status == 413
    async with stack.sessions() as session:
        assert await session.scalar(select(func.count(Petition.id))) == 0


async def test_url_verification_echoes_the_challenge(make_stack: StackFactory) -> None:
    stack = await make_stack()
    query = {**_signed_query("dev-token", "v1"), "echostr": "hello-wechat"}
    async with stack.http.get(f"{stack.gateway_url}/wechat", params=query) as r:
        assert (r.status, await r.text()) == (200, "hello-wechat")


async def test_registered_staff_get_an_answer_from_the_wecom_app(make_stack: StackFactory) -> None:
    stack = await make_stack()
    known = await stack.sim("POST", "/sim/api/wecom/users/dolma/messages", content="帮助")
    assert "卓玛" in known["passive_reply"]["content"]
    mine = await stack.sim("POST", "/sim/api/wecom/users/dolma/messages", content="我的")
    assert "0001" not in mine["passive_reply"]["content"], "no cases assigned yet"
    stranger = await stack.sim("POST", "/sim/api/wecom/users/nobody/messages", content="我的")
    assert "不是登记的工作人员" in stranger["passive_reply"]["content"]


async def test_group_cards_survive_a_wecom_outage_and_are_sent_once(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack()
    stack.app[OUTBOX]._settings.base_delay_seconds = 0.05
    await stack.sim("POST", "/sim/api/faults", wecom_appchat="error_500")
    await _file_streetlight(stack, "o-outage")

    async def failed_once() -> bool:
        async with stack.sessions() as session:
            row = await session.scalar(select(OutboxMessage).where(GROUP_CARD))
            return row is not None and row.attempts >= 1 and row.status == OutboxStatus.PENDING

    await stack.wait_for(failed_once)
    await stack.sim("POST", "/sim/api/faults", wecom_appchat="ok")

    async def sent() -> OutboxMessage | None:
        async with stack.sessions() as session:
            row = await session.scalar(select(OutboxMessage).where(GROUP_CARD))
            return row if row is not None and row.status == OutboxStatus.SENT else None

    row = await stack.wait_for(sent)
    assert row.attempts >= 2
    groups = await stack.sim("GET", "/sim/api/wecom/groups")
    cards = await stack.sim("GET", f"/sim/api/wecom/groups/{groups[0]['chatid']}/messages")
    assert len([c for c in cards if "路灯" in str(c)]) == 1


async def test_a_claim_left_by_a_worker_that_died_lapses_before_wechats_last_retry(
    make_stack: StackFactory, database_url: str
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite without Redis is one process: its claims are in that process's memory")
    clock = ManualClock(datetime.now(UTC))
    stack = await make_stack(clock=clock)
    kv = SqlKeyValueStore(stack.sessions, clock)
    # Another worker claimed the delivery, then died (kill -9) before answering WeChat.
    assert await kv.add("dedup:wechat:msg:9101", "1", CLAIM_TTL_SECONDS)
    body = _text_xml(9101, "转人工")
    url = f"{stack.gateway_url}/wechat"

    async def deliver(nonce: str) -> str:
        async with stack.http.post(url, params=_signed_query("dev-token", nonce), data=body) as r:
            assert r.status == 200
            return await r.text()

    async def handoffs() -> int:
        async with stack.sessions() as session:
            count = await session.scalar(
                select(func.count(OutboxMessage.id)).where(
                    OutboxMessage.idempotency_key.like("handoff:%")
                )
            )
        return int(count or 0)

    assert await deliver("r1") == "success", "the retry at 5 s still meets the claim"
    assert await handoffs() == 0
    clock.advance(timedelta(seconds=CLAIM_TTL_SECONDS + 1))
    assert "工作人员" in await deliver("r2"), "the last retry is handled by this worker"
    assert await handoffs() == 1
    clock.advance(timedelta(minutes=2))  # inside the 300 s replay window of the signatures
    assert await deliver("r3") == "success", "an answered delivery stays claimed"
    assert await handoffs() == 1
