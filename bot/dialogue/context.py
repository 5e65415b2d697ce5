"""What a flow sees during one turn, and the collaborators it may use."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import yaml
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.dialogue.state import Conversation, Lang
from bot.dialogue.store import NEW_RESIDENT, StoredResident
from bot.messages import InboundMessage, MessageKind, Reply
from governance.clock import Clock
from governance.petitions.responsibility import ResponsibilityMatrix
from governance.petitions.sla import SlaPolicies
from governance.policies.service import PolicyAnswerer
from nlu.parsed import ParsedMessage
from nlu.tokenize import ascii_digits

TSHEG_AND_SHAD = "\u0f0b\u0f0d"


class Categoriser(Protocol):
    def classify_category(self, text: str) -> tuple[str, float]: ...


class Vocabulary:
    """Command words and short answers in both languages (`data/dialogue/vocabulary.yml`)."""

    def __init__(self, words: dict[str, list[str]]) -> None:
        self._words = {name: {self.fold(w) for w in values} for name, values in words.items()}

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        return cls(yaml.safe_load(path.read_text(encoding="utf-8")))

    @staticmethod
    def fold(text: str) -> str:
        """Drop spaces, tsheg/shad and punctuation so "cancel!" and "cancel" match.

        Tibetan vowel signs and subjoined letters are combining marks: they must stay.
        """
        return "".join(
            ch
            for ch in unicodedata.normalize("NFC", text.casefold())
            if (ch.isalnum() or unicodedata.category(ch).startswith("M"))
            and ch not in TSHEG_AND_SHAD
        )

    def means(self, text: str, name: str) -> bool:
        folded = self.fold(text)
        return bool(folded) and folded in self._words.get(name, set())

    def mentions(self, text: str, name: str) -> bool:
        """One of the words for `name` appears anywhere in the text, not only as all of it."""
        folded = self.fold(text)
        return any(word and word in folded for word in self._words.get(name, set()))


@dataclass(frozen=True, slots=True)
class DialogueDeps:
    sessions: async_sessionmaker[AsyncSession]
    quick_sessions: async_sessionmaker[AsyncSession]
    """Every statement commits by itself: for reads and one-statement writes, which then cost
    no BEGIN and COMMIT/ROLLBACK round trips. Never for writes that must be atomic together."""
    clock: Clock
    categoriser: Categoriser
    sla_policies: SlaPolicies
    vocabulary: Vocabulary
    prefecture: str
    public_base_url: str
    intent_threshold: float
    category_threshold: float
    idle_timeout: timedelta
    notify_outbox: Callable[[], None]
    matrix: ResponsibilityMatrix
    policies: PolicyAnswerer


@dataclass(slots=True)
class TurnContext:
    message: InboundMessage
    parsed: ParsedMessage | None
    conversation: Conversation
    deps: DialogueDeps
    replies: list[Reply] = field(default_factory=list)
    bilingual: bool = False
    """Answer in both languages: we do not know the resident's language yet."""
    elder_mode: bool | None = None
    """The resident's elder-mode choice when this turn stored one (None: unchanged)."""
    resident: StoredResident = NEW_RESIDENT
    """The resident's row as the turn started: read with the conversation, so actions that
    prefill from it (phone, grid, address) need no query of their own."""

    @property
    def text(self) -> str:
        return self.message.text.strip() if self.message.kind is MessageKind.TEXT else ""

    @property
    def language(self) -> Lang:
        return self.conversation.language

    def say(self, key: str, **params: Any) -> None:
        self.replies.append(Reply(key, params))

    def means(self, name: str) -> bool:
        """The text is one of the vocabulary's words for `name` (cancel, yes, skip …)."""
        return self.deps.vocabulary.means(self.text, name)

    def mentions(self, name: str) -> bool:
        return self.deps.vocabulary.mentions(self.text, name)

    def intent(self, *names: str, threshold: float | None = None) -> bool:
        """NLU found one of these intents with enough confidence."""
        if self.parsed is None:
            return False
        limit = self.deps.intent_threshold if threshold is None else threshold
        return self.parsed.intent.name in names and self.parsed.intent.confidence >= limit

    def choice(self, count: int) -> int | None:
        """The 1-based option a resident picked by replying a number (ASCII or Tibetan digits)."""
        digits = ascii_digits(self.text)
        digits = digits.strip(" .、。)")
        if digits.isdigit() and 1 <= int(digits) <= count:
            return int(digits)
        return None
