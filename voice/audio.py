"""Decode a resident's voice message (AMR, Speex, MP3, …) into 16 kHz WAV and a playable MP3.

ffmpeg does the decoding; pydub holds the samples. WeChat AMR often uses discontinuous
transmission (silence sent as SID/NO_DATA frames), which ffmpeg's AMR decoder rejects with
logged errors: the timestamps fill gaps in the middle and the frame count restores the tail.
Everything here blocks (ffmpeg subprocesses): callers run it in a worker thread.
"""

from __future__ import annotations

import io
import logging
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

from pydub import AudioSegment  # type: ignore[import-untyped]

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
SAMPLE_WIDTH = 2
MP3_BITRATE = "32k"
MAX_INPUT_BYTES = 20 * 1024 * 1024
"""Far above WeChat's 2 MB voice limit; anything bigger is not a voice message."""
MAX_INPUT_SECONDS = 600
"""Longer input is cut: WeChat voice messages last at most 60 s."""
FFMPEG_TIMEOUT_SECONDS = 120

AMR_NB_MAGIC = b"#!AMR\n"
AMR_WB_MAGIC = b"#!AMR-WB\n"
# Payload bytes after the one-byte frame header, by frame type; None marks a reserved type.
_AMR_NB_SIZES: tuple[int | None, ...] = (
    *(12, 13, 15, 17, 19, 20, 26, 31, 5, 6, 5, 5),
    *(None, None, None),
    0,
)
_AMR_WB_SIZES: tuple[int | None, ...] = (
    *(17, 23, 32, 36, 40, 46, 50, 58, 60, 5),
    *(None, None, None, None),
    *(0, 0),
)
_AMR_FRAME_SECONDS = 0.02
# WeChat's Format field and file extensions → the ffmpeg demuxer to force (None: let it probe).
# Speex from WeChat is decodable only inside Ogg; ffmpeg has no raw-Speex demuxer.
_DEMUXERS: dict[str, str | None] = {
    "amr": "amr",
    "amr-nb": "amr",
    "amr-wb": "amr",
    "awb": "amr",
    "speex": "ogg",
    "spx": "ogg",
    "ogg": "ogg",
    "oga": "ogg",
    "opus": "ogg",
    "mp3": "mp3",
    "wav": "wav",
    "webm": "matroska",
    "mkv": "matroska",
    "m4a": "mov",
    "mp4": "mov",
    "aac": "aac",
}


class AudioError(Exception):
    """The bytes are not audio we can decode (empty, garbage, unknown format)."""


@dataclass(frozen=True, slots=True)
class ConvertedAudio:
    wav: bytes
    """16 kHz mono 16-bit PCM WAV, for recognition."""
    mp3: bytes
    """Browser-playable MP3 for staff."""
    duration_seconds: float


def convert(original: bytes, fmt: str | None) -> ConvertedAudio:
    """Decode `original` (fmt: WeChat's Format, a file extension or None) to WAV and MP3.

    Raises AudioError when nothing decodes or the result lasts 0 s.
    """
    segment = decode(original, fmt)
    return ConvertedAudio(
        wav=wav_bytes(segment), mp3=mp3_bytes(segment), duration_seconds=seconds(segment)
    )


def decode(original: bytes, fmt: str | None) -> AudioSegment:
    """The audio as a 16 kHz mono 16-bit pydub segment; AudioError if nothing decodes."""
    if not original:
        raise AudioError("the audio is empty (0 bytes)")
    if len(original) > MAX_INPUT_BYTES:
        raise AudioError(f"the audio is too large ({len(original)} bytes)")
    hint = (fmt or "").strip().lower().lstrip(".")
    forced = _DEMUXERS.get(hint)
    attempts: list[tuple[bytes, str | None]] = [(original, forced)] if forced else []
    attempts.append((original, None))
    # Header-less AMR is not retried with a header added: random bytes would "decode" as noise.
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="minqing-audio-") as tmp:
        for index, (data, demuxer) in enumerate(attempts):
            # AMR whose frames parse cleanly has an exact frame count: the frames ffmpeg drops
            # (DTX) are filled from the timestamps. Corrupted AMR desynchronises the demuxer
            # into junk packets whose timestamps would stretch the audio: those are dropped.
            nominal = amr_frame_seconds(data)
            fill_gaps = nominal is not None or not data.startswith(AMR_NB_MAGIC)
            source = Path(tmp) / f"input-{index}"
            source.write_bytes(data)
            pcm, error = _ffmpeg_pcm(source, demuxer, fill_gaps=fill_gaps)
            if pcm:
                segment = AudioSegment(
                    data=pcm, sample_width=SAMPLE_WIDTH, frame_rate=SAMPLE_RATE, channels=1
                )
                return _pad_to(segment, nominal)
            errors.append(f"{demuxer or 'probe'}: {error}")
    raise AudioError(f"cannot decode the audio (format {hint or 'unknown'}): {'; '.join(errors)}")


def _ffmpeg_pcm(source: Path, demuxer: str | None, *, fill_gaps: bool) -> tuple[bytes, str]:
    """Raw s16le 16 kHz mono PCM from one ffmpeg run, and why not ('' on success).

    Undecodable frames are skipped whatever their share (a mostly silent DTX recording is
    mostly frames ffmpeg cannot decode); with fill_gaps their time becomes silence.
    """
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-max_error_rate", "1"]
    if demuxer:
        command += ["-f", demuxer]
    command += ["-i", str(source), "-vn", "-map", "0:a:0", "-t", str(MAX_INPUT_SECONDS)]
    if fill_gaps:
        # async=1 pads timestamp gaps (frames the decoder dropped) with silence, from t=0.
        command += ["-af", "aresample=async=1:first_pts=0"]
    command += ["-ar", str(SAMPLE_RATE), "-ac", "1", "-c:a", "pcm_s16le", "-f", "s16le", "-"]
    try:
        result = subprocess.run(
            command, capture_output=True, check=False, timeout=FFMPEG_TIMEOUT_SECONDS
        )
    except subprocess.TimeoutExpired:
        return b"", "ffmpeg timed out"
    stderr = result.stderr.decode(errors="replace").strip()
    pcm = result.stdout[: len(result.stdout) // SAMPLE_WIDTH * SAMPLE_WIDTH]
    if result.returncode != 0 or not pcm:
        last = stderr.splitlines()[-1] if stderr else f"exit status {result.returncode}"
        return b"", last if result.returncode else "no audio samples (0 s)"
    if stderr:
        log.info(
            "ffmpeg logged %d error line(s) yet decoded %.2f s; keeping it",
            len(stderr.splitlines()),
            len(pcm) / (SAMPLE_RATE * SAMPLE_WIDTH),
        )
    return pcm, ""


def amr_frame_seconds(data: bytes) -> float | None:
    """Nominal duration of an AMR storage-format file (20 ms per frame), None if not clean AMR."""
    if data.startswith(AMR_WB_MAGIC):
        sizes, index = _AMR_WB_SIZES, len(AMR_WB_MAGIC)
    elif data.startswith(AMR_NB_MAGIC):
        sizes, index = _AMR_NB_SIZES, len(AMR_NB_MAGIC)
    else:
        return None
    frames = 0
    while index < len(data):
        size = sizes[(data[index] >> 3) & 0x0F]
        if size is None:
            return None
        index += 1 + size
        frames += 1
    return frames * _AMR_FRAME_SECONDS if index == len(data) else None


def _pad_to(segment: AudioSegment, nominal: float | None) -> AudioSegment:
    """Pad trailing silence frames ffmpeg dropped, so the length matches the AMR frame count."""
    if nominal is None:
        return segment
    missing_ms = nominal * 1000 - len(segment)
    if missing_ms < 1:
        return segment
    return segment + AudioSegment.silent(duration=missing_ms, frame_rate=SAMPLE_RATE)


def seconds(segment: AudioSegment) -> float:
    """Exact duration from the sample count."""
    return float(segment.frame_count()) / float(segment.frame_rate)


def wav_bytes(segment: AudioSegment) -> bytes:
    """A canonical 16 kHz mono 16-bit PCM WAV file."""
    mono = segment.set_frame_rate(SAMPLE_RATE).set_channels(1).set_sample_width(SAMPLE_WIDTH)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(SAMPLE_WIDTH)
        writer.setframerate(SAMPLE_RATE)
        writer.writeframes(mono.raw_data)
    return buffer.getvalue()


def mp3_bytes(segment: AudioSegment, *, bitrate: str = MP3_BITRATE) -> bytes:
    """Mono MP3 (LAME, with the gapless header so decoders drop the encoder padding)."""
    buffer = io.BytesIO()
    segment.set_channels(1).export(buffer, format="mp3", bitrate=bitrate)
    return buffer.getvalue()


def wav_to_pcm16(wav: bytes) -> tuple[bytes, int]:
    """The PCM frames and sample rate of a 16-bit mono WAV; AudioError otherwise."""
    try:
        with wave.open(io.BytesIO(wav)) as reader:
            if reader.getsampwidth() != SAMPLE_WIDTH or reader.getnchannels() != 1:
                raise AudioError("expected a 16-bit mono WAV")
            return reader.readframes(reader.getnframes()), reader.getframerate()
    except (wave.Error, EOFError) as error:
        raise AudioError(f"not a WAV file: {error}") from error
