"""Choosing the speech recogniser from the settings (VOICE__ASR) at start-up."""

from __future__ import annotations

import logging

from bot.settings import VoiceAsr, VoiceSettings
from bot.voice.inbox import Recognition
from voice.model import ModelUnavailable, ensure_whisper_model
from voice.recognizer import (
    NoRecognizer,
    SpeechRecognizer,
    Thresholds,
    WeChatHintRecognizer,
    WhisperRecognizer,
)

log = logging.getLogger(__name__)


def thresholds(settings: VoiceSettings) -> Thresholds:
    return Thresholds(
        min_avg_logprob=settings.min_avg_logprob, max_no_speech_prob=settings.max_no_speech_prob
    )


def recognition(settings: VoiceSettings) -> Recognition:
    """Whisper (WeChat's hint as fallback), WeChat's hint alone, or none.

    Blocking on the first run (assembles and verifies the Whisper model): call it in a thread.
    When the model cannot be had, WeChat's hint takes over and the reason is logged.
    """
    hint = WeChatHintRecognizer()
    primary: SpeechRecognizer
    if settings.asr is VoiceAsr.NONE:
        primary, fallback = NoRecognizer(), None
    elif settings.asr is VoiceAsr.WECHAT:
        primary, fallback = hint, None
    else:
        try:
            ensure_whisper_model(settings.model_dir)
        except ModelUnavailable as error:
            log.error("Whisper model unavailable (%s): using WeChat's recognition hint", error)
            return Recognition(hint, None, thresholds(settings))
        primary = WhisperRecognizer(
            settings.model_dir,
            cpu_threads=settings.cpu_threads,
            max_concurrent=settings.max_concurrent,
        )
        fallback = hint
    return Recognition(primary, fallback, thresholds(settings))
