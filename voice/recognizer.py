"""Speech recognisers behind one protocol: Whisper offline, WeChat's own hint, or none.

A transcript is only acted on when `trusted` says so (Mandarin, confident, with speech);
everything else becomes a voice petition that a person listens to.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import threading
import unicodedata
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import yaml
from opencc import OpenCC

from voice.audio import wav_to_pcm16
from voice.model import ensure_whisper_model

if TYPE_CHECKING:
    from faster_whisper import WhisperModel  # type: ignore[import-untyped]

PROMPT_FILE = Path(__file__).resolve().parents[1] / "data" / "prompts" / "whisper_prompt.yml"
SAMPLE_RATE = 16_000
MIN_SPEECH_SECONDS = 0.25
"""Less voiced audio than this (after VAD) counts as no speech at all."""


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    """Simplified Chinese (OpenCC t2s applied), stripped."""
    language: str
    """Detected language code ("zh", "bo", "en", …), or "zh" for WeChat hints."""
    language_probability: float
    avg_logprob: float
    """Mean over segments weighted by their token count; 0.0 for WeChat hints."""
    no_speech_prob: float
    """Max over segments; 0.0 for WeChat hints."""
    engine: str
    """"whisper" | "wechat"."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    min_avg_logprob: float = -1.0
    max_no_speech_prob: float = 0.6
    min_language_probability: float = 0.5


def trusted(transcript: Transcript | None, thresholds: Thresholds) -> bool:
    """True only for a confident Mandarin transcript with words; anything else goes to a person."""
    if transcript is None or not has_han(transcript.text) or looped(transcript.text):
        return False
    return (
        transcript.language == "zh"
        and transcript.language_probability >= thresholds.min_language_probability
        and transcript.avg_logprob >= thresholds.min_avg_logprob
        and transcript.no_speech_prob <= thresholds.max_no_speech_prob
    )


_LOOP = re.compile(r"(\w{3,}?)\1{2,}")


def looped(text: str) -> bool:
    """Whisper's hallucination loop: one phrase (≥ 3 characters) three or more times in a row."""
    return _LOOP.search("".join(char for char in text if char.isalnum())) is not None


def has_han(text: str) -> bool:
    """Whether the text holds at least one Chinese character."""
    return any(unicodedata.name(char, "").startswith("CJK UNIFIED") for char in text)


@cache
def _t2s() -> OpenCC:
    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional → Simplified Chinese (Whisper often writes Traditional), stripped."""
    return str(_t2s().convert(text)).strip()


def default_prompt() -> str:
    """The domain prompt from data/prompts/whisper_prompt.yml, line breaks removed."""
    data = yaml.safe_load(PROMPT_FILE.read_text("utf-8")) or {}
    return "".join(str(data.get("zh", "")).split())


class SpeechRecognizer(Protocol):
    name: str

    async def recognise(self, wav16k: bytes, *, hint: str | None = None) -> Transcript | None: ...


class NoRecognizer:
    """Recognition switched off (VOICE__ASR=none): every voice message goes to a person."""

    name = "none"

    async def recognise(self, wav16k: bytes, *, hint: str | None = None) -> Transcript | None:
        return None


class WeChatHintRecognizer:
    """WeChat's own Recognition field (Mandarin only, being withdrawn) as a transcript."""

    name = "wechat"

    async def recognise(self, wav16k: bytes, *, hint: str | None = None) -> Transcript | None:
        text = to_simplified(hint or "")
        if not text:
            return None
        return Transcript(
            text=text,
            language="zh",
            language_probability=1.0,
            avg_logprob=0.0,
            no_speech_prob=0.0,
            engine="wechat",
        )


_models: dict[tuple[Path, int], WhisperModel] = {}
_models_lock = threading.Lock()


class _EncoderReuse:
    """Wraps WhisperModel.encode so that, inside one recognition (`scope`), identical features
    are encoded once: language detection and the first transcription window are the same 30 s.

    On a 2-core CPU the encoder is most of Whisper base's time, so this nearly halves each
    recognition. Outside a scope, and across recognitions, every call encodes.
    """

    def __init__(self, encode: Any) -> None:
        self._encode = encode
        self._state = threading.local()

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        self._state.active, self._state.key, self._state.output = True, None, None
        try:
            yield
        finally:
            self._state.active, self._state.key, self._state.output = False, None, None

    def __call__(self, features: np.ndarray) -> Any:
        if not getattr(self._state, "active", False):
            return self._encode(features)
        key = hashlib.blake2b(np.ascontiguousarray(features).tobytes(), digest_size=16).digest()
        key += repr(features.shape).encode()
        if self._state.key == key:
            return self._state.output
        output = self._encode(features)
        self._state.key, self._state.output = key, output
        return output


def load_whisper(model_dir: Path, cpu_threads: int = 2) -> WhisperModel:
    """The model for this directory, assembled/verified and loaded once per process."""
    key = (model_dir.resolve(), cpu_threads)
    with _models_lock:
        model = _models.get(key)
        if model is None:
            from faster_whisper import WhisperModel

            ensure_whisper_model(model_dir)
            model = WhisperModel(
                str(model_dir), device="cpu", compute_type="int8", cpu_threads=cpu_threads
            )
            model.encode = _EncoderReuse(model.encode)
            _models[key] = model
        return model


class WhisperRecognizer:
    """Offline Mandarin recognition with Whisper base (int8, CPU) in a worker thread."""

    name = "whisper"

    def __init__(
        self,
        model_dir: Path,
        *,
        cpu_threads: int = 2,
        max_concurrent: int = 1,
        prompt: str | None = None,
    ) -> None:
        self.model_dir = model_dir
        self.cpu_threads = cpu_threads
        self.max_concurrent = max_concurrent
        self.prompt = prompt if prompt is not None else default_prompt()
        self._semaphores: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Semaphore
        ] = weakref.WeakKeyDictionary()

    def _semaphore(self) -> asyncio.Semaphore:
        """One semaphore per event loop (tests run several loops in one process)."""
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.max_concurrent)
        return semaphore

    async def warm_up(self) -> None:
        """Load the model now (at startup) so the first elder does not wait for it."""
        await asyncio.to_thread(load_whisper, self.model_dir, self.cpu_threads)

    async def recognise(self, wav16k: bytes, *, hint: str | None = None) -> Transcript | None:
        """Transcript of a 16 kHz mono WAV; None when it holds no speech. `hint` is unused."""
        async with self._semaphore():
            return await asyncio.to_thread(self.recognise_blocking, wav16k)

    def recognise_blocking(self, wav16k: bytes) -> Transcript | None:
        """The synchronous work: VAD, language detection, then Mandarin transcription."""
        from faster_whisper.vad import (  # type: ignore[import-untyped]
            VadOptions,
            collect_chunks,
            get_speech_timestamps,
        )

        pcm, rate = wav_to_pcm16(wav16k)
        if rate != SAMPLE_RATE:
            raise ValueError(f"expected {SAMPLE_RATE} Hz audio, got {rate} Hz")
        audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
        if audio.size == 0:
            return None
        chunks = get_speech_timestamps(audio, VadOptions())
        if not chunks:
            return None
        chunk_audio, _ = collect_chunks(audio, chunks)
        speech = np.concatenate(chunk_audio, axis=0)
        if speech.size < MIN_SPEECH_SECONDS * SAMPLE_RATE:
            return None
        model = load_whisper(self.model_dir, self.cpu_threads)
        reuse = getattr(model.encode, "scope", contextlib.nullcontext)
        with reuse():
            # Detect on the features exactly as transcribe() slices its first window (it leaves
            # out the last frame), so the encoder output is reused instead of computed twice.
            features = model.feature_extractor(speech)
            language, probability, _ = model.detect_language(features=features[..., :-1])
            segments, _info = model.transcribe(
                speech,
                language="zh",
                beam_size=5,
                vad_filter=False,  # already applied above
                initial_prompt=self.prompt or None,
                condition_on_previous_text=False,
            )
            found = list(segments)
        return _transcript(found, str(language), float(probability))


def _transcript(
    segments: list[Any], language: str, language_probability: float
) -> Transcript | None:
    """Join the segments; logprob weighted by tokens, no-speech as the worst segment."""
    if not segments:
        return None
    weights = [max(len(segment.tokens), 1) for segment in segments]
    avg_logprob = sum(
        weight * float(segment.avg_logprob)
        for weight, segment in zip(weights, segments, strict=True)
    ) / sum(weights)
    return Transcript(
        text=to_simplified("".join(segment.text for segment in segments)),
        language=language,
        language_probability=language_probability,
        avg_logprob=avg_logprob,
        no_speech_prob=max(float(segment.no_speech_prob) for segment in segments),
        engine="whisper",
    )
