"""Helpers for the simulator tests: config, a tiny fake gateway built on wechatpy, API calls.

The fake gateway uses wechatpy's crypto and parser on purpose: the simulator implements the
WeChat crypto independently, so every round trip here checks two implementations agree.
"""

from __future__ import annotations

import asyncio
import io
import math
import struct
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise import parse_message as parse_wecom_message
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto
from wechatpy.enterprise.replies import TextReply as WeComTextReply
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from simulator.config import SimulatorConfig, WeChatSide, WeComSide

__all__ = ["WeChatSide", "WeComSide"]
from simulator.http import SIMULATOR
from simulator.service import Simulator

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OTHER_AES_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
TOKEN = "dev-token"
APP_ID = "wx-dev-appid"
APP_SECRET = "dev-secret"
CORP_ID = "ww-dev-corp"


@dataclass
class Received:
    """One request the fake gateway got."""

    query: dict[str, str]
    body: bytes
    message: Any = None


@dataclass
class FakeGateway:
    """Verifies WeChat/WeCom signatures with wechatpy, decrypts, and answers a passive text."""

    aes_key: str | None = None
    delays: list[float] = field(default_factory=list)
    reply: Callable[[Any], str | None] = lambda msg: f"echo:{getattr(msg, 'content', msg.type)}"
    raw_reply: str | None = None
    """Answer this verbatim instead of a wechatpy-rendered reply."""
    received: list[Received] = field(default_factory=list)
    wecom_received: list[Received] = field(default_factory=list)
    url: str = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/wechat", self.wechat)
        app.router.add_post("/wecom", self.wecom)
        return app

    async def _delay(self) -> None:
        if self.delays:
            await asyncio.sleep(self.delays.pop(0))

    async def wechat(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        body = await request.read()
        record = Received(query, body)
        self.received.append(record)
        await self._delay()
        check_signature(TOKEN, query["signature"], query["timestamp"], query["nonce"])
        crypto = WeChatCrypto(TOKEN, self.aes_key, APP_ID) if self.aes_key else None
        if crypto is not None:
            assert query["encrypt_type"] == "aes"
            xml = crypto.decrypt_message(
                body, query["msg_signature"], query["timestamp"], query["nonce"]
            )
        else:
            assert "encrypt_type" not in query
            xml = body.decode("utf-8")
        record.message = parse_message(xml)
        if self.raw_reply is not None:
            return web.Response(text=self.raw_reply, content_type="application/xml")
        text = self.reply(record.message)
        if text is None:
            return web.Response(text="success")
        rendered = TextReply(message=record.message, content=text).render()
        if crypto is not None:
            rendered = crypto.encrypt_message(rendered, query["nonce"], query["timestamp"])
        return web.Response(text=rendered, content_type="application/xml")

    async def wecom(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        body = await request.read()
        record = Received(query, body)
        self.wecom_received.append(record)
        await self._delay()
        crypto = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
        xml = crypto.decrypt_message(
            body, query["msg_signature"], query["timestamp"], query["nonce"]
        )
        record.message = parse_wecom_message(xml)
        text = self.reply(record.message)
        if text is None:
            return web.Response(text="")
        rendered = WeComTextReply(message=record.message, content=text).render()
        encrypted = crypto.encrypt_message(rendered, query["nonce"], query["timestamp"])
        return web.Response(text=encrypted, content_type="application/xml")


def make_config(**overrides: Any) -> SimulatorConfig:
    """A config independent of the environment and any .env file."""
    values: dict[str, Any] = {
        "gateway_url": "http://127.0.0.1:9/wechat",
        "wecom_callback_url": "http://127.0.0.1:9/wecom",
        "post_timeout_seconds": 2.0,
        "wechat": WeChatSide(),
        "wecom": WeComSide(),
    }
    values.update(overrides)
    return SimulatorConfig(_env_file=None, **values)  # type: ignore[call-arg]


def simulator_of(client: TestClient) -> Simulator:
    """The Simulator object behind a test client."""
    return client.app[SIMULATOR]


async def wechat_token(client: TestClient) -> str:
    """A valid WeChat access token (stable_token)."""
    response = await client.post(
        "/cgi-bin/stable_token",
        json={"grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET},
    )
    data = await response.json()
    return str(data["access_token"])


async def wecom_token(client: TestClient) -> str:
    """A valid WeCom access token."""
    response = await client.get(
        "/wecom/cgi-bin/gettoken", params={"corpid": CORP_ID, "corpsecret": APP_SECRET}
    )
    data = await response.json()
    return str(data["access_token"])


async def post_json(client: TestClient, path: str, body: Any, **params: str) -> Any:
    """POST JSON and return the decoded answer."""
    response = await client.post(path, json=body, params=params)
    return await response.json()


def tone_wav(seconds: float = 1.0, frequency: float = 440.0, rate: int = 16000) -> bytes:
    """A real, short WAV (a sine tone): audio ffmpeg and sox can convert like a recording."""
    frames = bytearray()
    for n in range(int(seconds * rate)):
        frames += struct.pack("<h", int(8000 * math.sin(2 * math.pi * frequency * n / rate)))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return buffer.getvalue()
