"""Make the synthetic voice fixtures in tests/fixtures/voice/ (re-runnable, deterministic).

Reads tests/fixtures/voice/sentences.yml, speaks each sentence with espeak-ng (Chinese through
tone-numbered pinyin), encodes AMR-NB with sox or Ogg Speex with ffmpeg, and adds the awkward
cases: an AMR file with corrupted frames, a noise-only clip, an empty file and a garbage file.
Writes transcripts.yml (file -> reference text) and manifest.yml (file -> kind, duration).

    uv run python scripts/make_voice_fixtures.py
"""

from __future__ import annotations

import io
import random
import subprocess
import sys
import tempfile
import wave
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voice.tts import synthesize_wav  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "voice"
SEED = 20261122
AMR_MAGIC = b"#!AMR\n"
# Bytes per AMR-NB frame (after the one-byte frame header) by frame type 0..15.
AMR_NB_FRAME_BYTES = (12, 13, 15, 17, 19, 20, 26, 31, 5, 6, 5, 5, 0, 0, 0, 0)
CORRUPT_FRAMES = (60, 61, 62, 95, 96, 150)
"""Frames whose header gets a reserved frame type and whose payload is scrambled."""


def _run(command: list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(command, capture_output=True, check=True, timeout=120)


def _wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as reader:
        return reader.getnframes() / reader.getframerate()


def _encode(wav: Path, target: Path) -> None:
    """AMR-NB 12.2 kbit/s with sox, or Ogg Speex 16 kHz with ffmpeg, by the target's suffix."""
    if target.suffix == ".amr":
        # -R: repeatable dither, so the same sentence always gives the same bytes.
        _run(
            [
                "sox",
                "-R",
                str(wav),
                "-r",
                "8000",
                "-c",
                "1",
                "-C",
                "7",
                "-t",
                "amr-nb",
                str(target),
            ]
        )
    elif target.suffix == ".spx":
        _run(
            [
                *("ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(wav)),
                *("-ar", "16000", "-ac", "1", "-c:a", "libspeex", "-fflags", "+bitexact"),
                *("-flags:a", "+bitexact", "-f", "ogg", str(target)),
            ]
        )
    else:
        raise ValueError(f"unknown fixture format {target.suffix}")


def amr_frame_offsets(data: bytes) -> list[int]:
    """Offsets of each frame header in an AMR-NB storage-format file."""
    offsets: list[int] = []
    index = len(AMR_MAGIC)
    while index < len(data):
        offsets.append(index)
        index += 1 + AMR_NB_FRAME_BYTES[(data[index] >> 3) & 0x0F]
    return offsets


def corrupt_amr(data: bytes) -> bytes:
    """A copy with some frames in the middle broken: reserved frame type, scrambled payload."""
    rng = random.Random(SEED)
    broken = bytearray(data)
    offsets = amr_frame_offsets(data)
    for frame in CORRUPT_FRAMES:
        start = offsets[frame]
        broken[start] = (13 << 3) | 0x04  # frame type 13 is reserved: decoders reject it
        for index in range(start + 1, offsets[frame + 1]):
            broken[index] = rng.randrange(256)
    return bytes(broken)


def ffmpeg_decode_log(path: Path) -> tuple[int, str]:
    """ffmpeg's exit code and error log when decoding `path` to nothing."""
    result = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-i",
            str(path),
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        check=False,
        timeout=60,
    )
    return result.returncode, result.stderr.decode(errors="replace")


def main() -> None:
    spec: dict[str, Any] = yaml.safe_load((FIXTURES / "sentences.yml").read_text("utf-8"))
    transcripts: dict[str, str] = {}
    manifest: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="voice-fixtures-") as tmp:
        work = Path(tmp)
        for item in spec["speech"]:
            target = FIXTURES / item["file"]
            wav_bytes = synthesize_wav(item["text"], voice=item["voice"], speed=spec["speed"])
            wav = work / (target.stem + ".wav")
            wav.write_bytes(wav_bytes)
            _encode(wav, target)
            manifest[target.name] = {
                "kind": item["kind"],
                "language": "zh" if item["voice"].startswith("cmn") else item["voice"][:2],
                "seconds": round(_wav_seconds(wav_bytes), 3),
            }
            if manifest[target.name]["language"] == "zh":
                transcripts[target.name] = item["text"]

        source = FIXTURES / "zh_streetlight.amr"
        bad = FIXTURES / "zh_streetlight_badframes.amr"
        bad.write_bytes(corrupt_amr(source.read_bytes()))
        code, log = ffmpeg_decode_log(bad)
        if code != 0 or ("Error" not in log and "corrupt" not in log.lower()):
            raise SystemExit(f"the corrupted AMR should decode with logged errors (exit {code})")
        manifest[bad.name] = {**manifest[source.name], "kind": "corrupted_frames"}
        transcripts[bad.name] = transcripts[source.name]

        noise_wav = work / "noise.wav"
        _run(
            [
                *("sox", "-R", "-n", "-r", "8000", "-c", "1", "-b", "16", str(noise_wav)),
                *("synth", "4", "pinknoise", "vol", "0.03"),
            ]
        )
        _encode(noise_wav, FIXTURES / "noise.amr")
        manifest["noise.amr"] = {"kind": "no_speech", "language": "", "seconds": 4.0}

    (FIXTURES / "empty.amr").write_bytes(b"")
    manifest["empty.amr"] = {"kind": "empty", "language": "", "seconds": 0.0}
    (FIXTURES / "garbage.amr").write_bytes(random.Random(SEED).randbytes(2048))
    manifest["garbage.amr"] = {"kind": "garbage", "language": "", "seconds": 0.0}

    header = "# Generated by scripts/make_voice_fixtures.py; do not edit by hand.\n"
    (FIXTURES / "transcripts.yml").write_text(
        header + yaml.safe_dump(transcripts, allow_unicode=True, sort_keys=True), "utf-8"
    )
    (FIXTURES / "manifest.yml").write_text(
        header + yaml.safe_dump(manifest, allow_unicode=True, sort_keys=True), "utf-8"
    )
    total = sum(path.stat().st_size for path in FIXTURES.iterdir())
    print(f"{len(manifest)} fixtures, {total / 1024:.0f} KiB in {FIXTURES}")  # noqa: T201


if __name__ == "__main__":
    main()
