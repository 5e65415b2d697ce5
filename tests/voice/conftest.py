"""Voice fixtures: the synthetic recordings, their references, and one Whisper model per session.

The model is assembled (once per machine) into var/whisper-base, the bot's default, and loaded
once per test session; Whisper's transcripts of the fixtures are computed once and shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from voice.audio import ConvertedAudio, convert
from voice.prompts import PromptLibrary, generate_placeholder_clips
from voice.recognizer import Transcript, WhisperRecognizer, load_whisper

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "voice"
MODEL_DIR = ROOT / "var" / "whisper-base"
SCRIPTS = ROOT / "data" / "prompts" / "scripts.yml"
PLACEHOLDERS = ROOT / "var" / "prompts"


@dataclass(frozen=True)
class Fixture:
    name: str
    kind: str
    language: str
    seconds: float

    @property
    def path(self) -> Path:
        return FIXTURES / self.name

    @property
    def fmt(self) -> str:
        """What WeChat's Format field would say for this file."""
        return "speex" if self.name.endswith(".spx") else "amr"


def _manifest() -> dict[str, Fixture]:
    raw: dict[str, dict[str, Any]] = yaml.safe_load((FIXTURES / "manifest.yml").read_text("utf-8"))
    return {name: Fixture(name=name, **fields) for name, fields in raw.items()}


MANIFEST = _manifest()
REFERENCES: dict[str, str] = yaml.safe_load((FIXTURES / "transcripts.yml").read_text("utf-8"))
AUDIO = [f for f in MANIFEST.values() if f.kind not in {"empty", "garbage"}]
MANDARIN = [f for f in MANIFEST.values() if f.language == "zh"]


@pytest.fixture(scope="session")
def converted() -> dict[str, ConvertedAudio]:
    """Every decodable fixture converted once."""
    return {f.name: convert(f.path.read_bytes(), f.fmt) for f in AUDIO}


@pytest.fixture(scope="session")
def whisper_model_dir() -> Path:
    """The model loaded once per session (assembled and verified on first use)."""
    import ctranslate2

    ctranslate2.set_random_seed(7)  # temperature fallback samples: keep reruns identical
    load_whisper(MODEL_DIR)
    return MODEL_DIR


@pytest.fixture(scope="session")
def transcripts(
    whisper_model_dir: Path, converted: dict[str, ConvertedAudio]
) -> dict[str, Transcript | None]:
    """Whisper's result for every decodable fixture, computed once."""
    recognizer = WhisperRecognizer(whisper_model_dir)
    return {name: recognizer.recognise_blocking(audio.wav) for name, audio in converted.items()}


@pytest.fixture(scope="session")
def placeholder_library() -> PromptLibrary:
    """The real scripts with generated Chinese placeholder clips (cached in var/prompts)."""
    library = PromptLibrary(SCRIPTS, [PLACEHOLDERS])
    generate_placeholder_clips(library, PLACEHOLDERS, "zh")
    return library
