"""An :class:`~nlu.parsed.NluEngine` backed by a Rasa server's ``POST /model/parse``.

Rasa gives the intent, its ranking and entities, and the petition category when the model
has our ``CategoryClassifier`` component (``rasa/config.yml``: it adds ``"category": {"name",
"confidence"}`` to the parse). Language comes from script detection, hazard from the fallback
engine (hazard lexicon), the category from the fallback's category classifier when Rasa gave
none. Phone, ticket and datetime always come from the rule extractors (their values are
normalised: digits, ISO intervals; DIET only finds the surface text, and less precisely);
for the other kinds Rasa's entities are used and the rules add the kinds Rasa did not
return. When Rasa is unreachable, times out or answers 5xx, the fallback's parse is returned;
the outage is logged once, and its end once.
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
RULE_KINDS = frozenset({"phone", "ticket", "datetime"})
"""Entity kinds whose values the rule extractors normalise: always taken from them."""


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
        return self.to_parsed(text, payload)

    async def parse_rasa(self, text: str) -> ParsedMessage:
        """Rasa's parse, never the fallback's: raises :class:`RasaUnavailableError` when Rasa
        cannot answer (for evaluations, which must not score the fallback as Rasa)."""
        return self.to_parsed(text, await self.raw_parse(text))

    async def raw_parse(self, text: str) -> dict[str, Any]:
        """Rasa's ``/model/parse`` reply as it is; raises :class:`RasaUnavailableError`."""
        return await self._request(text)

    async def status(self) -> dict[str, Any]:
        """Rasa's ``GET /status`` (``model_file``, ``model_id``, ``num_active_training_jobs``)."""
        try:
            async with self._client().get(f"{self.url}/status") as response:
                response.raise_for_status()
                payload = await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise RasaUnavailableError(f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(payload, dict):
            raise RasaUnavailableError("status is not a JSON object")
        return payload

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

    def to_parsed(
        self, text: str, payload: dict[str, Any], now: datetime | None = None
    ) -> ParsedMessage:
        """A ``/model/parse`` reply completed locally (language, hazard, rule entities, the
        category when Rasa gave none) as a :class:`ParsedMessage`."""
        intent = _intent(payload.get("intent")) or Intent(FALLBACK_INTENT, 0.0)
        ranking = tuple(
            i for i in (_intent(r) for r in payload.get("intent_ranking") or []) if i is not None
        )[:RANKING_SIZE] or (intent,)
        entities = tuple(
            e for e in _entities(payload.get("entities")) if e.entity not in RULE_KINDS
        )
        rasa_kinds = {e.entity for e in entities}
        rules = [
            e
            for e in extract_entities(text, now, self.lexicon_dir)
            if e.entity in RULE_KINDS or e.entity not in rasa_kinds
        ]
        merged = tuple(sorted((*entities, *rules), key=lambda e: (e.start, e.end)))
        category: str | None = None
        category_confidence = 0.0
        extras: dict[str, Any] = {"engine": "rasa"}
        rasa_category = _category(payload.get("category"))
        if rasa_category is not None:
            extras["rasa_category"] = {
                "name": rasa_category.name,
                "confidence": rasa_category.confidence,
            }
        if intent.name == REPORT_INTENT:
            if rasa_category is not None:
                category, category_confidence = rasa_category.name, rasa_category.confidence
                extras["category_source"] = "rasa"
            elif isinstance(self.fallback, CategoryClassifier):
                category, category_confidence = self.fallback.classify_category(text)
                extras["category_source"] = "fallback"
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
            extras=extras,
        )


def _intent(raw: Any) -> Intent | None:
    if not isinstance(raw, dict) or not raw.get("name"):
        return None
    try:
        confidence = float(raw.get("confidence") or 0.0)
    except (TypeError, ValueError):
        confidence = 0.0
    return Intent(str(raw["name"]), confidence)


def rasa_entities(payload: dict[str, Any]) -> tuple[Entity, ...]:
    """The entities of a ``/model/parse`` reply as they are (malformed items skipped)."""
    return _entities(payload.get("entities"))


def _category(raw: Any) -> Intent | None:
    """The ``category`` our CategoryClassifier adds: ``{"name", "confidence"}``."""
    return _intent(raw)


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
