"""Hearing a voice message: download it at once, keep the original, convert, recognise.

Runs inside the resident's turn (under the per-user lock). Nothing here decides what to say:
the result (`HeardVoice`) goes to the dialogue, which stores the recording row together with
whatever the message leads to (a read-back or a voice petition).
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.messages import InboundMessage
from bot.voice.heard import HeardVoice
from governance.clock import LOCAL_TZ, Clock
from governance.petitions.models import VoiceRecordingProblem
from governance.petitions.voice import NewRecording
from voice.audio import AudioError, ConvertedAudio, convert
from voice.recognizer import SpeechRecognizer, Thresholds, Transcript, trusted

log = logging.getLogger(__name__)

DOWNLOAD_ATTEMPTS = 3
DOWNLOAD_RETRY_SECONDS = 0.5
MAX_DOWNLOAD_BYTES = 10 * 1024 * 1024
"""WeChat voice messages are at most 60 s of AMR (~100 KB); anything far larger is refused."""
FORMAT_BY_CONTENT_TYPE = {
    "audio/amr": "amr",
    "audio/amr-wb": "amr",
    "audio/speex": "speex",
    "audio/x-speex": "speex",
    "audio/ogg": "ogg",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/webm": "webm",
    "audio/mp4": "m4a",
}


class MediaSource(Protocol):
    """Where voice media comes from: WeChat's temporary-media API (the simulator in tests)."""

    async def download_media(self, media_id: str) -> tuple[bytes, str]: ...


class MediaStore:
    """Files under the media directory; the database stores only the relative paths."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def save(self, relative: str, data: bytes) -> str:
        """Write `data` at `relative` (atomically: a temp file renamed into place)."""
        target = self.path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        temp.write_bytes(data)
        temp.replace(target)
        return relative

    def path(self, relative: str) -> Path:
        """The absolute path of a stored file; refuses anything outside the media directory."""
        root = self.root.resolve()
        target = (root / relative).resolve()
        if not target.is_relative_to(root):
            raise ValueError(f"{relative!r} is outside the media directory")
        return target

    def read(self, relative: str) -> bytes:
        return self.path(relative).read_bytes()


@dataclass(frozen=True, slots=True)
class Recognition:
    """The configured recogniser and the one to fall back on (WeChat's hint) when it fails."""

    primary: SpeechRecognizer
    fallback: SpeechRecognizer | None
    thresholds: Thresholds


class VoiceInbox:
    def __init__(
        self,
        *,
        media: MediaSource | None,
        store: MediaStore,
        recognition: Recognition,
        clock: Clock,
    ) -> None:
        self._media = media
        self._store = store
        self._recognition = recognition
        self._clock = clock

    @property
    def store(self) -> MediaStore:
        return self._store

    async def hear(self, message: InboundMessage, *, recognise: bool) -> HeardVoice:
        """Download, store, convert and (when `recognise`) recognise one voice message.

        Never raises for bad input: a download failure or undecodable audio is recorded as the
        recording's `problem`, and the dialogue sends the message to a person.
        """
        downloaded = await self._download(message.media_id)
        if downloaded is None:
            return HeardVoice(
                NewRecording(
                    openid=message.user_id,
                    media_id=message.media_id or "",
                    original_format=_format(message.voice_format, None),
                    problem=VoiceRecordingProblem.DOWNLOAD_FAILED,
                )
            )
        data, content_type = downloaded
        fmt = _format(message.voice_format, content_type)
        stem = f"audio/{self._clock.now().astimezone(LOCAL_TZ):%Y%m%d}/{uuid.uuid4().hex}"
        original_path = await asyncio.to_thread(self._store.save, f"{stem}.{fmt or 'bin'}", data)
        try:
            converted = await asyncio.to_thread(convert, data, fmt or None)
        except AudioError as error:
            log.warning("voice %s from %s is not decodable: %s", message.media_id, fmt, error)
            return HeardVoice(
                NewRecording(
                    openid=message.user_id,
                    media_id=message.media_id or "",
                    original_path=original_path,
                    original_format=fmt,
                    problem=VoiceRecordingProblem.UNCONVERTIBLE,
                )
            )
        mp3_path, wav_path = await asyncio.to_thread(self._save_converted, stem, converted)
        transcript = await self._recognise(converted.wav, message.asr_hint) if recognise else None
        is_trusted = trusted(transcript, self._recognition.thresholds)
        return HeardVoice(
            NewRecording(
                openid=message.user_id,
                media_id=message.media_id or "",
                original_path=original_path,
                original_format=fmt,
                mp3_path=mp3_path,
                wav_path=wav_path,
                duration_seconds=round(converted.duration_seconds, 3),
                transcript=transcript.text if transcript else "",
                language=transcript.language if transcript else None,
                language_probability=transcript.language_probability if transcript else None,
                avg_logprob=transcript.avg_logprob if transcript else None,
                no_speech_prob=transcript.no_speech_prob if transcript else None,
                engine=transcript.engine if transcript else "none",
                trusted=is_trusted,
            ),
            transcript,
            is_trusted,
        )

    async def _download(self, media_id: str | None) -> tuple[bytes, str] | None:
        """The media now (it expires after 3 days); retried briefly; None when it cannot be had."""
        if self._media is None or not media_id:
            return None
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            try:
                data, content_type = await self._media.download_media(media_id)
            except Exception as error:
                retryable = bool(getattr(error, "retryable", True))
                log.warning(
                    "voice media %s download attempt %s failed: %s", media_id, attempt, error
                )
                if not retryable or attempt == DOWNLOAD_ATTEMPTS:
                    return None
                await asyncio.sleep(DOWNLOAD_RETRY_SECONDS * attempt)
                continue
            if not data or len(data) > MAX_DOWNLOAD_BYTES:
                log.warning("voice media %s has %s bytes: refused", media_id, len(data))
                return None
            return data, content_type
        return None

    def _save_converted(self, stem: str, converted: ConvertedAudio) -> tuple[str, str]:
        return (
            self._store.save(f"{stem}.mp3", converted.mp3),
            self._store.save(f"{stem}.wav", converted.wav),
        )

    async def _recognise(self, wav: bytes, hint: str | None) -> Transcript | None:
        """The primary recogniser; on failure WeChat's hint (when configured)."""
        recognition = self._recognition
        try:
            return await recognition.primary.recognise(wav, hint=hint)
        except Exception:
            log.exception("speech recognition (%s) failed", recognition.primary.name)
        if recognition.fallback is None:
            return None
        try:
            return await recognition.fallback.recognise(wav, hint=hint)
        except Exception:
            log.exception("fallback recognition (%s) failed", recognition.fallback.name)
            return None


def _format(voice_format: str | None, content_type: str | None) -> str:
    """WeChat's Format field (amr, speex) first, then the download's content type."""
    if voice_format:
        return voice_format.strip().lower()[:16]
    if content_type:
        base = content_type.split(";")[0].strip().lower()
        known = FORMAT_BY_CONTENT_TYPE.get(base)
        if known:
            return known
        guessed = mimetypes.guess_extension(base)
        if guessed:
            return guessed.lstrip(".")[:16]
    return ""
