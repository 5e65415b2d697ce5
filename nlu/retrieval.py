"""BM25 retrieval over short bilingual documents (policy entries, FAQ answers).

Terms come from :mod:`nlu.tokenize`, the tokenizer both NLU engines share: jieba words for
Chinese, tsheg syllables for Tibetan, lower-cased Latin words, ASCII digits. Two extra kinds
of term make short questions match despite segmentation differences:

* Chinese: the character bigrams inside every jieba word of three or more characters, so
  "medical-insurance card" also yields "medical insurance", and "old-age allowance" matches a
  question that only says "old age"; a one-character word also stands for itself.
* Tibetan: adjacent syllable pairs (a two-syllable word as one term besides its syllables),
  so phrases count for more than the same syllables scattered.

**Good match.** Raw BM25 scores grow with the query's length, so they are judged relative
to the query: ``coverage`` is the score divided by what a document holding every query term
once would get (the sum of the query terms' IDF, with IDF of a term no document has for terms
outside the vocabulary). Stop words (question words, particles) are dropped from the query
first when the caller gives a list. A hit is good when its raw score reaches ``min_score``
(at least one distinctive term matched) and its coverage reaches ``min_coverage``. The
defaults were tuned on the policy catalog's test questions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import bm25s  # type: ignore[import-untyped]  # no stubs; pyproject has no override yet
import numpy as np

from nlu.language import detect_language
from nlu.lexicon import DEFAULT_LEXICON_DIR
from nlu.tokenize import TSHEG, TokenKind, tokenize

DEFAULT_MIN_SCORE = 1.0
DEFAULT_MIN_COVERAGE = 0.35
K1 = 1.2
B = 0.75


@dataclass(frozen=True, slots=True)
class Hit:
    """A document found for a query: raw BM25 score and coverage of the query (0..1+)."""

    doc_id: str
    score: float
    coverage: float


def weighted_terms(
    text: str,
    *,
    stopwords: Collection[str] = frozenset(),
    lexicon_dir: Path = DEFAULT_LEXICON_DIR,
) -> list[tuple[str, bool]]:
    """The BM25 terms of a text, each with whether it is derived (a bigram) rather than a word
    or syllable of its own; stop words are left out, bigrams of two stop words too."""
    out: list[tuple[str, bool]] = []
    previous_syllable: str | None = None
    for token in tokenize(text, lexicon_dir):
        word = token.text
        if token.kind is TokenKind.BO:
            if word not in stopwords:
                out.append((word, False))
            if previous_syllable is not None and not (
                word in stopwords and previous_syllable in stopwords
            ):
                out.append((previous_syllable + TSHEG + word, True))
            previous_syllable = word
            continue
        previous_syllable = None
        if word in stopwords:
            continue
        out.append((word, False))
        if token.kind is TokenKind.ZH and len(word) >= 3:
            out.extend((word[i : i + 2], True) for i in range(len(word) - 1))
    return out


def terms(
    text: str,
    *,
    stopwords: Collection[str] = frozenset(),
    lexicon_dir: Path = DEFAULT_LEXICON_DIR,
) -> list[str]:
    """The BM25 terms of a text (see the module docstring); stop words are left out."""
    return [term for term, _ in weighted_terms(text, stopwords=stopwords, lexicon_dir=lexicon_dir)]


class Bm25Index:
    """A BM25 index over ``(doc id, text)`` pairs; immutable once built."""

    def __init__(
        self,
        documents: Sequence[tuple[str, str]],
        *,
        stopwords: Iterable[str] = (),
        lexicon_dir: Path = DEFAULT_LEXICON_DIR,
        k1: float = K1,
        b: float = B,
    ) -> None:
        if not documents:
            raise ValueError("a search index needs at least one document")
        ids = [doc_id for doc_id, _ in documents]
        if len(set(ids)) != len(ids):
            raise ValueError("document ids must be unique")
        self.ids: tuple[str, ...] = tuple(ids)
        self.stopwords = frozenset(stopwords)
        self.lexicon_dir = lexicon_dir
        self.k1 = k1
        corpus = [self.terms(text) for _, text in documents]
        self._retriever = bm25s.BM25(k1=k1, b=b, method="lucene")
        self._retriever.index(corpus, show_progress=False)
        vocabulary: dict[str, int] = self._retriever.vocab_dict
        n = len(corpus)
        document_frequency = dict.fromkeys(vocabulary, 0)
        for document in corpus:
            for term in set(document):
                document_frequency[term] += 1
        self._idf = {term: _idf(df, n) for term, df in document_frequency.items()}
        self._unseen_idf = _idf(1, n)
        """An unknown query word weighs as much as the rarest known one."""

    def terms(self, text: str) -> list[str]:
        return terms(text, stopwords=self.stopwords, lexicon_dir=self.lexicon_dir)

    def ideal_score(self, query_terms: Sequence[tuple[str, bool]]) -> float:
        """Score of a document holding every query term once at average length: the sum of
        the terms' IDF, unknown words at the rarest known word's IDF, unknown bigrams not at
        all (their words already count)."""
        return sum(
            self._idf.get(term, 0.0 if derived else self._unseen_idf)
            for term, derived in query_terms
        )

    def hits(self, query: str, k: int = 5) -> list[Hit]:
        """Documents sharing a term with the query, best first (at most ``k``)."""
        query_terms = weighted_terms(query, stopwords=self.stopwords, lexicon_dir=self.lexicon_dir)
        known = [term for term, _ in query_terms if term in self._idf]
        if not known:
            return []
        scores = np.asarray(self._retriever.get_scores(known), dtype=float)
        ideal = self.ideal_score(query_terms) or 1.0
        order = np.argsort(-scores, kind="stable")[:k]
        return [
            Hit(self.ids[i], float(scores[i]), float(scores[i]) / ideal)
            for i in order
            if scores[i] > 0
        ]

    def search(self, query: str, k: int = 5) -> list[tuple[str, float]]:
        """``(doc id, raw BM25 score)`` of the documents matching the query, best first."""
        return [(hit.doc_id, hit.score) for hit in self.hits(query, k)]

    def good(
        self,
        query: str,
        k: int = 5,
        *,
        min_score: float = DEFAULT_MIN_SCORE,
        min_coverage: float = DEFAULT_MIN_COVERAGE,
    ) -> list[Hit]:
        """The hits that count as good matches (module docstring), best first."""
        return [
            hit
            for hit in self.hits(query, k)
            if hit.score >= min_score and hit.coverage >= min_coverage
        ]

    def best(
        self,
        query: str,
        min_score: float = DEFAULT_MIN_SCORE,
        *,
        min_coverage: float = DEFAULT_MIN_COVERAGE,
    ) -> tuple[str, float] | None:
        """The top document and its score when it is a good match, else None."""
        good = self.good(query, 1, min_score=min_score, min_coverage=min_coverage)
        return (good[0].doc_id, good[0].score) if good else None


def _idf(df: int, n: int) -> float:
    """Lucene's BM25 IDF (what ``bm25s`` uses with ``method="lucene"``)."""
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


SearchFunction = Callable[[str, str], list[tuple[str, float]]]
"""(query, language) → good matches as (doc id, coverage), best first."""


class LanguageIndexes:
    """One :class:`Bm25Index` per language; a query searches its own language's index.

    A ``mixed`` (code-switched) or ``unknown`` query searches a merged index instead, where
    each document holds all its languages, so a Chinese word plus a Tibetan one matches on
    both halves and the words of one script do not count as unmatched in the other script's
    index. Use :meth:`search` as the ``search`` callable of ``governance.policies.service``.
    """

    def __init__(
        self,
        documents: Mapping[str, Sequence[tuple[str, str]]],
        *,
        stopwords: Mapping[str, Iterable[str]] | None = None,
        lexicon_dir: Path = DEFAULT_LEXICON_DIR,
        min_score: float = DEFAULT_MIN_SCORE,
        min_coverage: float = DEFAULT_MIN_COVERAGE,
    ) -> None:
        stopwords = stopwords or {}
        all_stopwords = frozenset(w for words in stopwords.values() for w in words)
        self.indexes = {
            language: Bm25Index(docs, stopwords=all_stopwords, lexicon_dir=lexicon_dir)
            for language, docs in documents.items()
        }
        merged: dict[str, list[str]] = {}
        for docs in documents.values():
            for doc_id, text in docs:
                merged.setdefault(doc_id, []).append(text)
        self.merged = Bm25Index(
            [(doc_id, "\n".join(texts)) for doc_id, texts in merged.items()],
            stopwords=all_stopwords,
            lexicon_dir=lexicon_dir,
        )
        """All languages of a document in one: for code-mixed and unknown-language queries."""
        self.min_score = min_score
        self.min_coverage = min_coverage

    def good(self, query: str, language: str | None = None, k: int = 5) -> list[Hit]:
        """Good matches in the query's language (detected when not given), best first."""
        if language is None:
            language = detect_language(query).value
        index = self.indexes.get(language, self.merged)
        return index.good(query, k, min_score=self.min_score, min_coverage=self.min_coverage)

    def search(self, query: str, language: str) -> list[tuple[str, float]]:
        """(doc id, coverage) of the good matches, best first (the service's ``search``)."""
        return [(hit.doc_id, hit.coverage) for hit in self.good(query, language)]
