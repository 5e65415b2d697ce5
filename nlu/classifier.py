"""A linear SVM with Platt-scaled probabilities, small and fast to apply.

scikit-learn's ``CalibratedClassifierCV`` gives the same model but spends milliseconds per
call in input validation across its folds; a parse must stay within a few milliseconds, so
the fitted model is reduced to plain arrays: one weight matrix and two numbers per class.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.svm import LinearSVC

Matrix = Any
"""A scipy sparse matrix or numpy array of feature rows."""


class PlattLinearClassifier:
    """One-vs-rest linear SVM; per class, ``p = sigmoid(a * score + b)`` fitted on 3-fold
    out-of-fold scores (Platt scaling), then normalised to sum to one."""

    def __init__(self, c: float = 1.0, folds: int = 3, seed: int = 0) -> None:
        self.c = c
        self.folds = folds
        self.seed = seed
        self.classes_: np.ndarray = np.array([])
        self.coef_: np.ndarray = np.zeros((0, 0))
        self.intercept_: np.ndarray = np.zeros(0)
        self.slope_: np.ndarray = np.zeros(0)
        self.offset_: np.ndarray = np.zeros(0)

    def _svm(self) -> LinearSVC:
        return LinearSVC(C=self.c, class_weight="balanced")

    def fit(self, features: Matrix, labels: Sequence[str]) -> PlattLinearClassifier:
        """Fit the SVM on everything and the sigmoids on out-of-fold scores."""
        y = np.asarray(labels)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError("need at least two classes")
        svm = self._svm().fit(features, y)
        fewest = min(Counter(labels).values())
        folds = min(self.folds, fewest)
        if folds >= 2:
            splitter = StratifiedKFold(folds, shuffle=True, random_state=self.seed)
            scores = cross_val_predict(
                self._svm(), features, y, cv=splitter, method="decision_function"
            )
        else:  # too few examples to hold any out: calibrate on the training scores
            scores = svm.decision_function(features)
        if len(classes) == 2:
            scores = np.column_stack([-scores, scores])
        slopes, offsets = [], []
        for k, name in enumerate(classes):
            target = (y == name).astype(int)
            platt = LogisticRegression(C=1e4).fit(scores[:, k : k + 1], target)
            slopes.append(float(platt.coef_[0, 0]))
            offsets.append(float(platt.intercept_[0]))
        coef = np.asarray(svm.coef_, dtype=np.float64)
        intercept = np.asarray(svm.intercept_, dtype=np.float64)
        if len(classes) == 2:
            coef = np.vstack([-coef, coef])
            intercept = np.concatenate([-intercept, intercept])
        self.classes_ = classes
        self.coef_ = np.ascontiguousarray(coef.T)
        self.intercept_ = intercept
        self.slope_ = np.asarray(slopes)
        self.offset_ = np.asarray(offsets)
        return self

    def decision_function(self, features: Matrix) -> np.ndarray:
        """Raw SVM scores, one column per class."""
        scores: np.ndarray = np.asarray(features @ self.coef_) + self.intercept_
        return scores

    def predict_proba(self, features: Matrix) -> np.ndarray:
        """Calibrated probabilities, rows summing to one."""
        return self._calibrated(self.decision_function(features))

    def predict_proba_row(self, indices: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of one sparse row given as column indices and values:
        the per-message path, without building a matrix."""
        scores: np.ndarray = values @ self.coef_[indices] + self.intercept_
        return self._calibrated(scores)

    def _calibrated(self, scores: np.ndarray) -> np.ndarray:
        """Platt sigmoids of raw scores (classes on the last axis), normalised to sum to one."""
        z = scores * self.slope_ + self.offset_
        p: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        total = p.sum(axis=-1, keepdims=True)
        total[total == 0] = 1.0
        probabilities: np.ndarray = p / total
        return probabilities

    def predict(self, features: Matrix) -> np.ndarray:
        """The most probable class of each row."""
        labels: np.ndarray = self.classes_[np.argmax(self.decision_function(features), axis=1)]
        return labels
