"""espeak-ng placeholder speech (pinyin), and the committed synthetic fixtures themselves."""

from __future__ import annotations

import io
import wave

import pytest
import yaml

from tests.voice.conftest import FIXTURES, MANDARIN, MANIFEST, REFERENCES
from voice.tts import PINYIN_VOICE, SpeechSynthesisError, synthesize_wav, to_pinyin


def test_pinyin_has_tone_numbers_and_pauses() -> None:
    assert to_pinyin("路灯坏了，很黑。") == "lu4 deng1 huai4 le5, hen3 hei1."
    assert to_pinyin("女儿") == "nv3 er2"
    assert to_pinyin("“好”！") == "hao3."


def test_synthesis_gives_a_wav_of_speech() -> None:
    wav = synthesize_wav("请派人来修一下。")
    with wave.open(io.BytesIO(wav)) as reader:
        seconds = reader.getnframes() / reader.getframerate()
        assert reader.getnchannels() == 1
    assert 1.0 < seconds < 5.0
    english = synthesize_wav("hello", voice="en-us")
    assert english[:4] == b"RIFF"


def test_synthesis_refuses_empty_text() -> None:
    with pytest.raises(SpeechSynthesisError):
        synthesize_wav("，。", voice=PINYIN_VOICE)


def test_fixture_folder_is_small_and_complete() -> None:
    total = sum(path.stat().st_size for path in FIXTURES.iterdir())
    assert total < 300 * 1024
    sentences = yaml.safe_load((FIXTURES / "sentences.yml").read_text("utf-8"))["speech"]
    assert {s["file"] for s in sentences} <= set(MANIFEST)
    assert {f.name for f in MANDARIN} == set(REFERENCES)
    assert len(REFERENCES) >= 6
    for fixture in MANIFEST.values():
        assert fixture.path.is_file()
        if fixture.kind not in {"empty", "garbage"}:
            assert 3.0 <= fixture.seconds <= 12.0, fixture.name
    kinds = {f.kind for f in MANIFEST.values()}
    assert {
        "petition",
        "policy_question",
        "booking",
        "confirmation",
        "not_chinese",
        "no_speech",
        "corrupted_frames",
        "garbage",
        "empty",
    } <= kinds
    assert any(name.endswith(".spx") for name in MANIFEST)
