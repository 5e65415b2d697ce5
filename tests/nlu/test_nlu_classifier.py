from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from nlu.classifier import PlattLinearClassifier


def blobs(classes: int, per_class: int = 12) -> tuple[sparse.csr_matrix, list[str]]:
    rng = np.random.default_rng(7)
    rows, labels = [], []
    for k in range(classes):
        centre = np.zeros(classes * 2)
        centre[2 * k] = 3.0
        for _ in range(per_class):
            rows.append(centre + rng.normal(0, 0.4, classes * 2))
            labels.append(f"c{k}")
    return sparse.csr_matrix(np.array(rows)), labels


@pytest.mark.parametrize("classes", [2, 3, 5])
def test_probabilities_are_calibrated_rows_that_sum_to_one(classes: int) -> None:
    features, labels = blobs(classes)
    model = PlattLinearClassifier().fit(features, labels)
    probabilities = model.predict_proba(features)
    assert probabilities.shape == (len(labels), classes)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert list(model.classes_) == sorted(set(labels))
    assert (model.predict(features) == np.array(labels)).mean() == 1.0
    # separable data: the right class is clearly the most probable
    best = probabilities[
        np.arange(len(labels)), [model.classes_.tolist().index(y) for y in labels]
    ]
    assert best.min() > 0.5


def test_tiny_classes_fall_back_to_training_scores_for_calibration() -> None:
    features = sparse.csr_matrix(np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1]]))
    model = PlattLinearClassifier().fit(features, ["a", "b", "a"])
    assert model.predict(sparse.csr_matrix(np.array([[0.0, 1.0]])))[0] == "b"


def test_one_class_is_refused() -> None:
    with pytest.raises(ValueError, match="two classes"):
        PlattLinearClassifier().fit(sparse.csr_matrix(np.eye(2)), ["a", "a"])


@pytest.mark.parametrize("classes", [2, 3, 5])
def test_one_sparse_row_gets_the_same_probabilities_as_the_matrix(classes: int) -> None:
    features, labels = blobs(classes)
    features.data[np.abs(features.data) < 0.3] = 0.0  # some explicit zeros, like pruning would
    features.eliminate_zeros()
    model = PlattLinearClassifier().fit(features, labels)
    expected = model.predict_proba(features)
    for k in range(features.shape[0]):
        row = features.getrow(k)
        got = model.predict_proba_row(row.indices, row.data)
        assert np.allclose(got, expected[k], rtol=0.0, atol=1e-12)
    empty = model.predict_proba_row(np.zeros(0, dtype=np.intp), np.zeros(0))
    assert np.allclose(empty, model.predict_proba(sparse.csr_matrix((1, features.shape[1])))[0])
