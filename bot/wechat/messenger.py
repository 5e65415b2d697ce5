"""⑧ Outbox rows → WeChat customer-service messages (text and, in elder mode, voice) and WeCom
handler-group cards."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.dialogue.state import Lang
from bot.links import LinkSigner
from bot.messages import Reply
from bot.outbox import DeliveryFailed
from bot.replies import ReplyCatalog
from bot.voice.audio_link import AudioLinks
from bot.voice.speech import SpokenReplies
from bot.wechat.api_client import WeChatApiClient, WeChatApiError, WeComApiClient
from bot.wechat.outbound import split_text_for_wechat
from governance.clock import Clock
from governance.db import autocommit_sessions
from governance.directory import service as directory
from governance.directory.models import Resident, Staff
from governance.outbox.models import OutboxChannel, OutboxMessage
from governance.outbox.service import enqueue
from voice.prompts import MissingClips

log = logging.getLogger(__name__)
CHAT_NOT_FOUND = 86003
WINDOW_CLOSED = 45015
CUSTOMER_SERVICE_WINDOW = timedelta(hours=47, minutes=55)
"""48 hours after the resident's last message, less a margin for clock skew."""
TEMPLATE_FIELD_LIMIT = 20
VOICE_MAX_SECONDS = 60.0
VOICE_MAX_BYTES = 2 * 1024 * 1024
"""WeChat's limits for voice sent as temporary media (MP3/AMR)."""


def _localised(params: dict[str, Any], language: str) -> dict[str, Any]:
    """Domain params name things in both scripts (`provider_zh`, `provider_bo`); add `provider`
    in the reader's language."""
    extra = {
        base: params[f"{base}_{language}"]
        for base in ("provider",)
        if f"{base}_{language}" in params and base not in params
    }
    return {**params, **extra} if extra else params


def _fit_bytes(text: str, limit: int) -> str:
    """WeCom text cards cap title and description in bytes; cut on a character boundary."""
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    return encoded[: limit - 3].decode(errors="ignore") + "…"


def _fit(value: str) -> str:
    flat = " ".join(value.split())
    return flat if len(flat) <= TEMPLATE_FIELD_LIMIT else flat[: TEMPLATE_FIELD_LIMIT - 1] + "…"


class WeChatOutboxSender:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        wechat: WeChatApiClient,
        wecom: WeComApiClient,
        catalog: ReplyCatalog,
        robot_key: str | None,
        default_link: str,
        clock: Clock,
        signer: LinkSigner,
        public_base_url: str,
        status_template_id: str,
        speech: SpokenReplies | None = None,
        audio_links: AudioLinks | None = None,
        notify: Callable[[], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._reads = autocommit_sessions(sessions)
        self._wechat = wechat
        self._wecom = wecom
        self._catalog = catalog
        self._robot_key = robot_key
        self._default_link = default_link
        """WeCom text cards must carry a link: cards without their own point here."""
        self._clock = clock
        self._signer = signer
        self._public_base_url = public_base_url
        self._status_template_id = status_template_id
        self._speech = speech
        self._audio_links = audio_links
        self._notify = notify
        """Wakes the outbox worker when this sender queues a voice row after a push."""

    async def send(self, message: OutboxMessage) -> None:
        try:
            if message.channel == OutboxChannel.RESIDENT:
                await self._to_resident(message)
            elif message.channel == OutboxChannel.HANDLER_GROUP:
                await self._to_group(message, first_attempt=message.attempts == 0)
            else:
                await self._to_staff(message)
        except WeChatApiError as error:
            raise DeliveryFailed(
                f"{error.errcode}: {error.errmsg}", retryable=error.retryable
            ) from error

    def _render(self, payload: dict[str, Any], language: str) -> str:
        if "text" in payload:
            return str(payload["text"])
        return self._catalog.render(
            Reply(payload["key"], _localised(payload.get("params", {}), language)), Lang(language)
        )

    async def _to_resident(self, message: OutboxMessage) -> None:
        """A customer-service message while the 48 h window is open, else a template push."""
        payload = message.payload
        async with self._reads() as session:
            resident = await session.get(Resident, message.recipient)
        language = payload.get("language") or (resident.language if resident else Lang.ZH.value)
        if "voice" in payload:
            await self._voice_to_resident(message, language)
            return
        link = self._status_link(message)
        if "text" in payload or self._window_open(resident):
            text = self._render(payload, language)
            if link:
                text += "\n" + self._catalog.catalog(Lang(language)).text(
                    "push_link", {"url": link}
                )
            try:
                for chunk in split_text_for_wechat(text):
                    await self._wechat.send_custom_text(message.recipient, chunk)
                if "key" in payload and resident is not None and resident.elder_mode:
                    try:
                        await self._queue_spoken_push(message, language)
                    except Exception:  # the text went: a speech problem must not resend it
                        log.exception("could not queue the spoken version of %s", message.id)
                return
            except WeChatApiError as error:
                if error.errcode != WINDOW_CLOSED or "text" in payload or not link:
                    raise
        if not link:
            raise DeliveryFailed(
                "48-hour window closed and no status page to link", retryable=False
            )
        await self._wechat.send_template(
            message.recipient,
            self._status_template_id,
            self._template_fields(payload, Lang(language)),
            url=link,
            client_msg_id=hashlib.sha1(message.idempotency_key.encode()).hexdigest()[:32],
        )

    async def _voice_to_resident(self, message: OutboxMessage, language: str) -> None:
        """Assemble the spoken reply, upload it as temporary media, send it as a voice message.

        Missing clips or an over-long result cannot get better by retrying: the row is dead
        (the text already went); a closed 48-hour window too (voice has no template fallback).
        """
        spoken = message.payload["voice"]
        if self._speech is None:
            raise DeliveryFailed("speech is not configured", retryable=False)
        params = _localised(dict(spoken.get("params") or {}), language)
        try:
            speech = await self._speech.speak(spoken["key"], params, language)
        except MissingClips as missing:
            log.info(
                "voice reply %s (%s) not sent: missing clips %s",
                spoken["key"],
                language,
                ", ".join(missing.clips),
            )
            raise DeliveryFailed(
                f"missing clips ({language}): {', '.join(missing.clips)}", retryable=False
            ) from missing
        except ValueError as error:
            raise DeliveryFailed(f"speech refused: {error}", retryable=False) from error
        if speech is None:
            return  # the key has no voice script: nothing to say aloud
        if speech.duration_seconds > VOICE_MAX_SECONDS or len(speech.mp3) > VOICE_MAX_BYTES:
            raise DeliveryFailed("speech exceeds WeChat's voice limits", retryable=False)
        media_id = await self._wechat.upload_media("voice", f"{spoken['key']}.mp3", speech.mp3)
        try:
            await self._wechat.send_custom_voice(message.recipient, media_id)
        except WeChatApiError as error:
            if error.errcode == WINDOW_CLOSED:
                raise DeliveryFailed("48-hour window closed", retryable=False) from error
            raise

    async def _queue_spoken_push(self, message: OutboxMessage, language: str) -> None:
        """A push to an elder also goes as voice, after its text, where a script exists."""
        if self._speech is None:
            return
        payload = message.payload
        params = _localised(dict(payload.get("params") or {}), language)
        if not self._speech.speakable(payload["key"], params, language):
            return
        try:
            async with self._sessions() as session, session.begin():
                enqueue(
                    session,
                    channel=OutboxChannel.RESIDENT,
                    recipient=message.recipient,
                    payload={
                        "voice": {"key": payload["key"], "params": params},
                        "language": language,
                    },
                    idempotency_key=f"voice:{message.idempotency_key}"[:128],
                    now=self._clock.now(),
                    petition_id=message.petition_id,
                )
        except IntegrityError:
            return  # queued by an earlier attempt of this row: the text went, the voice waits
        if self._notify is not None:
            self._notify()

    def _window_open(self, resident: Resident | None) -> bool:
        if resident is None or resident.last_message_at is None:
            return False
        return self._clock.now() - resident.last_message_at < CUSTOMER_SERVICE_WINDOW

    def _status_link(self, message: OutboxMessage) -> str | None:
        if message.petition_id is None:
            return None
        token = self._signer.sign(message.petition_id, message.recipient, self._clock.now())
        return f"{self._public_base_url}/s/{token}"

    def _template_fields(self, payload: dict[str, Any], language: Lang) -> dict[str, str]:
        """Template fields: at most 20 characters, no line breaks (the platform's rule)."""
        catalog = self._catalog.catalog(language)
        params = payload.get("params", {})
        key = f"template_{payload['key']}"
        status = catalog.text(key if key in catalog.keys else "template_status_update")
        fields = {
            "ticket": str(params.get("ticket") or params.get("number") or ""),
            "status": status,
            "time": catalog.format_time(self._clock.now(), "datetime"),
            "remark": catalog.text("template_remark"),
        }
        return {name: _fit(value) for name, value in fields.items()}

    def _card(self, payload: dict[str, Any]) -> dict[str, Any]:
        language = Lang(payload.get("language", Lang.ZH.value))
        params = _localised(payload.get("params", {}), language.value)
        recording_id = params.get("recording_id")
        if isinstance(recording_id, int) and self._audio_links is not None:
            # Signed when sent, so a retried card still carries a fresh, working link.
            params = {**params, "url": self._audio_links.url(recording_id, self._clock.now())}
        catalog = self._catalog.catalog(language)
        return {
            "msgtype": "textcard",
            "textcard": {
                "title": _fit_bytes(catalog.text(f"{payload['key']}_title", params), 128),
                "description": _fit_bytes(catalog.text(payload["key"], params), 512),
                "url": params.get("url") or self._default_link,
                "btntxt": catalog.text("card_button"),
            },
        }

    async def _to_group(self, message: OutboxMessage, *, first_attempt: bool) -> None:
        """Post the card; if the group is unreachable, alert the robot once and keep retrying."""
        card = self._card(message.payload)
        chat_id = f"mq{message.recipient}".replace("-", "")[:32]
        try:
            await self._wecom.send_appchat(chat_id, card)
        except WeChatApiError as error:
            if error.errcode != CHAT_NOT_FOUND:
                if first_attempt:
                    await self._robot_fallback(card)
                raise
            await self._create_group(message.recipient, chat_id)
            await self._wecom.send_appchat(chat_id, card)

    async def _create_group(self, community_id: str, chat_id: str) -> None:
        """Handler groups are made on first use, with the community's staff as members."""
        async with self._sessions() as session, session.begin():
            community = await directory.community_by_id(session, community_id)
            staff = await directory.community_staff(session, community_id)
            members = [s.wecom_user_id for s in staff if s.wecom_user_id]
            if community is None or len(members) < 2:
                raise DeliveryFailed(
                    f"community {community_id} has no staff for a group", retryable=False
                )
            await self._wecom.create_appchat(
                name=community.name_zh, owner=members[0], userlist=members, chatid=chat_id
            )
            community.handler_chat_id = chat_id

    async def _robot_fallback(self, card: dict[str, Any]) -> None:
        if not self._robot_key:
            return
        text = f"{card['textcard']['title']}\n{card['textcard']['description']}"
        try:
            await self._wecom.send_robot(
                self._robot_key, {"msgtype": "text", "text": {"content": text}}
            )
        except WeChatApiError as error:
            log.warning("robot fallback failed too: %s", error.errmsg)

    async def _to_staff(self, message: OutboxMessage) -> None:
        """Rows name staff by id (or by WeCom id, for late replies to their own messages)."""
        payload = message.payload
        async with self._reads() as session:
            staff = await session.get(Staff, message.recipient) or await session.scalar(
                select(Staff).where(Staff.wecom_user_id == message.recipient)
            )
        if staff is None or not staff.wecom_user_id:
            raise DeliveryFailed(
                f"staff {message.recipient} has no WeCom account", retryable=False
            )
        if "text" in payload:
            content = {"msgtype": "text", "text": {"content": payload["text"]}}
        else:
            content = self._card(payload)
        await self._wecom.send_app_message(staff.wecom_user_id, content)
