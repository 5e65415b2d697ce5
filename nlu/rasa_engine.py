"""An :class:`~nlu.parsed.NluEngine` backed by a Rasa server's ``POST /model/parse``.

Rasa gives the intent, its ranking and entities. Language comes from script detection,
category and hazard from the fallback engine (category classifier, hazard lexicon), and the
rule extractors add the entity kinds Rasa did not return (so phone, ticket and datetime stay
normalised). When Rasa is unreachable, times out or answers 5xx, the fallback's parse is
returned; the outage is logged once, and its end once.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import aiohttp

from nlu.entities import extract_entities
from nlu.hazards import detect_hazard
from nlu.language import detect_language
from nlu.lexicon import DEFAULT_LEXICON_DIR
from nlu.parsed import Entity, Intent, NluEngine, ParsedMessage

log = logging.getLogger(__name__)

RANKING_SIZE = 5
FALLBACK_INTENT = "out_of_scope"
REPORT_INTENT = "report_issue"


@runtime_checkable
class CategoryClassifier(Protocol):
    """An engine that can name a petition category for any text (the embedded engine)."""

    def classify_category(self, text: str) -> tuple[str, float]: ...


@runtime_checkable
class HazardDetector(Protocol):
    """An engine that can spot a danger in a text (the embedded engine)."""

    def detect_hazard(self, text: str) -> str | None: ...


class RasaUnavailableError(Exception):
    """Rasa could not answer (connection error, timeout, 5xx, malformed reply)."""


class RasaEngine:
    """Parse with Rasa, fall back to another engine while Rasa is down."""

    def __init__(
        self,
        url: str,
        timeout: float,
        fallback: NluEngine,
        lexicon_dir: Path = DEFAULT_LEXICON_DIR,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.fallback = fallback
        self.lexicon_dir = Path(lexicon_dir)
        self._session: aiohttp.ClientSession | None = None
        self._outage = False

    @property
    def in_outage(self) -> bool:
        """Whether the last request failed (and the fallback answered)."""
        return self._outage

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout)
            )
        return self._session

    async def close(self) -> None:
        """Close the HTTP session (created lazily on the first parse)."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def parse(self, text: str) -> ParsedMessage:
        """Rasa's parse mapped to a :class:`ParsedMessage`, or the fallback's."""
        try:
            payload = await self._request(text)
        except RasaUnavailableError as exc:
            if not self._outage:
                log.warning(
                    "Rasa at %s unavailable (%s); using the fallback engine", self.url, exc
                )
                self._outage = True
            return await self.fallback.parse(text)
        if self._outage:
            log.info("Rasa at %s is back", self.url)
            self._outage = False
        return self._to_parsed(text, payload)

    async def _request(self, text: str) -> dict[str, Any]:
        try:
            async with self._client().post(
                f"{self.url}/model/parse", json={"text": text}
            ) as response:
                if response.status >= 500:
                    raise RasaUnavailableError(f"HTTP {response.status}")
                response.raise_for_status()
                payload = await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise RasaUnavailableError(f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(payload, dict):
            raise RasaUnavailableError("reply is not a JSON object")
        return payload

    def _to_parsed(
        self, text: str, payload: dict[str, Any], now: datetime | None = None
    ) -> ParsedMessage:
        intent = _intent(payload.get("intent")) or Intent(FALLBACK_INTENT, 0.0)
        ranking = tuple(
            i for i in (_intent(r) for r in payload.get("intent_ranking") or []) if i is not None
        )[:RANKING_SIZE] or (intent,)
        entities = _entities(payload.get("entities"))
        rasa_kinds = {e.entity for e in entities}
        rules = [
            e for e in extract_entities(text, now, self.lexicon_dir) if e.entity not in rasa_kinds
        ]
        merged = tuple(sorted((*entities, *rules), key=lambda e: (e.start, e.end)))
        category: str | None = None
        category_confidence = 0.0
        if intent.name == REPORT_INTENT and isinstance(self.fallback, CategoryClassifier):
            category, category_confidence = self.fallback.classify_category(text)
        if isinstance(self.fallback, HazardDetector):
            hazard = self.fallback.detect_hazard(text)
        else:
            hazard = detect_hazard(text, self.lexicon_dir)
        return ParsedMessage(
            text=text,
            language=detect_language(text),
            intent=intent,
            category=category,
            category_confidence=category_confidence,
            entities=merged,
            hazard=hazard,
            intent_ranking=ranking,
            extras={"engine": "rasa"},
        )


def _intent(raw: Any) -> Intent | None:
    if not isinstance(raw, dict) or not raw.get("name"):
        return None
    try:
        confidence = float(raw.get("confidence") or 0.0)
    except (TypeError, ValueError):
        confidence = 0.0
    return Intent(str(raw["name"]), confidence)


def _entities(raw: Any) -> tuple[Entity, ...]:
    out: list[Entity] = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        try:
            out.append(
                Entity(
                    str(item["entity"]),
                    str(item.get("value", "")),
                    int(item["start"]),
                    int(item["end"]),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return tuple(out)
