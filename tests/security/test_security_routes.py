"""The callback route's last line of defence: a parser bug on a signed callback is a 400 (WeChat
gives up), never a 500 (WeChat retries the same body until it gives up anyway, thrice a second)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.kv import MemoryKeyValueStore
from bot.messages import InboundMessage
from bot.wechat.routes import CallbackHandler, TurnText
from bot.wechat.security import CallbackSecurity
from governance.clock import SystemClock
from simulator.crypto import signature
from tests.security.conftest import TOKEN, message_xml


def _broken_parser(_xml: str) -> InboundMessage:
    raise ValueError("a bug in the parser")


async def _never(_message: InboundMessage) -> TurnText | None:
    raise AssertionError("no turn may run")


async def _deliver(_m: InboundMessage, _t: list[str], _v: list[dict[str, Any]]) -> None:
    raise AssertionError("nothing to deliver")


async def _claim(_key: str) -> bool:
    return True


async def test_a_parser_bug_is_a_400_not_a_500(aiohttp_client: Any) -> None:
    clock = SystemClock()
    handler = CallbackHandler(
        security=CallbackSecurity(
            token=TOKEN,
            receive_id="wx-dev-appid",
            aes_keys=[],
            replay_store=MemoryKeyValueStore(clock),
            clock=clock,
        ),
        parse=_broken_parser,
        turn=_never,
        deliver_later=_deliver,
        claim=_claim,
        budget_seconds=1.0,
    )
    app = web.Application()
    app.router.add_post("/wechat", handler.receive)
    client = await aiohttp_client(app)
    timestamp, nonce = str(int(clock.now().timestamp())), "parser-bug"
    query = {
        "signature": signature(TOKEN, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
    }
    response = await client.post("/wechat", params=query, data=message_xml("o-x", Content="hi"))
    assert response.status == 400
