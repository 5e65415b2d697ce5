"""Parses staff commands ("accept 0007", "progress 0007 <note>", in Chinese or Tibetan) into types.

Pure: the words come from `data/dialogue/staff_commands.yml`; nothing here touches a database.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nlu.tokenize import ascii_digits

TICKET = re.compile(r"^(?:([0-9]{8})-?)?([0-9]{1,4})$")
TSHEG = "\u0f0b"
SEPARATORS = " \u0f0b:\uff1a,\uff0c"
"""What may stand between a command and its ticket: space, tsheg, (full-width) colon, comma."""


@dataclass(frozen=True, slots=True)
class StaffCommand:
    verb: str
    """accept, on_site, progress, resolve, return, escalate, reply, wait, show, mine, help …"""
    ticket_day: str | None = None
    """YYYYMMDD when the full ticket was given."""
    ticket_number: int | None = None
    text: str = ""
    reason: str | None = None
    """The return reason, or the new category for `recategorise`."""


@dataclass(frozen=True, slots=True)
class ParseError:
    """Why a message is not a command; the reply key explains usage."""

    key: str
    verb: str | None = None


class StaffCommandParser:
    def __init__(self, vocabulary: dict[str, Any]) -> None:
        self._words: list[tuple[str, str]] = sorted(
            (
                (self._fold(word), verb)
                for verb, words in vocabulary.items()
                if verb not in {"needs_text", "needs_ticket", "return_reasons", "categories"}
                for word in words
            ),
            key=lambda pair: -len(pair[0]),
        )
        self._needs_text = set(vocabulary["needs_text"])
        self._needs_ticket = set(vocabulary["needs_ticket"])
        self._categories = {
            self._fold(word): category
            for category, words in vocabulary.get("categories", {}).items()
            for word in words
        }
        self._reasons = {
            self._fold(word): reason
            for reason, words in vocabulary["return_reasons"].items()
            for word in words
        }

    @classmethod
    def load(cls, path: Path) -> StaffCommandParser:
        return cls(yaml.safe_load(path.read_text(encoding="utf-8")))

    @staticmethod
    def _fold(text: str) -> str:
        return unicodedata.normalize("NFKC", text).replace(TSHEG, "").replace(" ", "").casefold()

    def parse(self, message: str) -> StaffCommand | ParseError:
        text = unicodedata.normalize("NFKC", message).strip()
        verb, rest = self._split_verb(text)
        if verb is None:
            return ParseError("staff_usage_unknown")
        if verb not in self._needs_ticket:
            return StaffCommand(verb, text=rest)
        ticket, _, free_text = rest.partition(" ")
        match = TICKET.match(ascii_digits(ticket))
        if match is None:
            return ParseError("staff_usage_ticket", verb)
        free_text = free_text.strip()
        if verb in self._needs_text and not free_text:
            return ParseError("staff_usage_text", verb)
        reason = self._reason(free_text) if verb == "return" else None
        if verb == "recategorise":
            reason = self._categories.get(self._fold(free_text.split(" ")[0]))
            if reason is None:
                return ParseError("staff_usage_category", verb)
        return StaffCommand(verb, match.group(1), int(match.group(2)), free_text, reason)

    def _split_verb(self, text: str) -> tuple[str | None, str]:
        """The longest command word the message starts with, and what follows it."""
        for index in range(min(len(text), 24), 0, -1):
            head = self._fold(text[:index])
            for word, verb in self._words:
                if head == word:
                    return verb, text[index:].strip(SEPARATORS)
        return None, text

    def _reason(self, text: str) -> str:
        folded = self._fold(text)
        return next((reason for word, reason in self._reasons.items() if word in folded), "other")
