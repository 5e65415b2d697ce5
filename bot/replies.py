"""Renders `Reply(key, params)` in a language from `data/responses/{zh,bo}.yml`.

Placeholders are `str.format` fields; the format spec picks a formatter:
`{due:date}` a date in the language's own style, `{due:datetime}` date and time,
`{category:category}` the catalogue entry `category_<value>`, `{n:num}` a number in the
language's digits, `{names:numbered}` a list as numbered lines, `{cats:numbered_category}` a list
of values as numbered catalogue entries, `{slots:numbered_datetime}` numbered date-times.
Plain `{ticket}` is inserted as is.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from bot.dialogue.state import Lang
from bot.messages import Reply
from governance.clock import LOCAL_TZ

FORMATS_KEY = "_formats"


class MissingResponse(KeyError):
    """A response key absent from a catalogue: a bug, caught by the catalogue tests."""


class _CatalogFormatter(string.Formatter):
    def __init__(self, catalog: Catalog, params: Mapping[str, Any]) -> None:
        self._catalog = catalog
        self._params = params

    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec in {"date", "datetime", "time"}:
            return self._catalog.format_time(value, format_spec)
        if format_spec == "num":
            return self._catalog.digits(str(value))
        if format_spec == "lines":
            return "\n".join(str(v) for v in value)
        if format_spec == "numbered_datetime":
            lines = [self._catalog.format_time(v, "datetime") for v in value]
            return "\n".join(f"{n}. {line}" for n, line in enumerate(lines, start=1))
        if format_spec.startswith("numbered"):
            prefix = format_spec.removeprefix("numbered").lstrip("_")
            labels = [self._catalog.text(f"{prefix}_{v}") if prefix else str(v) for v in value]
            return "\n".join(f"{n}. {label}" for n, label in enumerate(labels, start=1))
        if format_spec:
            return self._catalog.text(f"{format_spec}_{value}", self._params)
        return str(value)


class Catalog:
    """One language's responses."""

    def __init__(self, language: Lang, entries: Mapping[str, Any]) -> None:
        self.language = language
        self._formats: dict[str, str] = dict(entries.get(FORMATS_KEY, {}))
        self._entries = {key: value for key, value in entries.items() if key != FORMATS_KEY}

    @property
    def keys(self) -> set[str]:
        return set(self._entries)

    def raw(self, key: str) -> str:
        try:
            value = self._entries[key]
        except KeyError as error:
            raise MissingResponse(f"{self.language}:{key}") from error
        return str(value).rstrip("\n")

    def text(self, key: str, params: Mapping[str, Any] | None = None) -> str:
        params = params or {}
        return _CatalogFormatter(self, params).vformat(self.raw(key), (), dict(params))

    def digits(self, text: str) -> str:
        table = self._formats.get("digits", "0123456789")
        return text.translate(str.maketrans("0123456789", table))

    def format_time(self, value: Any, spec: str) -> str:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        if not isinstance(moment, datetime):
            raise TypeError(f"{spec} placeholder needs a datetime, got {value!r}")
        local = moment.astimezone(LOCAL_TZ)
        fields = {
            "year": local.year,
            "month": local.month,
            "day": local.day,
            "hour": local.hour,
            "minute": f"{local.minute:02d}",
            "weekday": self.text(f"weekday_{local.weekday()}"),
        }
        return self.digits(self._formats[spec].format(**fields))


class ReplyCatalog:
    """Both languages; renders replies and checks the catalogues stay in step."""

    def __init__(self, catalogs: Mapping[Lang, Catalog]) -> None:
        self._catalogs = dict(catalogs)

    @classmethod
    def load(cls, responses_dir: Path) -> ReplyCatalog:
        catalogs = {}
        for language in Lang:
            path = responses_dir / f"{language.value}.yml"
            entries = yaml.safe_load(path.read_text(encoding="utf-8"))
            catalogs[language] = Catalog(language, entries)
        return cls(catalogs)

    def catalog(self, language: Lang) -> Catalog:
        return self._catalogs[language]

    def render(self, reply: Reply, language: Lang) -> str:
        return self._catalogs[language].text(reply.key, reply.params)

    def render_all(
        self, replies: Iterable[Reply], language: Lang, *, bilingual: bool = False
    ) -> str:
        """One message: replies joined by blank lines; both languages (bo first) when bilingual."""
        replies = list(replies)
        languages: Sequence[Lang] = (Lang.BO, Lang.ZH) if bilingual else (language,)
        blocks = ["\n\n".join(self.render(reply, lang) for reply in replies) for lang in languages]
        return "\n\n".join(block for block in blocks if block)
