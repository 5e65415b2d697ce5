"""Hearing voice messages: download (with retries), keep the original, convert, recognise, and
record every failure instead of raising. Real ffmpeg and Whisper; media from the fixtures."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.messages import InboundMessage, MessageKind
from bot.settings import PROJECT_ROOT, Settings, VoiceAsr
from bot.voice import wiring
from bot.voice.inbox import MediaStore, VoiceInbox
from governance.clock import ManualClock
from governance.petitions.models import VoiceRecordingProblem
from voice.recognizer import NoRecognizer, WeChatHintRecognizer, WhisperRecognizer

FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "voice"


class FlakyMedia:
    """WeChat's media API answering from the fixtures, failing the first `failures` calls."""

    def __init__(self, failures: int = 0, *, retryable: bool = True) -> None:
        self.failures = failures
        self.retryable = retryable
        self.calls = 0

    async def download_media(self, media_id: str) -> tuple[bytes, str]:
        self.calls += 1
        if self.calls <= self.failures:
            error = ConnectionError("media API busy")
            error.retryable = self.retryable  # type: ignore[attr-defined]
            raise error
        return (FIXTURES / media_id).read_bytes(), "audio/amr"


def _message(
    media_id: str, voice_format: str | None = "amr", hint: str | None = None
) -> InboundMessage:
    return InboundMessage(
        user_id="o-inbox",
        account_id="gh",
        dedup_key=media_id,
        received_at=datetime(2026, 11, 22, 2, 0, tzinfo=UTC),
        kind=MessageKind.VOICE,
        media_id=media_id,
        voice_format="amr",
        asr_hint=hint,
    )


def _inbox(settings: Settings, tmp_path: Path, clock: ManualClock, media: object) -> VoiceInbox:
    return VoiceInbox(
        media=media,  # type: ignore[arg-type]
        store=MediaStore(tmp_path),
        recognition=wiring.recognition(settings.voice),
        clock=clock,
    )


def test_the_media_store_keeps_files_inside_its_directory(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    path = store.save("audio/20261122/a.amr", b"#!AMR\n")
    assert store.read(path) == b"#!AMR\n"
    assert store.path(path) == (tmp_path / "media" / "audio/20261122/a.amr").resolve()
    for escape in ("../secret.txt", "/etc/passwd", "audio/../../x"):
        with pytest.raises(ValueError, match="outside the media directory"):
            store.path(escape)


async def test_a_mandarin_message_is_stored_converted_and_recognised(
    settings: Settings, tmp_path: Path, clock: ManualClock
) -> None:
    inbox = _inbox(settings, tmp_path, clock, FlakyMedia(failures=1))
    heard = await inbox.hear(_message("zh_booking.amr"), recognise=True)
    recording = heard.recording
    assert recording.problem is None
    assert recording.original_path is not None
    assert recording.original_path.startswith("audio/20261122/")
    assert (tmp_path / recording.original_path).read_bytes() == (
        FIXTURES / "zh_booking.amr"
    ).read_bytes()
    assert (tmp_path / str(recording.mp3_path)).stat().st_size > 0
    assert (tmp_path / str(recording.wav_path)).read_bytes()[:4] == b"RIFF"
    assert recording.duration_seconds is not None
    assert recording.duration_seconds > 5
    assert heard.trusted is True
    assert recording.engine == "whisper"
    assert "送餐" in heard.text
    assert recording.transcript == heard.text


async def test_recognition_is_skipped_when_asked_and_bad_audio_is_recorded_not_raised(
    settings: Settings, tmp_path: Path, clock: ManualClock
) -> None:
    inbox = _inbox(settings, tmp_path, clock, FlakyMedia())
    skipped = await inbox.hear(_message("zh_booking.amr"), recognise=False)
    assert (skipped.trusted, skipped.transcript, skipped.recording.engine) == (False, None, "none")
    assert skipped.recording.mp3_path is not None
    garbage = await inbox.hear(_message("garbage.amr"), recognise=True)
    assert garbage.recording.problem == VoiceRecordingProblem.UNCONVERTIBLE
    assert garbage.recording.original_path is not None, "the original is kept for a person"
    assert garbage.recording.mp3_path is None
    noise = await inbox.hear(_message("noise.amr"), recognise=True)
    assert noise.recording.problem is None
    assert noise.trusted is False


async def test_a_download_is_retried_then_given_up_without_losing_the_message(
    settings: Settings, tmp_path: Path, clock: ManualClock
) -> None:
    media = FlakyMedia(failures=10)
    heard = await _inbox(settings, tmp_path, clock, media).hear(
        _message("zh_booking.amr"), recognise=True
    )
    assert media.calls == 3
    assert heard.recording.problem == VoiceRecordingProblem.DOWNLOAD_FAILED
    assert heard.recording.media_id == "zh_booking.amr"
    expired = FlakyMedia(failures=10, retryable=False)
    await _inbox(settings, tmp_path, clock, expired).hear(_message("x.amr"), recognise=True)
    assert expired.calls == 1, "expired media (40007) is not retried"
    nothing = await _inbox(settings, tmp_path, clock, None).hear(
        _message("zh_booking.amr"), recognise=True
    )
    assert nothing.recording.problem == VoiceRecordingProblem.DOWNLOAD_FAILED


def test_the_recogniser_follows_the_settings(settings: Settings) -> None:
    whisper = wiring.recognition(settings.voice)
    assert isinstance(whisper.primary, WhisperRecognizer)
    assert isinstance(whisper.fallback, WeChatHintRecognizer)
    assert whisper.thresholds.min_avg_logprob == settings.voice.min_avg_logprob
    settings.voice.asr = VoiceAsr.WECHAT
    assert isinstance(wiring.recognition(settings.voice).primary, WeChatHintRecognizer)
    settings.voice.asr = VoiceAsr.NONE
    assert isinstance(wiring.recognition(settings.voice).primary, NoRecognizer)


async def test_with_wechat_recognition_the_hint_is_the_transcript(
    settings: Settings, tmp_path: Path, clock: ManualClock
) -> None:
    settings.voice.asr = VoiceAsr.WECHAT
    inbox = _inbox(settings, tmp_path, clock, FlakyMedia())
    heard = await inbox.hear(_message("noise.amr", hint="路燈壞了"), recognise=True)
    assert heard.recording.engine == "wechat"
    assert heard.text == "路灯坏了", "WeChat's hint is converted to Simplified Chinese"
    assert heard.trusted is True
