"""Passive reply XML and byte-budget text splitting for WeChat (official account and WeCom).

Passive replies cost no quota but carry about 2048 bytes of text; longer answers are split here
and the rest goes out through the customer-service API.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from datetime import datetime

PASSIVE_TEXT_LIMIT_BYTES = 2048
DECLINE = "success"
"""Body that tells WeChat "no passive reply" (the answer follows via the API)."""

# Characters XML 1.0 cannot carry at all, not even inside CDATA.
_XML_INVALID_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Sentence ends: Chinese/Latin punctuation and the Tibetan shad marks (U+0F0D-U+0F12).
_SENTENCE_END_RE = re.compile("(?<=[\u3002\uff01\uff1f\uff1b!?;\u0f0d-\u0f12])")
# Tibetan tsheg (syllable separator) and spaces: the last soft break before splitting letters.
_WORD_END_RE = re.compile(r"(?<=[\u0f0b\u0f0c ])")


def cdata(value: str) -> str:
    """Wrap `value` in CDATA, splitting any `]]>` so the section cannot be closed early."""
    safe = _XML_INVALID_RE.sub("", value).replace("]]>", "]]]]><![CDATA[>")
    return f"<![CDATA[{safe}]]>"


def _create_time(created: datetime) -> int:
    if created.tzinfo is None:
        raise ValueError("created must be timezone-aware")
    return int(created.timestamp())


def _envelope(to_user: str, from_user: str, created: datetime, msg_type: str, body: str) -> str:
    return (
        "<xml>"
        f"<ToUserName>{cdata(to_user)}</ToUserName>"
        f"<FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{_create_time(created)}</CreateTime>"
        f"<MsgType>{cdata(msg_type)}</MsgType>"
        f"{body}"
        "</xml>"
    )


def passive_text_xml(to_user: str, from_user: str, content: str, created: datetime) -> str:
    """A passive text reply; `to_user` is the resident's openid, `from_user` the account id."""
    return _envelope(to_user, from_user, created, "text", f"<Content>{cdata(content)}</Content>")


def passive_voice_xml(to_user: str, from_user: str, media_id: str, created: datetime) -> str:
    """A passive voice reply pointing at uploaded temporary media."""
    body = f"<Voice><MediaId>{cdata(media_id)}</MediaId></Voice>"
    return _envelope(to_user, from_user, created, "voice", body)


def passive_image_xml(to_user: str, from_user: str, media_id: str, created: datetime) -> str:
    """A passive image reply pointing at uploaded temporary media."""
    body = f"<Image><MediaId>{cdata(media_id)}</MediaId></Image>"
    return _envelope(to_user, from_user, created, "image", body)


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def split_text_for_wechat(text: str, limit_bytes: int = PASSIVE_TEXT_LIMIT_BYTES) -> list[str]:
    """Split into chunks of at most `limit_bytes` UTF-8 bytes, preferring paragraph, line,
    sentence and syllable boundaries; never inside a character or a combining sequence."""
    if limit_bytes < 16:
        raise ValueError("limit_bytes is too small to hold a character cluster")
    text = text.strip()
    if not text:
        return []
    return [chunk for chunk in _split(text, limit_bytes, 0) if chunk]


_LEVELS: tuple[tuple[str, re.Pattern[str] | None], ...] = (
    ("\n\n", None),  # paragraphs: the separator is dropped at a chunk boundary
    ("\n", None),  # lines
    ("", _SENTENCE_END_RE),  # sentences: punctuation stays with its sentence
    ("", _WORD_END_RE),  # Tibetan syllables / words
)


def _split(text: str, limit: int, level: int) -> list[str]:
    if utf8_len(text) <= limit:
        return [text.strip()]
    if level >= len(_LEVELS):
        return _split_clusters(text, limit)
    separator, pattern = _LEVELS[level]
    parts = pattern.split(text) if pattern is not None else text.split(separator)
    chunks: list[str] = []
    current = ""
    for part in parts:
        candidate = f"{current}{separator}{part}" if current else part
        if utf8_len(candidate) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current.strip())
        if utf8_len(part) <= limit:
            current = part
        else:
            pieces = _split(part, limit, level + 1)
            chunks.extend(pieces[:-1])
            current = pieces[-1] if pieces else ""
    if current:
        chunks.append(current.strip())
    return chunks


def _clusters(text: str) -> Iterator[str]:
    """Base characters with their combining marks (Tibetan subjoined letters, vowel signs)."""
    cluster = ""
    for char in text:
        zwj = "\u200d"
        joins = unicodedata.category(char)[0] == "M" or char == zwj or cluster[-1:] == zwj
        if cluster and not joins:
            yield cluster
            cluster = ""
        cluster += char
    if cluster:
        yield cluster


def _split_clusters(text: str, limit: int) -> list[str]:
    chunks: list[str] = []
    current = ""
    for cluster in _clusters(text):
        if utf8_len(cluster) > limit:  # absurd run of combining marks: fall back to code points
            chunks.extend(_split_clusters_by_char(current + cluster, limit))
            current = chunks.pop() if chunks else ""
            continue
        if current and utf8_len(current) + utf8_len(cluster) > limit:
            chunks.append(current)
            current = ""
        current += cluster
    if current:
        chunks.append(current)
    return chunks


def _split_clusters_by_char(text: str, limit: int) -> list[str]:
    chunks: list[str] = []
    current = ""
    for char in text:
        if current and utf8_len(current) + utf8_len(char) > limit:
            chunks.append(current)
            current = ""
        current += char
    if current:
        chunks.append(current)
    return chunks
