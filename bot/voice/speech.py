"""Spoken replies for elder mode: which replies can be spoken, and the MP3 for one of them.

Speech is assembled from recorded prompt clips (`voice.prompts.PromptLibrary`). A reply
without a script is not spoken; a reply whose clips are missing in that language (always for
Tibetan until staff record them) goes as text only, and the gap is logged and listed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from bot.messages import Reply
from bot.settings import PROJECT_ROOT, VoiceSettings
from voice.prompts import PromptLibrary, Speech

log = logging.getLogger(__name__)

PLACEHOLDER_CLIPS_DIR = PROJECT_ROOT / "var" / "prompts"
"""Generated Chinese placeholder clips (`minqing voice prepare`), searched last."""
LANGUAGES = ("zh", "bo")


def prompt_library(settings: VoiceSettings) -> PromptLibrary | None:
    """Clips searched in order: staff recordings, committed clips, generated placeholders."""
    scripts = settings.prompts_dir / "scripts.yml"
    if not scripts.exists():
        log.warning("no voice scripts at %s: elder mode sends text only", scripts)
        return None
    return PromptLibrary(scripts, clip_dirs(settings))


def clip_dirs(settings: VoiceSettings) -> list[Path]:
    return [settings.media_dir / "prompts", settings.prompts_dir, PLACEHOLDER_CLIPS_DIR]


def jsonable(value: Any) -> Any:
    """Reply params as JSON for an outbox row (datetimes as ISO strings, enums as values)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


class SpokenReplies:
    """Decides which replies go out as voice too, and assembles their speech."""

    def __init__(self, library: PromptLibrary | None) -> None:
        self._library = library

    @property
    def library(self) -> PromptLibrary | None:
        return self._library

    def payloads(self, replies: Iterable[Reply], languages: Sequence[str]) -> list[dict[str, Any]]:
        """Outbox payloads for the voice versions of these replies (speakable ones only)."""
        payloads = []
        for language in languages:
            for reply in replies:
                params = jsonable(reply.params)
                if self.speakable(reply.key, params, language):
                    payloads.append(
                        {"voice": {"key": reply.key, "params": params}, "language": language}
                    )
        return payloads

    def speakable(self, key: str, params: Mapping[str, Any], language: str) -> bool:
        """A script exists and every clip is recorded; a gap is logged (text goes alone)."""
        if self._library is None:
            return False
        try:
            clips = self._library.plan(key, params, language)
            if clips is None:
                return False
            missing = self._library.missing(clips, language)
        except Exception:
            log.exception("cannot plan speech for %s (%s)", key, language)
            return False
        if missing:
            log.info(
                "elder-mode reply %s in %s sent as text only: missing clips %s",
                key,
                language,
                ", ".join(missing),
            )
            return False
        return True

    async def speak(self, key: str, params: Mapping[str, Any], language: str) -> Speech | None:
        """The MP3 for one reply (assembled in a worker thread); None without a script."""
        if self._library is None:
            return None
        return await asyncio.to_thread(self._library.speak, key, params, language)

    def gaps(self) -> dict[str, list[str]]:
        """Clip ids without a recording, per language: what staff still need to record."""
        if self._library is None:
            return {language: [] for language in LANGUAGES}
        return {language: self._library.gaps(language) for language in LANGUAGES}
