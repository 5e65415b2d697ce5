"""Hostile and odd callbacks against the real gateway (create_app + simulator on real ports).

Reuses the gateway stack of tests/bot/conftest.py; adds a `Caller` that signs (and, in safe
mode, encrypts) hand-made XML the way WeChat does, so tests can also forge every part of it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import xmltodict
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.settings import Settings
from governance.petitions.models import Petition
from nlu.embedded import EmbeddedEngine
from simulator.crypto import MessageCrypto, signature
from simulator.xmlcodec import build_xml
from tests.bot.conftest import Stack, StackFactory, stack_factory

TOKEN = "dev-token"
APP_ID = "wx-dev-appid"
ACCOUNT = "gh_security_test"
AES_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
OTHER_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@pytest.fixture
async def make_stack(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    embedded_nlu: EmbeddedEngine,
) -> AsyncIterator[StackFactory]:
    async with stack_factory(settings, sessions, embedded_nlu) as start:
        yield start


@dataclass
class Answer:
    status: int
    body: str
    content: str = ""
    """The passive reply's text (decrypted in safe mode); "" for success or an error."""


@dataclass
class Caller:
    """Posts callbacks to the gateway as WeChat would, with every part open to forgery."""

    stack: Stack
    aes_key: str | None = None

    @property
    def url(self) -> str:
        return f"{self.stack.gateway_url}/wechat"

    def query(
        self, *, nonce: str | None = None, timestamp: str | None = None, token: str = TOKEN
    ) -> dict[str, str]:
        nonce = nonce or uuid.uuid4().hex[:16]
        timestamp = timestamp or str(int(time.time()))
        return {
            "signature": signature(token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "openid": "o-security",
        }

    async def post(
        self,
        xml: str | bytes,
        *,
        query: dict[str, str] | None = None,
        encrypt_with: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """Sign (plain mode) or encrypt + msg_sign (safe mode, `encrypt_with` or `aes_key`)."""
        params = dict(query or self.query())
        key = encrypt_with or self.aes_key
        body: str | bytes = xml
        if key is not None:
            text = xml.decode("utf-8") if isinstance(xml, bytes) else xml
            crypto = MessageCrypto(TOKEN, key, APP_ID)
            encrypted = crypto.encrypt(text)
            params["encrypt_type"] = "aes"
            params["msg_signature"] = crypto.msg_signature(
                params["timestamp"], params["nonce"], encrypted
            )
            body = build_xml([("ToUserName", ACCOUNT), ("Encrypt", encrypted)])
        async with self.stack.http.post(
            self.url, params=params, data=body, headers=headers
        ) as response:
            answer = Answer(response.status, await response.text())
        if answer.status == 200 and answer.body.startswith("<xml>"):
            answer.content = self._content(answer.body)
        return answer

    def _content(self, body: str) -> str:
        root: dict[str, Any] = xmltodict.parse(body)["xml"]
        if "Encrypt" in root:
            assert self.aes_key is not None
            root = xmltodict.parse(
                MessageCrypto(TOKEN, self.aes_key, APP_ID).decrypt(root["Encrypt"])
            )["xml"]
        return str(root.get("Content") or "")


def message_xml(
    openid: str, msg_type: str = "text", *, create_time: str | None = None, **fields: Any
) -> str:
    """A resident's callback with a fresh MsgId; extra fields in the given order."""
    head: list[tuple[str, Any]] = [
        ("ToUserName", ACCOUNT),
        ("FromUserName", openid),
        ("CreateTime", str(int(time.time())) if create_time is None else create_time),
        ("MsgType", msg_type),
    ]
    rows: list[tuple[str, Any]] = [*head, *fields.items(), ("MsgId", uuid.uuid4().int % 10**18)]
    return build_xml(rows)


async def petition_count(stack: Stack) -> int:
    async with stack.sessions() as session:
        return int(await session.scalar(select(func.count(Petition.id))) or 0)


@pytest.fixture
async def caller(make_stack: StackFactory) -> Caller:
    return Caller(await make_stack())


@pytest.fixture
async def safe_caller(make_stack: StackFactory) -> Caller:
    return Caller(await make_stack(aes_key=AES_KEY), aes_key=AES_KEY)
