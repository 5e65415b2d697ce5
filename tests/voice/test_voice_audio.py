"""Conversion of WeChat voice (AMR-NB, Ogg Speex) and console uploads with the real ffmpeg."""

from __future__ import annotations

import io
import subprocess
import wave
from pathlib import Path

import pytest
from pydub import AudioSegment  # type: ignore[import-untyped]

from tests.voice.conftest import AUDIO, MANIFEST, Fixture
from voice.audio import AMR_NB_MAGIC, AudioError, ConvertedAudio, amr_frame_seconds, convert

AMR_NB_FRAME_BYTES = (12, 13, 15, 17, 19, 20, 26, 31, 5, 6, 5, 5, 0, 0, 0, 0)


def _frame_types(data: bytes) -> list[int]:
    types, index = [], len(AMR_NB_MAGIC)
    while index < len(data):
        frame_type = (data[index] >> 3) & 0x0F
        types.append(frame_type)
        index += 1 + AMR_NB_FRAME_BYTES[frame_type]
    return types


def _wav_header(wav: bytes) -> tuple[int, int, int, float]:
    assert wav[:4] == b"RIFF"
    assert wav[8:12] == b"WAVE"
    with wave.open(io.BytesIO(wav)) as reader:
        return (
            reader.getnchannels(),
            reader.getsampwidth(),
            reader.getframerate(),
            reader.getnframes() / reader.getframerate(),
        )


@pytest.mark.parametrize("fixture", AUDIO, ids=lambda f: f.name)
def test_every_fixture_converts_with_the_right_duration(
    fixture: Fixture, converted: dict[str, ConvertedAudio]
) -> None:
    audio = converted[fixture.name]
    channels, width, rate, wav_seconds = _wav_header(audio.wav)
    assert (channels, width, rate) == (1, 2, 16_000)
    assert wav_seconds == pytest.approx(audio.duration_seconds, abs=1e-3)
    assert audio.duration_seconds == pytest.approx(fixture.seconds, abs=0.2)
    mp3 = AudioSegment.from_file(io.BytesIO(audio.mp3), format="mp3")
    assert audio.mp3[:3] == b"ID3" or audio.mp3[0] == 0xFF
    assert mp3.channels == 1
    assert len(mp3) / 1000 == pytest.approx(audio.duration_seconds, abs=0.1)


@pytest.mark.parametrize("name", ["zh_streetlight.amr", "zh_heating.spx"])
def test_format_can_be_probed_without_a_hint(
    name: str, converted: dict[str, ConvertedAudio]
) -> None:
    probed = convert(MANIFEST[name].path.read_bytes(), None)
    assert probed.wav == converted[name].wav


def test_dtx_frames_keep_the_recording_length() -> None:
    """sox, like many phones, sends silence as SID/NO_DATA frames that ffmpeg cannot decode."""
    data = MANIFEST["zh_streetlight.amr"].path.read_bytes()
    types = _frame_types(data)
    assert {8, 15} & set(types), "the fixture should contain DTX frames"
    assert amr_frame_seconds(data) == pytest.approx(len(types) * 0.02)
    assert convert(data, "amr").duration_seconds == pytest.approx(len(types) * 0.02, abs=0.005)


def test_noise_that_is_mostly_dtx_frames_still_converts() -> None:
    """More than 2/3 undecodable frames would make ffmpeg give up by default."""
    data = MANIFEST["noise.amr"].path.read_bytes()
    types = _frame_types(data)
    assert sum(t in (8, 15) for t in types) > len(types) * 2 / 3
    assert convert(data, "amr").duration_seconds == pytest.approx(4.0, abs=0.05)


def test_amr_with_corrupted_frames_makes_ffmpeg_complain_yet_converts(
    converted: dict[str, ConvertedAudio],
) -> None:
    bad = MANIFEST["zh_streetlight_badframes.amr"]
    good = MANIFEST["zh_streetlight.amr"]
    bad_bytes, good_bytes = bad.path.read_bytes(), good.path.read_bytes()
    assert len(bad_bytes) == len(good_bytes)
    differing = [i for i, (a, b) in enumerate(zip(bad_bytes, good_bytes, strict=True)) if a != b]
    assert differing, "the corrupted fixture must differ from its source"
    assert min(differing) > len(bad_bytes) // 10
    assert max(differing) < len(bad_bytes) * 9 // 10

    log = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-i", str(bad.path), "-f", "null", "-"],
        capture_output=True,
        check=False,
        text=True,
    ).stderr
    assert "Invalid data found" in log or "Corrupt" in log
    assert amr_frame_seconds(bad_bytes) is None  # the frame structure is broken

    audio = converted[bad.name]
    assert audio.duration_seconds == pytest.approx(bad.seconds, abs=0.2)
    segment = AudioSegment.from_file(io.BytesIO(audio.wav), format="wav")
    assert segment.dBFS > -40  # real sound, not padding


@pytest.mark.parametrize("fmt", ["amr", "speex", "mp3", None])
def test_garbage_raises_audio_error(fmt: str | None) -> None:
    with pytest.raises(AudioError):
        convert(MANIFEST["garbage.amr"].path.read_bytes(), fmt)


@pytest.mark.parametrize("data", [b"", AMR_NB_MAGIC, b"OggS"], ids=["empty", "amr-header", "ogg"])
def test_empty_audio_raises_audio_error(data: bytes) -> None:
    with pytest.raises(AudioError):
        convert(data, "amr")


def test_empty_fixture_raises_audio_error() -> None:
    with pytest.raises(AudioError, match="empty"):
        convert(MANIFEST["empty.amr"].path.read_bytes(), "amr")


@pytest.mark.parametrize(
    ("fmt", "codec"),
    [("webm", ["-c:a", "libopus"]), ("mp3", ["-c:a", "libmp3lame"]), ("m4a", ["-c:a", "aac"])],
)
def test_console_upload_formats_convert(tmp_path: Path, fmt: str, codec: list[str]) -> None:
    source = MANIFEST["zh_yes.amr"]
    target = tmp_path / f"upload.{fmt}"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(source.path), *codec, str(target)],
        check=True,
    )
    audio = convert(target.read_bytes(), fmt)
    assert audio.duration_seconds == pytest.approx(source.seconds, abs=0.2)
