"""Offline synthetic speech with espeak-ng: Chinese read as tone-numbered pinyin.

espeak-ng's `cmn` voice reads Chinese characters badly; its `cmn-latn-pinyin` voice reads pinyin
with tone digits well enough for placeholder prompt clips and synthetic test fixtures.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from pypinyin import Style, lazy_pinyin

PINYIN_VOICE = "cmn-latn-pinyin"
CHINESE_VOICE = f"{PINYIN_VOICE}+f2"
"""The female variant f2 at 140 words/min was the best understood (by Whisper) of those tried."""
DEFAULT_SPEED = 140
_SYLLABLE = re.compile(r"^[a-z]+[1-5]$")
_PAUSE_SHORT = set("，、；：,;:")
_PAUSE_LONG = set("。！？.!?…")


class SpeechSynthesisError(RuntimeError):
    """espeak-ng is missing or failed."""


def to_pinyin(text: str) -> str:
    """Chinese text as space-separated tone-numbered pinyin, punctuation kept as pauses."""
    words: list[str] = []
    for token in lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True):
        if _SYLLABLE.match(token):
            words.append(token)
            continue
        for char in token:
            if char in _PAUSE_LONG:
                _pause(words, ".")
            elif char in _PAUSE_SHORT:
                _pause(words, ",")
            elif char.isascii() and char.isalnum():
                words.append(char)
    return " ".join(words).replace(" ,", ",").replace(" .", ".").strip(" ,")


def _pause(words: list[str], mark: str) -> None:
    if words and words[-1][-1] not in ",.":
        words[-1] += mark


def espeak_available() -> bool:
    """True when the espeak-ng binary is on PATH."""
    return shutil.which("espeak-ng") is not None


def synthesize_wav(
    text: str, *, voice: str = CHINESE_VOICE, speed: int = DEFAULT_SPEED, pitch: int = 50
) -> bytes:
    """WAV bytes (espeak-ng's native 22.05 kHz mono) for `text`; Chinese goes through pinyin."""
    spoken = to_pinyin(text) if voice.split("+")[0] == PINYIN_VOICE else text
    if not spoken.strip():
        raise SpeechSynthesisError(f"nothing to say for {text!r}")
    if not espeak_available():
        raise SpeechSynthesisError("espeak-ng is not installed")
    with tempfile.TemporaryDirectory(prefix="minqing-tts-") as tmp:
        out = Path(tmp) / "speech.wav"
        result = subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(out), spoken],
            capture_output=True,
            check=False,
            timeout=60,
        )
        if result.returncode != 0 or not out.exists():
            stderr = result.stderr.decode(errors="replace")
            raise SpeechSynthesisError(f"espeak-ng failed: {stderr}")
        return out.read_bytes()
