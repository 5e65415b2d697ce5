"""Answering benefit-policy questions and keeping the ones nobody could answer.

``PolicyAnswerer.answer`` picks the policy and the part of it a question asks about:

1. **Field cues** (``data/policies/_fields.yml``): a question about what to bring asks for
   ``materials``, one about where to go for ``where``. The cue phrases are cut out of the
   question before retrieval, so they do not pull in whichever policy mentions "materials".
2. **Retrieval** on what is left, through the ``search`` callable the caller injects
   (``nlu.retrieval.LanguageIndexes.search``; governance does not import ``nlu``). It returns
   good matches only, best first. With a topic from the NLU only that topic's policies count.
3. **Context**: when the resident was just told about a policy, that policy wins if it is
   among the matches and not clearly worse than the best one, and a question that names no
   policy at all ("where do I apply?") but asks for a field is a follow-up about it.
4. **Topic fallback**: the NLU saw a topic but retrieval could not choose → the topic's
   previous policy (in context) or its primary one.

Nothing found → ``NoAnswer``; the caller says so, offers a person, and calls
``log_unanswered`` so staff can write content for the question.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from governance.policies.catalog import (
    LIST_FIELDS,
    PolicyCatalog,
    PolicyField,
)
from governance.policies.models import UnansweredQuestion
from governance.policies.revisions import LiveCatalog

SearchFunction = Callable[[str, str], list[tuple[str, float]]]
"""(query, language) → good matches as (policy id, score), best first."""
IndexBuilder = Callable[[PolicyCatalog], SearchFunction]
"""Builds the search over a catalog (``nlu.retrieval.LanguageIndexes``, injected)."""

PREFER_PREVIOUS_RATIO = 0.75
"""In context, the previous policy beats the best match when it scores at least this share
of it (a follow-up naming a shared word, e.g. the household register, stays with it)."""
TIE_RATIO = 0.95
"""Scores this close do not tell two policies of a topic apart (see `_prefer_primary`)."""
MAX_ANSWER_LINES = 5

_TSHEG = "\u0f0b"
_NON_BREAKING_TSHEG = "\u0f0c"
_SYLLABLE_MARKS = frozenset("\u0f35\u0f37\u0f39\u0f3e\u0f3f")


class AnswerSource(StrEnum):
    """How the policy was chosen."""

    RETRIEVAL = "retrieval"
    """The question matched the policy's text."""
    TOPIC = "topic"
    """The NLU named the topic; retrieval did not pick among its policies."""
    CONTEXT = "context"
    """A follow-up that names no policy: the one the resident was just told about."""


@dataclass(frozen=True, slots=True)
class PolicyAnswer:
    """Which policy to show and which of its parts; the wording is the caller's."""

    policy_id: str
    fields: tuple[PolicyField, ...]
    """The parts asked for, in the order asked; ``(SUMMARY,)`` when none was asked for."""
    follow_up: bool
    """The question is about the policy the resident was just told about."""
    source: AnswerSource
    score: float | None = None
    """The retrieval score when retrieval chose the policy."""


class NoAnswerReason(StrEnum):
    NO_MATCH = "no_match"
    """No policy matches well enough, and the NLU saw no topic we have content for."""


@dataclass(frozen=True, slots=True)
class NoAnswer:
    reason: NoAnswerReason
    topic: str | None
    fields: tuple[PolicyField, ...] = ()
    """Parts the question asked for anyway (e.g. "what do I bring?" with nothing in context)."""


@dataclass(frozen=True, slots=True)
class AskedFields:
    """The outcome of cue detection: the fields asked for, and the question without cues."""

    fields: tuple[PolicyField, ...]
    rest: str


class PolicyAnswerer:
    """Chooses the policy and fields for a question (see the module docstring).

    Built with ``PolicyAnswerer(catalog, search)`` it answers from that catalog for ever.
    Built with ``PolicyAnswerer.live_over(live, index)`` (the gateway) it answers from the
    process's ``LiveCatalog``, shared with the H5 page and the console: ``await
    refresh(session)`` at the start of a policy question compares the catalog version (one
    cheap query) and, when staff saved a revision through any worker, swaps in the new catalog
    and search indexes. The answering methods themselves never await, so a
    turn sees one catalog from start to end.
    """

    def __init__(self, catalog: PolicyCatalog, search: SearchFunction) -> None:
        self._use(catalog, search)
        self.live: LiveCatalog | None = None
        """The process's catalog with staff's revisions; None for a fixed answerer."""
        self._index: IndexBuilder | None = None

    @classmethod
    def live_over(cls, live: LiveCatalog, index: IndexBuilder) -> PolicyAnswerer:
        """An answerer over ``live`` (YAML seed plus staff's revisions), kept up to date by
        ``refresh``."""
        answerer = cls(live.catalog, index(live.catalog))
        answerer.live = live
        answerer._index = index
        return answerer

    def _use(self, catalog: PolicyCatalog, search: SearchFunction) -> None:
        self.catalog = catalog
        self.search = search
        self._cues = {language: catalog.cues.for_language(language) for language in ("zh", "bo")}
        self._ignore = catalog.cues.ignore

    async def refresh(self, session: AsyncSession) -> PolicyCatalog:
        """The catalog to answer from now: staff's newest revisions included (rebuilt only
        when the catalog version changed). A fixed answerer returns its catalog, no query."""
        if self.live is None or self._index is None:
            return self.catalog
        catalog = await self.live.current(session)
        if catalog is not self.catalog:
            self._use(catalog, self._index(catalog))
        return self.catalog

    def asked_fields(self, question: str) -> AskedFields:
        """Fields the question asks about (both languages' cues are tried: residents mix)."""
        text = unicodedata.normalize("NFC", question).replace(_NON_BREAKING_TSHEG, _TSHEG)
        syllables = _syllables(text)
        blocked = [
            span
            for language in ("zh", "bo")
            for phrase in self._ignore.get(language, ())
            for span in _find(text, syllables, phrase)
        ]
        found = [
            (start, end, field)
            for language in ("zh", "bo")
            for field, cue in self._cues[language]
            for start, end in _find(text, syllables, cue)
            if not _overlaps(start, end, blocked)
        ]
        # Where cues overlap the longest wins ("how much money" over "how much"), then earliest.
        found.sort(key=lambda span: (-(span[1] - span[0]), span[0]))
        chosen: list[tuple[int, int, PolicyField]] = []
        for start, end, field in found:
            if not _overlaps(start, end, chosen):
                chosen.append((start, end, field))
        chosen.sort()
        fields: list[PolicyField] = []
        for _, _, field in chosen:
            if field not in fields:
                fields.append(field)
        rest = list(text)
        for start, end, _ in chosen:
            rest[start:end] = [" "] * (end - start)
        return AskedFields(tuple(fields), "".join(rest))

    def answer(
        self,
        question: str,
        language: str,
        topic: str | None = None,
        previous_policy_id: str | None = None,
    ) -> PolicyAnswer | NoAnswer:
        """The policy and fields for ``question`` (``language`` as detected: zh, bo, mixed)."""
        asked = self.asked_fields(question)
        shown = asked.fields or (PolicyField.SUMMARY,)
        previous = self.catalog.get(previous_policy_id)
        candidates = self.catalog.by_topic(topic) if topic is not None else ()
        allowed = {p.id for p in candidates} if candidates else set(self.catalog.ids)

        hits = (
            [(pid, score) for pid, score in self.search(asked.rest, language) if pid in allowed]
            if _has_letters(asked.rest)
            else []
        )
        if hits:
            best_id, best_score = self._prefer_primary(hits)
            if previous is not None and best_id != previous.id:
                previous_score = next((s for pid, s in hits if pid == previous.id), None)
                if previous_score is not None and previous_score >= (
                    PREFER_PREVIOUS_RATIO * best_score
                ):
                    best_id, best_score = previous.id, previous_score
            follow_up = previous is not None and best_id == previous.id
            return PolicyAnswer(best_id, shown, follow_up, AnswerSource.RETRIEVAL, best_score)
        if candidates:
            if previous is not None and previous.topic == topic:
                return PolicyAnswer(previous.id, shown, True, AnswerSource.TOPIC)
            return PolicyAnswer(candidates[0].id, shown, False, AnswerSource.TOPIC)
        if previous is not None and asked.fields:
            return PolicyAnswer(previous.id, asked.fields, True, AnswerSource.CONTEXT)
        return NoAnswer(NoAnswerReason.NO_MATCH, topic, asked.fields)

    def _prefer_primary(self, hits: list[tuple[str, float]]) -> tuple[str, float]:
        """The best hit, unless the topic's primary policy scores within `TIE_RATIO` of it: a
        question naming only the old-age allowance matches its certification policy as well
        (both mention it alike), and a question that does not tell them apart gets the primary."""
        best_id, best_score = hits[0]
        best = self.catalog.get(best_id)
        if best is None or best.primary:
            return hits[0]
        for policy_id, score in hits[1:]:
            if score < TIE_RATIO * best_score:
                break
            candidate = self.catalog.get(policy_id)
            if candidate is not None and candidate.primary and candidate.topic == best.topic:
                return policy_id, score
        return hits[0]

    def lines(
        self, answer: PolicyAnswer, language: str, max_lines: int = MAX_ANSWER_LINES
    ) -> list[str]:
        """The content of the answer's fields, one entry per line, at most ``max_lines``
        (labels, title and the H5 link are the reply template's job)."""
        policy = self.catalog[answer.policy_id]
        out: list[str] = []
        for field in answer.fields:
            if field in LIST_FIELDS:
                out.extend(policy.items(field, language))
            else:
                out.extend(line for line in policy.text(field, language).splitlines() if line)
        return out[:max_lines]


async def log_unanswered(
    session: AsyncSession,
    openid: str,
    language: str,
    text: str,
    topic: str | None,
    now: datetime,
) -> UnansweredQuestion:
    """Store a question the bot could not answer, for staff to write content for."""
    question = UnansweredQuestion(
        openid=openid, language=language, text=text, topic=topic, created_at=now, note=""
    )
    session.add(question)
    await session.flush()
    return question


async def open_unanswered(session: AsyncSession, limit: int = 100) -> list[UnansweredQuestion]:
    """Unanswered questions still waiting for content, oldest first."""
    rows = await session.scalars(
        select(UnansweredQuestion)
        .where(UnansweredQuestion.answered_at.is_(None))
        .order_by(UnansweredQuestion.created_at, UnansweredQuestion.id)
        .limit(limit)
    )
    return list(rows)


async def mark_answered(
    session: AsyncSession, question_id: int, now: datetime, note: str = ""
) -> UnansweredQuestion | None:
    """Close a logged question (content was written, or it was out of scope)."""
    question = await session.get(UnansweredQuestion, question_id)
    if question is None:
        return None
    question.answered_at = now
    question.note = note
    await session.flush()
    return question


# --- cue matching ----------------------------------------------------------------------------


def _in_syllable(ch: str) -> bool:
    return "\u0f40" <= ch <= "\u0fbc" or ch in _SYLLABLE_MARKS


def _syllables(text: str) -> list[tuple[str, int, int]]:
    """Tibetan syllables of ``text`` with their spans (letters between tsheg, shad, space)."""
    out: list[tuple[str, int, int]] = []
    i, n = 0, len(text)
    while i < n:
        if _in_syllable(text[i]):
            j = i + 1
            while j < n and _in_syllable(text[j]):
                j += 1
            out.append((text[i:j], i, j))
            i = j
        else:
            i += 1
    return out


def _find(
    text: str, syllables: Sequence[tuple[str, int, int]], phrase: str
) -> list[tuple[int, int]]:
    """Spans of ``phrase`` in ``text``: whole syllables for Tibetan, substrings otherwise."""
    phrase = unicodedata.normalize("NFC", phrase).replace(_NON_BREAKING_TSHEG, _TSHEG)
    wanted = [s for s, _, _ in _syllables(phrase)]
    if not wanted:
        spans: list[tuple[int, int]] = []
        start = text.find(phrase)
        while phrase and start >= 0:
            spans.append((start, start + len(phrase)))
            start = text.find(phrase, start + len(phrase))
        return spans
    words = [s for s, _, _ in syllables]
    size = len(wanted)
    return [
        (syllables[i][1], syllables[i + size - 1][2])
        for i in range(len(words) - size + 1)
        if words[i : i + size] == wanted
    ]


def _overlaps(
    start: int, end: int, spans: Sequence[tuple[int, int] | tuple[int, int, object]]
) -> bool:
    return any(start < span[1] and span[0] < end for span in spans)


def _has_letters(text: str) -> bool:
    return any(ch.isalpha() or _in_syllable(ch) for ch in text)
