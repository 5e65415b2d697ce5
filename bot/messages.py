"""Transport-neutral messages: what WeChat sent (`InboundMessage`) and what the bot says (`Reply`).

`bot/wechat/` turns XML into these; nothing after it sees XML or wechatpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class MessageKind(StrEnum):
    """What the resident sent."""

    TEXT = "text"
    IMAGE = "image"
    VOICE = "voice"
    LOCATION = "location"
    LINK = "link"
    EVENT = "event"
    UNKNOWN = "unknown"


class EventKind(StrEnum):
    """Platform events we react to; anything else arrives as OTHER."""

    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    SCAN = "scan"
    CLICK = "click"
    VIEW = "view"
    TEMPLATE_SEND_JOB_FINISH = "templatesendjobfinish"
    LOCATION_REPORT = "location"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One resident action, normalised from WeChat XML."""

    user_id: str
    """The resident's openid (FromUserName)."""
    account_id: str
    """The official account's id (ToUserName); passive replies come from it."""
    dedup_key: str
    """MsgId for messages, ``f"{openid}:{CreateTime}"`` (+ event) for events."""
    received_at: datetime
    """CreateTime as an aware UTC datetime."""
    kind: MessageKind
    text: str = ""
    """Text content, or the link title for LINK."""
    media_id: str | None = None
    """MediaId of an image or voice message."""
    picture_url: str | None = None
    voice_format: str | None = None
    asr_hint: str | None = None
    """WeChat's own Recognition of a voice message, when present (a hint only)."""
    latitude: float | None = None
    longitude: float | None = None
    label: str | None = None
    """Address label of a location message."""
    url: str | None = None
    event: EventKind | None = None
    event_key: str | None = None
    """QR scene (``qrscene_`` prefix removed) or menu key."""
    extra: dict[str, str] = field(default_factory=dict)
    """Remaining raw fields, e.g. a template job's Status."""


@dataclass(frozen=True, slots=True)
class Reply:
    """Something to say: a response key and its parameters, rendered in the resident's language."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RenderedReply:
    """A reply rendered to text in one language, ready for a transport."""

    text: str
