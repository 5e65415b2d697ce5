"""Building the XML WeChat and WeCom post, and reading the XML replies they get back."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

XmlValue = str | int | float
MAX_REPLY_BYTES = 256 * 1024


class XmlError(ValueError):
    """A reply that is not the XML the platform expects."""


def cdata(text: str) -> str:
    """Wrap text in CDATA, splitting any `]]>` it contains."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def build_xml(fields: list[tuple[str, XmlValue]]) -> str:
    """A flat `<xml>` document: numbers bare, strings in CDATA (as WeChat sends them)."""
    parts = ["<xml>"]
    for name, value in fields:
        rendered = str(value) if isinstance(value, int | float) else cdata(value)
        parts.append(f"<{name}>{rendered}</{name}>")
    parts.append("</xml>")
    return "".join(parts)


def parse_xml(body: bytes | str) -> ET.Element:
    """Parse a reply; refuses oversized bodies and DOCTYPEs (no entity games)."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if len(raw) > MAX_REPLY_BYTES:
        raise XmlError("reply too large")
    if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
        raise XmlError("DOCTYPE/ENTITY not allowed")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise XmlError(f"malformed XML: {exc}") from exc
    if root.tag != "xml":
        raise XmlError("root element is not <xml>")
    return root


def text_of(element: ET.Element, path: str) -> str | None:
    """Text of a child element, or None when absent."""
    child = element.find(path)
    if child is None:
        return None
    return child.text or ""


@dataclass(frozen=True, slots=True)
class EncryptedEnvelope:
    """The outer XML of an encrypted passive reply."""

    encrypt: str
    msg_signature: str
    timestamp: str
    nonce: str


def parse_encrypted_envelope(root: ET.Element) -> EncryptedEnvelope | None:
    """Envelope fields when the reply is encrypted, else None."""
    encrypt = text_of(root, "Encrypt")
    if encrypt is None:
        return None
    return EncryptedEnvelope(
        encrypt=encrypt,
        msg_signature=text_of(root, "MsgSignature") or "",
        timestamp=text_of(root, "TimeStamp") or "",
        nonce=text_of(root, "Nonce") or "",
    )


@dataclass(frozen=True, slots=True)
class Article:
    """One item of a news reply."""

    title: str
    description: str
    url: str
    picurl: str

    def to_json(self) -> dict[str, str]:
        """JSON shape used in inboxes."""
        return {
            "title": self.title,
            "description": self.description,
            "url": self.url,
            "picurl": self.picurl,
        }


@dataclass(frozen=True, slots=True)
class PassiveReply:
    """A decoded passive reply (text, image, voice, video, music or news)."""

    to_user: str
    from_user: str
    msgtype: str
    content: str | None = None
    media_id: str | None = None
    title: str | None = None
    description: str | None = None
    url: str | None = None
    articles: list[Article] = field(default_factory=list)


def parse_passive_reply(root: ET.Element) -> PassiveReply:
    """Read the plaintext reply XML the bot answered with."""
    msgtype = text_of(root, "MsgType")
    if not msgtype:
        raise XmlError("reply has no MsgType")
    to_user = text_of(root, "ToUserName") or ""
    from_user = text_of(root, "FromUserName") or ""
    if msgtype == "text":
        content = text_of(root, "Content")
        if content is None:
            raise XmlError("text reply without Content")
        return PassiveReply(to_user, from_user, msgtype, content=content)
    if msgtype in ("image", "voice", "video"):
        container = root.find(msgtype.capitalize())
        media_id = text_of(container, "MediaId") if container is not None else None
        if not media_id:
            raise XmlError(f"{msgtype} reply without MediaId")
        title = text_of(container, "Title") if container is not None else None
        description = text_of(container, "Description") if container is not None else None
        return PassiveReply(
            to_user,
            from_user,
            msgtype,
            media_id=media_id,
            title=title,
            description=description,
        )
    if msgtype == "music":
        music = root.find("Music")
        if music is None:
            raise XmlError("music reply without Music")
        return PassiveReply(
            to_user,
            from_user,
            msgtype,
            title=text_of(music, "Title"),
            description=text_of(music, "Description"),
            url=text_of(music, "MusicUrl"),
        )
    if msgtype == "news":
        items = root.findall("Articles/item")
        if not items:
            raise XmlError("news reply without Articles")
        articles = [
            Article(
                title=text_of(item, "Title") or "",
                description=text_of(item, "Description") or "",
                url=text_of(item, "Url") or "",
                picurl=text_of(item, "PicUrl") or "",
            )
            for item in items
        ]
        return PassiveReply(
            to_user,
            from_user,
            msgtype,
            content=articles[0].title,
            url=articles[0].url,
            articles=articles,
        )
    if msgtype == "transfer_customer_service":
        return PassiveReply(to_user, from_user, msgtype)
    raise XmlError(f"unsupported reply MsgType {msgtype!r}")
