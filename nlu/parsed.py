"""What understanding a message produces; the contract between `nlu/` and the dialogue."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class Language(StrEnum):
    """Script-based language of a text."""

    ZH = "zh"
    BO = "bo"
    MIXED = "mixed"
    UNKNOWN = "unknown"
    """No Han or Tibetan letters at all (digits, punctuation, emoji)."""


INTENTS: tuple[str, ...] = (
    "report_issue",
    "ask_policy",
    "book_eldercare",
    "check_status",
    "find_staff",
    "request_human",
    "greet",
    "thank",
    "goodbye",
    "affirm",
    "deny",
    "cancel",
    "help",
    "out_of_scope",
)

CATEGORIES: tuple[str, ...] = (
    "power",
    "streetlight",
    "road",
    "water",
    "heating",
    "sanitation",
    "safety",
    "neighborhood",
    "parking",
    "property",
    "other",
)


@dataclass(frozen=True, slots=True)
class Intent:
    name: str
    confidence: float


@dataclass(frozen=True, slots=True)
class Entity:
    """A span of the text with a normalised value (e.g. phone digits, ISO interval)."""

    entity: str
    value: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    text: str
    language: Language
    intent: Intent
    category: str | None = None
    """Petition category when the text describes a problem, else None."""
    category_confidence: float = 0.0
    entities: tuple[Entity, ...] = ()
    hazard: str | None = None
    """Danger kind (e.g. ``fallen_wire``, ``fire``, ``gas_leak``) that needs safety advice now."""
    intent_ranking: tuple[Intent, ...] = ()
    extras: dict[str, Any] = field(default_factory=dict)

    def entity(self, name: str) -> Entity | None:
        """The first entity of this kind, if any."""
        return next((e for e in self.entities if e.entity == name), None)

    def as_json(self) -> dict[str, Any]:
        """The `minqing nlu parse` line format."""
        return {
            "text": self.text,
            "language": self.language.value,
            "intent": {"name": self.intent.name, "confidence": round(self.intent.confidence, 4)},
            "category": self.category,
            "entities": [
                {"entity": e.entity, "value": e.value, "start": e.start, "end": e.end}
                for e in self.entities
            ],
        }


class NluEngine(Protocol):
    """Anything that understands a text: the embedded scikit-learn engine or a Rasa server."""

    async def parse(self, text: str) -> ParsedMessage: ...
