"""The petition-category model behind :class:`nlu.rasa_components.category.CategoryClassifier`.

Rasa knows intents and entities, not our ``category``. This is a multinomial logistic
regression on the sentence features Rasa's featurizers already computed (lookup-table hits
of the lexicon's cue words, word and character n-gram counts), trained on the
``report_issue`` examples with their intent-level ``metadata.category``. Counts are damped
(``log1p``) and each row L2-normalised, so long dictated messages weigh like short ones.

Kept free of Rasa (numpy, scipy, scikit-learn only) so the product's tests cover it. The
model is stored as plain arrays (``.npz``, no pickle) and predicts with numpy alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from sklearn.linear_model import LogisticRegression

FILE_NAME = "category_model.npz"
DEFAULT_C = 10.0

Matrix: TypeAlias = Any
"""A scipy sparse matrix or a dense array, one row per example."""


def prepare(features: Matrix) -> sparse.csr_matrix:
    """Damped, row-normalised features (the same transform for training and prediction)."""
    matrix = sparse.csr_matrix(features, dtype=np.float64)
    matrix.data = np.log1p(np.abs(matrix.data)) * np.sign(matrix.data)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ matrix)


@dataclass(frozen=True)
class CategoryModel:
    """Linear scores per category, softmax for probabilities."""

    classes: tuple[str, ...]
    coef: NDArray[np.float64]
    """(categories, features)"""
    intercept: NDArray[np.float64]
    """(categories,)"""

    @property
    def n_features(self) -> int:
        """Width of the feature rows the model expects."""
        return int(self.coef.shape[1])

    @classmethod
    def fit(cls, features: Matrix, labels: Sequence[str], c: float = DEFAULT_C) -> CategoryModel:
        """Train on one feature row per ``report_issue`` example and its category."""
        if len(set(labels)) < 2:
            raise ValueError("a category model needs examples of at least two categories")
        classifier = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
        classifier.fit(prepare(features), list(labels))
        coef = np.asarray(classifier.coef_, dtype=np.float64)
        intercept = np.asarray(classifier.intercept_, dtype=np.float64)
        if coef.shape[0] == 1:  # binary: softmax over ±z/2 is the sigmoid of z
            coef = np.vstack([-coef / 2, coef / 2])
            intercept = np.concatenate([-intercept / 2, intercept / 2])
        return cls(tuple(str(k) for k in classifier.classes_), coef, intercept)

    def predict_proba(self, features: Matrix) -> NDArray[np.float64]:
        """Probabilities per row and category (columns in :attr:`classes` order)."""
        matrix = prepare(features)
        if matrix.shape[1] != self.n_features:
            raise ValueError(f"expected {self.n_features} features, got {matrix.shape[1]}")
        scores = np.asarray(matrix @ self.coef.T) + self.intercept
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True), dtype=np.float64)

    def predict(self, features: Matrix) -> list[tuple[str, float]]:
        """The most likely category of each row, with its probability."""
        probabilities = self.predict_proba(features)
        best = probabilities.argmax(axis=1)
        return [(self.classes[k], float(probabilities[i, k])) for i, k in enumerate(best)]

    def save(self, folder: Path) -> Path:
        """Write the arrays to ``folder/category_model.npz``."""
        path = Path(folder) / FILE_NAME
        np.savez(path, classes=np.array(self.classes), coef=self.coef, intercept=self.intercept)
        return path

    @classmethod
    def load(cls, folder: Path) -> CategoryModel:
        """Read what :meth:`save` wrote (no pickle involved)."""
        with np.load(Path(folder) / FILE_NAME, allow_pickle=False) as arrays:
            return cls(
                tuple(str(k) for k in arrays["classes"]),
                np.asarray(arrays["coef"], dtype=np.float64),
                np.asarray(arrays["intercept"], dtype=np.float64),
            )
