"""Console wording from `data/console/{zh,bo}.yml`: Chinese by default, Tibetan on request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from governance.clock import LOCAL_TZ

LANGUAGES = ("zh", "bo")
DEFAULT_LANGUAGE = "zh"


class MissingText(KeyError):
    """A console key absent from a language file: a bug, caught by the key-set test."""


@dataclass(frozen=True, slots=True)
class Texts:
    """One language's console strings."""

    language: str
    entries: Mapping[str, str]

    def __call__(self, key: str, **params: Any) -> str:
        try:
            template = self.entries[key]
        except KeyError as error:
            raise MissingText(f"{self.language}:{key}") from error
        return template.format(**params) if params else template

    def get(self, key: str, default: str = "") -> str:
        """A key that may legitimately be absent (e.g. a status added later): `default`."""
        return self.entries.get(key, default or key)

    def when(self, value: datetime | None) -> str:
        """Local date and time, the same in both languages (staff read digits alike)."""
        if value is None:
            return ""
        return value.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")

    def day(self, value: datetime | None) -> str:
        return value.astimezone(LOCAL_TZ).strftime("%Y-%m-%d") if value else ""

    def span(self, delta: timedelta) -> str:
        """A positive duration in the two largest units ("2 days 3 hours"), in the console's
        language."""
        minutes = max(0, int(delta.total_seconds() // 60))
        days, rest = divmod(minutes, 24 * 60)
        hours, minutes = divmod(rest, 60)
        parts = [
            self(key, n=count)
            for key, count in (("unit_day", days), ("unit_hour", hours), ("unit_minute", minutes))
            if count
        ]
        return self("unit_join").join(parts[:2]) if parts else self("unit_minute", n=0)


def load_texts(directory: Path) -> dict[str, Texts]:
    """Both languages' files (each a flat mapping of key → text)."""
    texts = {}
    for language in LANGUAGES:
        raw = yaml.safe_load((directory / f"{language}.yml").read_text(encoding="utf-8")) or {}
        texts[language] = Texts(language, {str(k): str(v) for k, v in raw.items()})
    return texts
