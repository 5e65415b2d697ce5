"""Temporary media: what the store keeps, format sniffing and a placeholder picture."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

CONTENT_TYPES: dict[str, str] = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "webp": "image/webp",
    "amr": "audio/amr",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "ogg": "audio/ogg",
    "webm": "audio/webm",
    "m4a": "audio/mp4",
    "speex": "audio/speex",
    "mp4": "video/mp4",
}
IMAGE_FORMATS = frozenset({"jpg", "png", "gif", "bmp", "webp"})
AUDIO_FORMATS = frozenset({"amr", "mp3", "wav", "ogg", "webm", "m4a", "speex"})
EXTENSION_ALIASES = {"jpeg": "jpg", "oga": "ogg", "opus": "ogg", "mpeg": "mp3", "spx": "speex"}


@dataclass(slots=True)
class MediaItem:
    """One piece of temporary media (uploaded by the bot or by a resident)."""

    media_id: str
    data: bytes
    kind: str
    """image, voice, video or thumb."""
    fmt: str
    """File format (extension without dot), e.g. amr, mp3, jpg."""
    created_at: float
    preview_media_id: str | None = None
    """A browser-playable copy (WAV of an AMR voice message, or the original recording)."""

    @property
    def content_type(self) -> str:
        """MIME type derived from the format."""
        return CONTENT_TYPES.get(self.fmt, "application/octet-stream")

    @property
    def filename(self) -> str:
        """What Content-disposition announces, like WeChat: `<media_id>.<fmt>`."""
        return f"{self.media_id}.{self.fmt}"


def sniff(data: bytes) -> str | None:
    """Format from the first bytes, or None when unrecognised."""
    head = data[:16]
    checks: list[tuple[bool, str]] = [
        (head.startswith(b"\x89PNG\r\n\x1a\n"), "png"),
        (head.startswith(b"\xff\xd8\xff"), "jpg"),
        (head.startswith(b"GIF8"), "gif"),
        (head.startswith(b"BM"), "bmp"),
        (head.startswith(b"RIFF") and head[8:12] == b"WEBP", "webp"),
        (head.startswith(b"RIFF") and head[8:12] == b"WAVE", "wav"),
        (head.startswith(b"#!AMR"), "amr"),
        (head.startswith(b"ID3"), "mp3"),
        (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0, "mp3"),
        (head.startswith(b"OggS"), "ogg"),
        (head.startswith(b"\x1aE\xdf\xa3"), "webm"),
        (head[4:8] == b"ftyp", "m4a"),
    ]
    return next((fmt for matched, fmt in checks if matched), None)


def extension_format(filename: str | None) -> str | None:
    """Format from a file name's extension, normalised (jpeg → jpg)."""
    if not filename or "." not in filename:
        return None
    ext = filename.rsplit(".", 1)[1].lower()
    ext = EXTENSION_ALIASES.get(ext, ext)
    return ext if ext in CONTENT_TYPES else None


def detect_format(
    data: bytes, filename: str | None, content_type: str | None = None
) -> str | None:
    """Sniffed format first (content beats names), then extension, then MIME type."""
    found = sniff(data) or extension_format(filename)
    if found is None and content_type:
        base = content_type.split(";", 1)[0].strip().lower()
        found = next((fmt for fmt, mime in CONTENT_TYPES.items() if mime == base), None)
    return found


def kind_of(fmt: str) -> str | None:
    """image or voice for formats a resident can send, else None."""
    if fmt in IMAGE_FORMATS:
        return "image"
    if fmt in AUDIO_FORMATS:
        return "voice"
    return None


def placeholder_png(rgb: tuple[int, int, int] = (214, 120, 58), size: int = 48) -> bytes:
    """A small solid-colour PNG, for image messages sent without a picture."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    row = b"\x00" + bytes(rgb) * size
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * size))
        + chunk(b"IEND", b"")
    )
