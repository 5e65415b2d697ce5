"""Turn a resident's audio file (or browser recording) into what WeChat would deliver: AMR-NB.

WeChat records voice messages as 8 kHz AMR-NB (or Speex) of at most 60 seconds. Uploads in
those formats are kept as they are; anything else (webm/ogg from the browser's MediaRecorder,
mp3, wav, m4a) is decoded with ffmpeg and encoded with sox, as WeChat's own client would.
Browsers cannot play AMR, so the chat page gets a WAV preview for such files.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

WECHAT_VOICE_FORMATS = frozenset({"amr", "speex"})
MAX_VOICE_SECONDS = 60
TOOL_TIMEOUT_SECONDS = 60


class AudioConversionError(ValueError):
    """The upload is not audio ffmpeg can decode."""


def _run(command: list[str]) -> None:
    try:
        completed = subprocess.run(
            command, capture_output=True, timeout=TOOL_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise AudioConversionError(f"{command[0]} failed: {error}") from error
    if completed.returncode != 0:
        detail = completed.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
        raise AudioConversionError(f"{command[0]} could not convert the audio: {detail}")


def _decode_to_wav(data: bytes, fmt: str, workdir: Path, *, rate: int) -> Path:
    """ffmpeg: any audio → mono 16-bit WAV at `rate`, cut to WeChat's 60 seconds."""
    source = workdir / f"input.{fmt or 'bin'}"
    source.write_bytes(data)
    target = workdir / f"decoded-{rate}.wav"
    command = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(source)]
    command += ["-t", str(MAX_VOICE_SECONDS), "-ac", "1", "-ar", str(rate), "-sample_fmt", "s16"]
    _run([*command, str(target)])
    if target.stat().st_size <= 44:
        raise AudioConversionError("the audio holds no sound")
    return target


def to_wechat_amr(data: bytes, fmt: str) -> bytes:
    """AMR-NB 8 kHz mono, like a voice message recorded in WeChat (`sox … -t amr-nb`)."""
    with tempfile.TemporaryDirectory(prefix="sim-voice-") as folder:
        workdir = Path(folder)
        wav = _decode_to_wav(data, fmt, workdir, rate=8000)
        target = workdir / "voice.amr"
        _run(["sox", str(wav), "-r", "8000", "-c", "1", "-t", "amr-nb", str(target)])
        return target.read_bytes()


def to_preview_wav(data: bytes, fmt: str) -> bytes:
    """A browser-playable WAV of an AMR/Speex voice message for the chat page."""
    with tempfile.TemporaryDirectory(prefix="sim-voice-") as folder:
        workdir = Path(folder)
        demuxer = "ogg" if fmt == "speex" else fmt
        return _decode_to_wav(data, demuxer, workdir, rate=16000).read_bytes()
