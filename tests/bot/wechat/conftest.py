"""The WeChat simulator plus a tiny echo gateway built only from bot.wechat's modules."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.kv import MemoryKeyValueStore
from bot.messages import InboundMessage, MessageKind
from bot.wechat.inbound import parse_inbound, parse_wecom_inbound
from bot.wechat.outbound import DECLINE, passive_text_xml
from bot.wechat.security import CallbackRejected, CallbackSecurity
from governance.clock import SystemClock
from simulator.app import create_simulator_app
from simulator.config import SimulatorConfig, WeChatSide, WeComSide

APP_ID = "wx-test-appid"
APP_SECRET = "test-app-secret-value"
WECHAT_TOKEN = "test-wechat-token"
WECHAT_AES_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
CORP_ID = "ww-test-corp"
CORP_SECRET = "test-corp-secret-value"
AGENT_ID = 1000002
WECOM_TOKEN = "test-wecom-token"
WECOM_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
ORIGINAL_ID = "gh_test_account"


@dataclass(frozen=True)
class Accounts:
    """The ids and secrets the simulator is configured with (tests get them as a fixture)."""

    app_id: str = APP_ID
    app_secret: str = APP_SECRET
    corp_id: str = CORP_ID
    corp_secret: str = CORP_SECRET
    agent_id: int = AGENT_ID
    original_id: str = ORIGINAL_ID


@pytest.fixture
def accounts() -> Accounts:
    return Accounts()


AiohttpServer = Callable[..., Awaitable[TestServer]]
AiohttpClient = Callable[..., Awaitable[TestClient[Any, Any]]]


@dataclass
class EchoGateway:
    """What the gateway received; it answers text with "echo: <text>", all else with success."""

    server: TestServer
    received: list[InboundMessage] = field(default_factory=list)
    resends: int = 0
    fail_next: int = 0
    """Answer this many verified callbacks with HTTP 503, as a crashed worker would."""
    rejections: list[CallbackRejected] = field(default_factory=list)


def _echo_handler(
    gateway: Callable[[], EchoGateway],
    security: CallbackSecurity,
    parse: Callable[[str], InboundMessage],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        state = gateway()
        try:
            opened = await security.open(request.query, await request.read())
        except CallbackRejected as exc:
            state.rejections.append(exc)
            return web.Response(status=exc.status, text=exc.reason)
        message = parse(opened.xml)
        if opened.is_resend:
            state.resends += 1
        state.received.append(message)
        if state.fail_next > 0:
            state.fail_next -= 1
            return web.Response(status=503)
        if message.kind is not MessageKind.TEXT:
            return web.Response(text=DECLINE)
        reply = passive_text_xml(
            message.user_id, message.account_id, f"echo: {message.text}", message.received_at
        )
        return web.Response(text=security.seal(reply, opened), content_type="application/xml")

    return handle


@pytest.fixture
async def echo_gateway(aiohttp_server: AiohttpServer) -> EchoGateway:
    """POST /wechat (safe mode accepted) and /wecom (encryption required)."""
    clock = SystemClock()
    holder: list[EchoGateway] = []
    wechat = CallbackSecurity(
        token=WECHAT_TOKEN,
        receive_id=APP_ID,
        aes_keys=[WECHAT_AES_KEY],
        replay_store=MemoryKeyValueStore(clock),
        clock=clock,
    )
    wecom = CallbackSecurity(
        token=WECOM_TOKEN,
        receive_id=CORP_ID,
        aes_keys=[WECOM_AES_KEY],
        replay_store=MemoryKeyValueStore(clock),
        clock=clock,
        require_encryption=True,
    )
    app = web.Application()
    app.router.add_post("/wechat", _echo_handler(lambda: holder[0], wechat, parse_inbound))
    app.router.add_post("/wecom", _echo_handler(lambda: holder[0], wecom, parse_wecom_inbound))
    holder.append(EchoGateway(server=await aiohttp_server(app)))
    return holder[0]


SimulatorFactory = Callable[..., Awaitable[TestServer]]


@pytest.fixture
def start_simulator(aiohttp_server: AiohttpServer, echo_gateway: EchoGateway) -> SimulatorFactory:
    """Start the simulator wired to the echo gateway; keyword arguments go to SimulatorConfig."""

    async def start(*, safe_mode: bool = False, **overrides: Any) -> TestServer:
        config = SimulatorConfig(
            gateway_url=str(echo_gateway.server.make_url("/wechat")),
            wecom_callback_url=str(echo_gateway.server.make_url("/wecom")),
            wechat=WeChatSide(
                token=WECHAT_TOKEN,
                app_id=APP_ID,
                app_secret=APP_SECRET,
                aes_key=WECHAT_AES_KEY if safe_mode else None,
                original_id=ORIGINAL_ID,
            ),
            wecom=WeComSide(
                corp_id=CORP_ID,
                corp_secret=CORP_SECRET,
                agent_id=AGENT_ID,
                token=WECOM_TOKEN,
                aes_key=WECOM_AES_KEY,
            ),
            **overrides,
        )
        return await aiohttp_server(create_simulator_app(config))

    return start


@pytest.fixture
async def simulator(start_simulator: SimulatorFactory) -> TestServer:
    return await start_simulator(fault_timeout_seconds=1.0)


@pytest.fixture
async def control(aiohttp_client: AiohttpClient, simulator: TestServer) -> TestClient[Any, Any]:
    """HTTP client for the simulator's /sim/api controls."""
    return await aiohttp_client(simulator)
