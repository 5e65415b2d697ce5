"""One text's TF-IDF or count features from a fitted scikit-learn vectorizer, in plain Python.

For a single short text scikit-learn spends most of a ``transform`` call on parameter and
input validation and on building sparse matrices; a parse needs one row, so the fitted
vocabulary and IDF weights are read once and applied with dict lookups instead.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

_WHITE_SPACES = re.compile(r"\s\s+")
"""scikit-learn's ``_VectorizerMixin._white_spaces``: the char analyzer folds runs to a space."""


@dataclass(frozen=True, slots=True)
class SparseRow:
    """One feature row as sorted column indices and their values."""

    indices: np.ndarray
    values: np.ndarray

    @staticmethod
    def concat(*rows: SparseRow) -> SparseRow:
        """The blocks side by side (each already carries its column offset)."""
        return SparseRow(
            np.concatenate([r.indices for r in rows]), np.concatenate([r.values for r in rows])
        )

    def dense(self, size: int) -> np.ndarray:
        """The row as a dense vector of ``size`` columns (for tests and debugging)."""
        out = np.zeros(size)
        out[self.indices] = self.values
        return out


class FastVectorizer:
    """A fitted ``CountVectorizer`` or ``TfidfVectorizer`` applied to one text: the same
    n-grams, counts, sublinear tf, IDF and norm, times a block weight, at a column offset."""

    def __init__(self, vectorizer: CountVectorizer, weight: float = 1.0, offset: int = 0) -> None:
        tfidf = isinstance(vectorizer, TfidfVectorizer)
        unsupported = (
            vectorizer.analyzer not in ("char", "word")
            or vectorizer.input != "content"
            or vectorizer.preprocessor is not None
            or vectorizer.tokenizer is not None
            or vectorizer.stop_words is not None
            or vectorizer.strip_accents is not None
            or (tfidf and vectorizer.norm not in (None, "l2"))
        )
        if unsupported:
            raise ValueError(f"unsupported vectorizer settings: {vectorizer!r}")
        self.vocabulary: dict[str, int] = dict(vectorizer.vocabulary_)
        self.size = len(self.vocabulary)
        self.weight = weight
        self.offset = offset
        self.idf: np.ndarray | None = (
            np.asarray(vectorizer.idf_, dtype=np.float64) if tfidf and vectorizer.use_idf else None
        )
        self.sublinear_tf = bool(tfidf and vectorizer.sublinear_tf)
        self.l2 = bool(tfidf and vectorizer.norm == "l2")
        self.binary = bool(vectorizer.binary)
        self.lowercase = bool(vectorizer.lowercase)
        self.min_n, self.max_n = vectorizer.ngram_range
        self.token_pattern = (
            re.compile(vectorizer.token_pattern) if vectorizer.analyzer == "word" else None
        )
        if self.token_pattern is not None and self.token_pattern.groups > 1:
            raise ValueError("a token pattern may capture one group at most")

    def ngrams(self, text: str) -> list[str]:
        """The n-grams scikit-learn's analyzer yields for ``text`` (in another order)."""
        if self.lowercase:
            text = text.lower()
        if self.token_pattern is None:
            text = _WHITE_SPACES.sub(" ", text)
            return [
                text[i : i + n]
                for n in range(self.min_n, self.max_n + 1)
                for i in range(len(text) - n + 1)
            ]
        tokens = self.token_pattern.findall(text)
        return [
            " ".join(tokens[i : i + n])
            for n in range(self.min_n, self.max_n + 1)
            for i in range(len(tokens) - n + 1)
        ]

    def row(self, text: str) -> SparseRow:
        """The weighted feature row of ``text``, indices shifted by the block offset."""
        vocabulary = self.vocabulary
        counts = {
            j: c
            for gram, c in Counter(self.ngrams(text)).items()
            if (j := vocabulary.get(gram)) is not None
        }
        indices = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
        values = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        order = np.argsort(indices)
        indices, values = indices[order], values[order]
        if self.binary:
            values = np.ones(len(indices))
        if self.sublinear_tf:
            values = np.log(values) + 1.0
        if self.idf is not None:
            values = values * self.idf[indices]
        if self.l2:
            norm = float(np.sqrt(np.dot(values, values)))
            if norm > 0.0:
                values = values / norm
        return SparseRow(indices + self.offset, values * self.weight)
