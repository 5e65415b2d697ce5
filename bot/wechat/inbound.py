"""WeChat callback XML → `InboundMessage`: the only place that reads message XML.

Parsing is wechatpy's (xmltodict with entity declarations refused); DTDs are also refused here
before any parser runs, so XXE and entity-expansion payloads never reach expat.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import wechatpy
import wechatpy.enterprise
from wechatpy import events as wx_events
from wechatpy import messages as wx_messages

from bot.messages import EventKind, InboundMessage, MessageKind
from bot.wechat.security import CallbackRejected, has_dtd

MAX_TEXT_CHARS = 2000
"""Longer text is cut: nobody dictates a petition in one message, and NLU cost grows with it."""

_CREATE_TIME_RE = re.compile(r"[0-9]{1,11}")
"""ASCII seconds since 1970 (11 digits reach year 5138): `str.isdigit` also accepts "²" or
"١", and a 20-digit value overflows `datetime.fromtimestamp`."""

_STANDARD_FIELDS = frozenset({"ToUserName", "FromUserName", "CreateTime", "MsgType", "MsgId"})


class InboundParseError(CallbackRejected, ValueError):
    """The XML is malformed, unsafe, or lacks the envelope fields every callback carries.

    A CallbackRejected with status 400, so the route answers it like any refused callback.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason, 400)


def normalise_text(value: str, limit: int = MAX_TEXT_CHARS) -> str:
    """NFC, CR or CRLF → newline (as XML does), other controls dropped, tab → space, capped."""
    text = unicodedata.normalize("NFC", value).replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\t", " ")
    text = "".join(
        char for char in text if char == "\n" or unicodedata.category(char) not in ("Cc", "Cs")
    ).strip()
    if len(text) > limit:
        cut = limit
        # Never cut a Tibetan stack or a base letter from its combining marks.
        while cut > 0 and unicodedata.category(text[cut])[0] == "M":
            cut -= 1
        text = text[:cut].rstrip()
    return text


def parse_inbound(xml: str) -> InboundMessage:
    """Parse an official-account callback (message or event)."""
    return _parse(xml, wechatpy.parse_message)


def parse_wecom_inbound(xml: str) -> InboundMessage:
    """Parse a WeCom app callback: user_id is the staff UserID, account_id the corp id."""
    return _parse(xml, wechatpy.enterprise.parse_message)


def _parse(xml: str, parser: Callable[[str], Any]) -> InboundMessage:
    if has_dtd(xml):
        raise InboundParseError("DTD or entity declaration in XML")
    try:
        message = parser(xml)
    except Exception as exc:  # expat errors, entity refusal, missing MsgType/Event, odd shapes
        raise InboundParseError(f"cannot parse callback XML ({type(exc).__name__})") from None
    if message is None:
        raise InboundParseError("empty callback")
    data: dict[str, Any] = message._data
    user_id = _text(data.get("FromUserName"))
    account_id = _text(data.get("ToUserName"))
    create_time = _text(data.get("CreateTime"))
    if not user_id or not account_id or not _CREATE_TIME_RE.fullmatch(create_time):
        raise InboundParseError("FromUserName, ToUserName and a numeric CreateTime are required")
    try:
        received_at = datetime.fromtimestamp(int(create_time), tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise InboundParseError("CreateTime out of range") from None
    base = {"user_id": user_id, "account_id": account_id, "received_at": received_at}
    if _text(data.get("MsgType")).lower() == "event":
        return _event(message, data, base, create_time)
    return _message(message, data, base, create_time)


def _message(
    message: Any, data: dict[str, Any], base: dict[str, Any], create_time: str
) -> InboundMessage:
    msg_id = _text(data.get("MsgId"))
    dedup_key = f"msg:{msg_id}" if msg_id else f"msg:{base['user_id']}:{create_time}"
    extra = _extra(data, ("AgentID",))
    if isinstance(message, wx_messages.TextMessage):
        return InboundMessage(
            **base,
            dedup_key=dedup_key,
            kind=MessageKind.TEXT,
            text=normalise_text(_text(data.get("Content"))),
            extra=extra,
        )
    if isinstance(message, wx_messages.ImageMessage):
        return InboundMessage(
            **base,
            dedup_key=dedup_key,
            kind=MessageKind.IMAGE,
            media_id=_opt(data.get("MediaId")),
            picture_url=_opt(data.get("PicUrl")),
            extra=extra,
        )
    if isinstance(message, wx_messages.VoiceMessage):
        recognition = normalise_text(_text(data.get("Recognition")))
        return InboundMessage(
            **base,
            dedup_key=dedup_key,
            kind=MessageKind.VOICE,
            media_id=_opt(data.get("MediaId")),
            voice_format=_opt(data.get("Format")),
            asr_hint=recognition or None,
            extra=extra,
        )
    if isinstance(message, wx_messages.LocationMessage):
        return InboundMessage(
            **base,
            dedup_key=dedup_key,
            kind=MessageKind.LOCATION,
            latitude=_float(data.get("Location_X")),
            longitude=_float(data.get("Location_Y")),
            label=normalise_text(_text(data.get("Label")), 200) or None,
            extra={**extra, **_extra(data, ("Scale",))},
        )
    if isinstance(message, wx_messages.LinkMessage):
        return InboundMessage(
            **base,
            dedup_key=dedup_key,
            kind=MessageKind.LINK,
            text=normalise_text(_text(data.get("Title"))),
            url=_opt(data.get("Url")),
            extra={**extra, **_extra(data, ("Description",))},
        )
    return InboundMessage(
        **base,
        dedup_key=dedup_key,
        kind=MessageKind.UNKNOWN,
        media_id=_opt(data.get("MediaId")),
        extra=_remaining(data),
    )


def _event(
    message: Any, data: dict[str, Any], base: dict[str, Any], create_time: str
) -> InboundMessage:
    # wechatpy rewrites Event to subscribe_scan(_product) and strips "qrscene_" from EventKey.
    raw_event = _text(data.get("Event")).lower()
    kind = EventKind.OTHER
    event_key: str | None = _opt(data.get("EventKey"))
    url: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    extra = _extra(data, ("AgentID",))
    if isinstance(message, wx_events.SubscribeScanEvent) or raw_event == "subscribe_scan_product":
        kind = EventKind.SUBSCRIBE
        extra.update(_extra(data, ("Ticket",)))
    elif isinstance(message, wx_events.SubscribeEvent):
        kind = EventKind.SUBSCRIBE
    elif isinstance(message, wx_events.UnsubscribeEvent):
        kind = EventKind.UNSUBSCRIBE
    elif isinstance(message, wx_events.ScanEvent):
        kind = EventKind.SCAN
        extra.update(_extra(data, ("Ticket",)))
    elif isinstance(message, wx_events.ClickEvent):
        kind = EventKind.CLICK
    elif isinstance(message, wx_events.ViewEvent):
        kind = EventKind.VIEW
        url = event_key
        extra.update(_extra(data, ("MenuId",)))
    elif isinstance(message, wx_events.TemplateSendJobFinishEvent):
        kind = EventKind.TEMPLATE_SEND_JOB_FINISH
        extra.update(_extra(data, ("Status", "MsgID")))
    elif isinstance(message, wx_events.LocationEvent):
        kind = EventKind.LOCATION_REPORT
        latitude = _float(data.get("Latitude"))
        longitude = _float(data.get("Longitude"))
        extra.update(_extra(data, ("Precision",)))
    else:
        extra = _remaining(data)
    name = raw_event if kind is EventKind.OTHER else kind.value
    dedup_key = f"evt:{base['user_id']}:{create_time}:{name}"
    if kind is EventKind.TEMPLATE_SEND_JOB_FINISH and extra.get("MsgID"):
        # Two pushes to one user can finish within the same second.
        dedup_key += f":{extra['MsgID']}"
    return InboundMessage(
        **base,
        dedup_key=dedup_key,
        kind=MessageKind.EVENT,
        event=kind,
        event_key=event_key,
        url=url,
        latitude=latitude,
        longitude=longitude,
        extra=extra,
    )


def _text(value: Any) -> str:
    """A leaf element's text; elements with children/attributes or repeated ones count as empty."""
    return value.strip() if isinstance(value, str) else ""


def _opt(value: Any) -> str | None:
    return _text(value) or None


def _float(value: Any) -> float | None:
    try:
        number = float(_text(value))
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def _extra(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    return {name: _text(data[name]) for name in names if _text(data.get(name))}


def _remaining(data: dict[str, Any]) -> dict[str, str]:
    """Raw leaf fields of a message type we do not handle, for logs and later handling."""
    return {
        name: _text(value)
        for name, value in data.items()
        if name not in _STANDARD_FIELDS and isinstance(value, str) and _text(value)
    }
