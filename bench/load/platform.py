"""The WeChat side of the benchmark: the simulator's API in-process, and a callback sender.

The simulator serves the customer-service/template API the gateway pushes to; its state is
observed here so each push's receipt time is known exactly. The sender signs (and in safe mode
encrypts) callbacks like the platform: 5 s timeout, the same request tried up to 3 times.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from simulator import control_api, wechat_api, wecom_api
from simulator.config import SimulatorConfig
from simulator.crypto import CryptoError, MessageCrypto, check_signature, signature
from simulator.http import SIMULATOR
from simulator.service import Simulator
from simulator.state import Entry, Resident, SimulatorState
from simulator.xmlcodec import (
    XmlError,
    XmlValue,
    build_xml,
    parse_encrypted_envelope,
    parse_passive_reply,
    parse_xml,
)

NO_REPLY = (b"", b"success")


@dataclass(slots=True)
class Receipt:
    """One push the simulator accepted for a resident (custom or template message)."""

    at: float
    text: str


class ObservedState(SimulatorState):
    """Simulator state that keeps every resident's pushes with their receipt time."""

    def __init__(self, config: SimulatorConfig) -> None:
        super().__init__(config)
        self.receipts: dict[str, list[Receipt]] = defaultdict(list)
        self._arrived: dict[str, asyncio.Event] = {}

    def deliver(self, resident: Resident, entry: Entry) -> Entry:
        """Record the push (wall clock) and wake whoever waits for this resident."""
        stored = super().deliver(resident, entry)
        text = entry.content or entry.description or entry.title or ""
        if entry.fields:
            text += " " + " ".join(entry.fields.values())
        self.receipts[resident.openid].append(Receipt(at=time.time(), text=text))
        event = self._arrived.pop(resident.openid, None)
        if event is not None:
            event.set()
        return stored

    async def wait_receipt(self, openid: str, seen: int, within: float) -> bool:
        """Wait until `openid` has more than `seen` receipts; False on timeout."""
        if len(self.receipts[openid]) > seen:
            return True
        event = self._arrived.setdefault(openid, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), within)
        except TimeoutError:
            return len(self.receipts[openid]) > seen
        return True


def create_platform_app(config: SimulatorConfig) -> tuple[web.Application, ObservedState]:
    """The simulator's app (as `simulator.app.create_simulator_app`) on an observed state."""
    state = ObservedState(config)
    app = web.Application(client_max_size=1024 * 1024)
    simulator = Simulator(config, state)
    app[SIMULATOR] = simulator

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        await simulator.start()
        yield
        await simulator.close()

    app.cleanup_ctx.append(lifecycle)
    app.add_routes(wechat_api.routes)
    app.add_routes(wecom_api.routes)
    app.add_routes(control_api.routes)
    return app, state


@dataclass(slots=True)
class Delivery:
    """What happened to one callback: its tries and the passive reply, if any."""

    sent_at: float
    statuses: list[int | None] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    acked_at: float | None = None
    passive: str | None = None
    reply_error: str | None = None

    @property
    def ack_ms(self) -> float | None:
        """From the first try to the answer that WeChat accepted (retries included)."""
        return None if self.acked_at is None else (self.acked_at - self.sent_at) * 1000


class CallbackSender:
    """Posts residents' messages to gateway URLs the way the WeChat platform does."""

    def __init__(
        self,
        state: SimulatorState,
        config: SimulatorConfig,
        session: aiohttp.ClientSession,
        *,
        timeout_seconds: float = 5.0,
        attempts: int = 3,
    ) -> None:
        self._state = state
        self._config = config
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._attempts = attempts
        wechat = config.wechat
        self._crypto = (
            MessageCrypto(wechat.token, wechat.aes_key, wechat.app_id) if wechat.aes_key else None
        )

    def _sign(self, xml: str) -> tuple[dict[str, str], bytes]:
        timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
        token = self._config.wechat.token
        params = {
            "signature": signature(token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
        }
        if self._crypto is None:
            return params, xml.encode("utf-8")
        encrypted = self._crypto.encrypt(xml)
        body = build_xml([("ToUserName", self._config.wechat.original_id), ("Encrypt", encrypted)])
        params["encrypt_type"] = "aes"
        params["msg_signature"] = self._crypto.msg_signature(timestamp, nonce, encrypted)
        return params, body.encode("utf-8")

    async def send(
        self, url: str, openid: str, msgtype: str, fields: list[tuple[str, XmlValue]]
    ) -> Delivery:
        """One resident message or event, as the platform posts it (opens the CS window)."""
        resident = self._state.add_resident(openid)
        is_event = msgtype == "event"
        if is_event:
            self._state.note_user_event(resident, str(fields[0][1]))
        else:
            self._state.note_user_message(resident)
        header: list[tuple[str, XmlValue]] = [
            ("ToUserName", self._config.wechat.original_id),
            ("FromUserName", openid),
            ("CreateTime", resident.next_create_time(event=is_event)),
            ("MsgType", msgtype),
        ]
        tail: list[tuple[str, XmlValue]] = (
            [] if is_event else [("MsgId", self._state.next_msg_id())]
        )
        params, body = self._sign(build_xml(header + fields + tail))
        params["openid"] = openid
        delivery = Delivery(sent_at=time.time())
        payload: bytes | None = None
        for _ in range(self._attempts):
            try:
                async with self._session.post(
                    url,
                    params=params,
                    data=body,
                    headers={"Content-Type": "text/xml; charset=utf-8"},
                    timeout=self._timeout,
                ) as response:
                    delivery.statuses.append(response.status)
                    data = await response.read()
                    if response.status == 200:
                        payload = data
                        delivery.acked_at = time.time()
                        break
                    delivery.errors.append(f"HTTP {response.status}")
            except TimeoutError:
                delivery.statuses.append(None)
                delivery.errors.append("timeout")
            except aiohttp.ClientError as exc:
                delivery.statuses.append(None)
                delivery.errors.append(type(exc).__name__)
        if payload is not None and payload.strip() not in NO_REPLY:
            try:
                delivery.passive = self._open_reply(payload.strip())
            except (XmlError, CryptoError, ValueError) as exc:
                delivery.reply_error = str(exc)
        return delivery

    def _open_reply(self, payload: bytes) -> str:
        root = parse_xml(payload)
        if self._crypto is not None:
            envelope = parse_encrypted_envelope(root)
            if envelope is None:
                raise ValueError("plaintext reply in safe mode")
            crypto = self._crypto
            if not check_signature(
                envelope.msg_signature,
                crypto.token,
                envelope.timestamp,
                envelope.nonce,
                envelope.encrypt,
            ):
                raise ValueError("reply MsgSignature does not verify")
            root = parse_xml(crypto.decrypt(envelope.encrypt))
        reply = parse_passive_reply(root)
        parts = [reply.content, reply.title, reply.description]
        parts.extend(f"{a.title} {a.description}" for a in reply.articles)
        return " ".join(part for part in parts if part)
