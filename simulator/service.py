"""The platform side: signing, encrypting and posting XML to the bot, and reading its replies.

WeChat posts a resident's message to the bot's URL with a 5-second timeout and re-sends the
same signed request up to 3 times in all; WeCom does the same for a staff member's message.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from yarl import URL

from simulator.config import SimulatorConfig
from simulator.crypto import CryptoError, MessageCrypto, check_signature, signature
from simulator.media import placeholder_png
from simulator.schemas import (
    EventIn,
    ImageIn,
    LinkIn,
    LocationIn,
    ResidentMessage,
    TextIn,
    VoiceIn,
)
from simulator.state import (
    PASSIVE_TEXT_MAX_BYTES,
    Entry,
    Resident,
    SimulatorState,
)
from simulator.xmlcodec import (
    PassiveReply,
    XmlError,
    XmlValue,
    build_xml,
    parse_encrypted_envelope,
    parse_passive_reply,
    parse_xml,
)

NO_REPLY = (b"", b"success")


@dataclass(frozen=True, slots=True)
class Attempt:
    """One HTTP try at the bot's URL."""

    status: int | None
    elapsed_ms: float
    error: str | None

    def to_json(self) -> dict[str, Any]:
        """`{"status", "elapsed_ms", "error"}`."""
        return {"status": self.status, "elapsed_ms": self.elapsed_ms, "error": self.error}


@dataclass(slots=True)
class Report:
    """What happened to one push: the tries, and the passive reply if any."""

    attempts: list[Attempt]
    delivered: bool
    passive_reply: Entry | None = None
    reply_error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Response shape of the message, scan and staff-message endpoints."""
        return {
            "attempts": [attempt.to_json() for attempt in self.attempts],
            "passive_reply": None if self.passive_reply is None else self.passive_reply.to_json(),
            "delivered": self.delivered,
            "reply_error": self.reply_error,
            **self.extra,
        }


class ReplyError(ValueError):
    """The bot's passive reply would be refused by the platform."""


def _nonce() -> str:
    return str(secrets.randbelow(10**10))


class Simulator:
    """The running simulator: state, the HTTP session to the bot, and background pushes."""

    def __init__(self, config: SimulatorConfig, state: SimulatorState) -> None:
        self.config = config
        self.state = state
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.public_url = f"http://{config.host}:{config.port}"
        wechat = config.wechat
        self.wechat_crypto = (
            MessageCrypto(wechat.token, wechat.aes_key, wechat.app_id) if wechat.aes_key else None
        )
        wecom = config.wecom
        self.wecom_crypto = MessageCrypto(wecom.token, wecom.aes_key, wecom.corp_id)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the HTTP session used to reach the bot."""
        self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        """Cancel background pushes and close the session."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The open session (the app's cleanup context opens it)."""
        if self._session is None:
            raise RuntimeError("simulator not started")
        return self._session

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a push in the background, keeping a reference until it finishes."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for background pushes (tests use this instead of sleeping)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- HTTP ---------------------------------------------------------------------------------

    async def post_with_retries(
        self, url: str, params: dict[str, str], body: bytes
    ) -> tuple[list[Attempt], bytes | None]:
        """Post the same signed request until one try answers 200 (or tries run out)."""
        target = URL(url).update_query(params)
        timeout = aiohttp.ClientTimeout(total=self.config.post_timeout_seconds)
        attempts: list[Attempt] = []
        self.state.stats.counters["gateway_posts"] += 1
        for _ in range(self.config.post_attempts):
            started = time.perf_counter()
            status: int | None = None
            error: str | None = None
            payload: bytes | None = None
            try:
                async with self.session.post(
                    target,
                    data=body,
                    headers={"Content-Type": "text/xml; charset=utf-8"},
                    timeout=timeout,
                ) as response:
                    status = response.status
                    payload = await response.read()
            except TimeoutError:
                error = f"timeout after {self.config.post_timeout_seconds:g} s"
            except aiohttp.ClientError as exc:
                error = f"{type(exc).__name__}: {exc}"
            if status is not None and status != 200:
                error = f"HTTP {status}"
            elapsed = round((time.perf_counter() - started) * 1000, 1)
            attempts.append(Attempt(status=status, elapsed_ms=elapsed, error=error))
            if status == 200:
                return attempts, payload
        self.state.stats.counters["gateway_posts_failed"] += 1
        return attempts, None

    # -- residents → bot ----------------------------------------------------------------------

    def _message_fields(
        self, resident: Resident, message: ResidentMessage, base_url: str
    ) -> tuple[list[tuple[str, XmlValue]], Entry]:
        """Type-specific XML fields and the entry kept in the resident's sent list."""
        if isinstance(message, TextIn):
            fields: list[tuple[str, XmlValue]] = [("Content", message.content)]
            if message.bizmsgmenuid:
                fields.append(("bizmsgmenuid", message.bizmsgmenuid))
            return fields, Entry(channel="resident", msgtype="text", content=message.content)
        if isinstance(message, ImageIn):
            if message.media_id is None:
                item = self.state.put_media(placeholder_png(), "image", "png")
            else:
                item = self.state.get_media(message.media_id)
            pic_url = f"{base_url}/sim/media/{item.media_id}"
            fields = [("PicUrl", pic_url), ("MediaId", item.media_id)]
            return fields, Entry(channel="resident", msgtype="image", media_id=item.media_id)
        if isinstance(message, VoiceIn):
            item = self.state.get_media(message.media_id)
            fields = [("MediaId", item.media_id), ("Format", message.format or item.fmt)]
            if message.recognition is not None:
                fields.append(("Recognition", message.recognition))
            entry = Entry(
                channel="resident",
                msgtype="voice",
                media_id=item.media_id,
                content=message.recognition,
                extra={"preview_media_id": item.preview_media_id} if item.preview_media_id else {},
            )
            return fields, entry
        if isinstance(message, LocationIn):
            fields = [
                ("Location_X", message.latitude),
                ("Location_Y", message.longitude),
                ("Scale", message.scale),
                ("Label", message.label),
            ]
            entry = Entry(
                channel="resident",
                msgtype="location",
                content=message.label or f"{message.latitude}, {message.longitude}",
                extra={"latitude": message.latitude, "longitude": message.longitude},
            )
            return fields, entry
        if isinstance(message, LinkIn):
            fields = [
                ("Title", message.title),
                ("Description", message.description),
                ("Url", message.url),
            ]
            entry = Entry(
                channel="resident",
                msgtype="link",
                title=message.title,
                description=message.description,
                url=message.url,
            )
            return fields, entry
        return self._event_fields(message)

    @staticmethod
    def _event_fields(event: EventIn) -> tuple[list[tuple[str, XmlValue]], Entry]:
        fields: list[tuple[str, XmlValue]] = [("Event", event.event)]
        optional: list[tuple[str, XmlValue | None]] = [
            ("EventKey", event.key),
            ("Ticket", event.ticket),
            ("MsgID", event.msg_id),
            ("Status", event.status),
            ("Latitude", event.latitude),
            ("Longitude", event.longitude),
            ("Precision", event.precision),
        ]
        fields.extend((name, value) for name, value in optional if value is not None)
        entry = Entry(channel="resident", msgtype="event", content=event.event, extra={})
        if event.key is not None:
            entry.extra["key"] = event.key
        return fields, entry

    async def resident_sends(
        self, openid: str, message: ResidentMessage, base_url: str | None = None
    ) -> Report:
        """A resident sends a message or triggers an event: post it and read the reply."""
        resident = self.state.add_resident(openid)
        fields, sent = self._message_fields(resident, message, base_url or self.public_url)
        is_event = isinstance(message, EventIn)
        msg_id = None if is_event else self.state.next_msg_id()
        if isinstance(message, EventIn):
            if message.event != "TEMPLATESENDJOBFINISH":
                self.state.note_user_event(resident, message.event)
        else:
            self.state.note_user_message(resident)
        self.state.record_sent(resident, sent)
        msgtype = "event" if is_event else sent.msgtype
        report = await self.push_to_gateway(resident, msgtype, fields, msg_id)
        if msg_id is not None:
            report.extra["msg_id"] = msg_id
        return report

    async def scan(self, openid: str, scene: str, ticket: str | None) -> Report:
        """A QR scan: `subscribe` + `qrscene_` for a non-follower, `SCAN` for a follower."""
        resident = self.state.add_resident(openid)
        ticket = ticket or "sim-" + secrets.token_urlsafe(24)
        if resident.following:
            event = EventIn(type="event", event="SCAN", key=scene, ticket=ticket)
        else:
            event = EventIn(type="event", event="subscribe", key=f"qrscene_{scene}", ticket=ticket)
        report = await self.resident_sends(resident.openid, event)
        report.extra["event"] = event.event
        report.extra["event_key"] = event.key
        return report

    async def template_job_finished(self, openid: str, msgid: int, status: str) -> None:
        """Tell the bot how a template send went (TEMPLATESENDJOBFINISH), a moment later."""
        await asyncio.sleep(self.config.template_event_delay_seconds)
        resident = self.state.residents.get(openid)
        if resident is None:
            return
        fields: list[tuple[str, XmlValue]] = [
            ("Event", "TEMPLATESENDJOBFINISH"),
            ("MsgID", msgid),
            ("Status", status),
        ]
        report = await self.push_to_gateway(resident, "event", fields, None)
        key = "job_finish_delivered" if report.delivered else "job_finish_failed"
        self.state.stats.counters[key] += 1

    async def push_to_gateway(
        self,
        resident: Resident,
        msgtype: str,
        fields: list[tuple[str, XmlValue]],
        msg_id: int | None,
    ) -> Report:
        """Sign (and in safe mode encrypt) the message XML, post it, decode the reply."""
        header: list[tuple[str, XmlValue]] = [
            ("ToUserName", self.config.wechat.original_id),
            ("FromUserName", resident.openid),
            ("CreateTime", resident.next_create_time(event=msg_id is None)),
            ("MsgType", msgtype),
        ]
        tail: list[tuple[str, XmlValue]] = [] if msg_id is None else [("MsgId", msg_id)]
        xml = build_xml(header + fields + tail)
        timestamp, nonce = str(int(time.time())), _nonce()
        token = self.config.wechat.token
        params = {
            "signature": signature(token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "openid": resident.openid,
        }
        if self.wechat_crypto is not None:
            encrypted = self.wechat_crypto.encrypt(xml)
            body = build_xml(
                [("ToUserName", self.config.wechat.original_id), ("Encrypt", encrypted)]
            )
            params["encrypt_type"] = "aes"
            params["msg_signature"] = self.wechat_crypto.msg_signature(timestamp, nonce, encrypted)
        else:
            body = xml
        attempts, payload = await self.post_with_retries(
            self.config.gateway_url, params, body.encode("utf-8")
        )
        report = Report(attempts=attempts, delivered=payload is not None)
        if payload is None:
            return report
        try:
            reply = self._decode_reply(payload, self.wechat_crypto)
            if reply is not None:
                self._check_addressing(
                    reply, to_user=resident.openid, from_user=self.config.wechat.original_id
                )
        except (ReplyError, XmlError, CryptoError) as exc:
            report.reply_error = str(exc)
            self.state.violation("bad_passive_reply", openid=resident.openid, error=str(exc))
            return report
        if reply is not None and reply.msgtype != "transfer_customer_service":
            self._check_reply_rules(reply, resident.openid)
            report.passive_reply = self.state.deliver(resident, self._entry(reply))
        return report

    # -- staff → bot (WeCom) ------------------------------------------------------------------

    async def staff_sends(self, userid: str, content: str) -> Report:
        """A staff member messages the app 1:1: an encrypted WeCom callback."""
        wecom = self.config.wecom
        timeline = self.state.staff_timeline(userid)
        self.state.append(
            timeline, Entry(channel="staff", msgtype="text", content=content, direction="to_app")
        )
        msg_id = self.state.next_msg_id()
        xml = build_xml(
            [
                ("ToUserName", wecom.corp_id),
                ("FromUserName", userid),
                ("CreateTime", int(time.time())),
                ("MsgType", "text"),
                ("Content", content),
                ("MsgId", msg_id),
                ("AgentID", wecom.agent_id),
            ]
        )
        encrypted = self.wecom_crypto.encrypt(xml)
        body = build_xml(
            [("ToUserName", wecom.corp_id), ("Encrypt", encrypted), ("AgentID", wecom.agent_id)]
        )
        timestamp, nonce = str(int(time.time())), _nonce()
        params = {
            "msg_signature": self.wecom_crypto.msg_signature(timestamp, nonce, encrypted),
            "timestamp": timestamp,
            "nonce": nonce,
        }
        self.state.stats.counters["wecom_callbacks"] += 1
        attempts, payload = await self.post_with_retries(
            self.config.wecom_callback_url, params, body.encode("utf-8")
        )
        report = Report(attempts=attempts, delivered=payload is not None, extra={"msg_id": msg_id})
        if payload is None:
            return report
        try:
            reply = self._decode_reply(payload, self.wecom_crypto)
            if reply is not None:
                self._check_addressing(reply, to_user=userid, from_user=wecom.corp_id)
        except (ReplyError, XmlError, CryptoError) as exc:
            report.reply_error = str(exc)
            self.state.violation("bad_wecom_reply", userid=userid, error=str(exc))
            return report
        if reply is not None:
            entry = self._entry(reply)
            entry.direction = "from_app"
            report.passive_reply = self.state.append(timeline, entry)
        return report

    # -- replies ------------------------------------------------------------------------------

    @staticmethod
    def _decode_reply(payload: bytes, crypto: MessageCrypto | None) -> PassiveReply | None:
        """None for "no passive reply"; otherwise the (decrypted, verified) reply."""
        if payload.strip() in NO_REPLY:
            return None
        root = parse_xml(payload.strip())
        envelope = parse_encrypted_envelope(root)
        if crypto is None:
            if envelope is not None:
                raise ReplyError("encrypted reply while the account is in plaintext mode")
            return parse_passive_reply(root)
        if envelope is None:
            raise ReplyError("plaintext reply while the account is in safe mode")
        if not check_signature(
            envelope.msg_signature,
            crypto.token,
            envelope.timestamp,
            envelope.nonce,
            envelope.encrypt,
        ):
            raise ReplyError("reply MsgSignature does not verify")
        return parse_passive_reply(parse_xml(crypto.decrypt(envelope.encrypt)))

    @staticmethod
    def _check_addressing(reply: PassiveReply, to_user: str, from_user: str) -> None:
        if reply.to_user != to_user:
            raise ReplyError(f"reply ToUserName {reply.to_user!r} is not {to_user!r}")
        if reply.from_user != from_user:
            raise ReplyError(f"reply FromUserName {reply.from_user!r} is not {from_user!r}")

    def _check_reply_rules(self, reply: PassiveReply, openid: str) -> None:
        """Record (not refuse) replies the real platform would mangle."""
        if reply.content and reply.msgtype == "text":
            size = len(reply.content.encode("utf-8"))
            if size > PASSIVE_TEXT_MAX_BYTES:
                self.state.violation("passive_text_too_long", openid=openid, bytes=size)
        if reply.media_id and reply.media_id not in self.state.media:
            self.state.violation("unknown_media_id", openid=openid, media_id=reply.media_id)

    @staticmethod
    def _entry(reply: PassiveReply) -> Entry:
        return Entry(
            channel="passive",
            msgtype=reply.msgtype,
            content=reply.content,
            media_id=reply.media_id,
            title=reply.title,
            description=reply.description,
            url=reply.url,
            articles=[article.to_json() for article in reply.articles] or None,
        )
