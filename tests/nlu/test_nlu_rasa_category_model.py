"""The category model of the Rasa CategoryClassifier component (numpy/scikit-learn part)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression

from nlu.lexicon import DEFAULT_DATA_DIR
from nlu.rasa_components.category_model import FILE_NAME, CategoryModel, prepare
from nlu.training_data import TrainingExample, load_training_data, split_examples


def _features(texts: list[str], vectorizer: CountVectorizer) -> sparse.csr_matrix:
    """Counts of character 1–3-grams: a stand-in for Rasa's sentence features."""
    return sparse.csr_matrix(vectorizer.transform(texts))


@pytest.fixture(scope="module")
def reports() -> tuple[list[str], list[str], list[str], list[str]]:
    """(train texts, train categories, held-out texts, held-out categories) of report_issue."""
    train, heldout = split_examples(load_training_data(DEFAULT_DATA_DIR))

    def pick(examples: list[TrainingExample]) -> tuple[list[str], list[str]]:
        chosen = [e for e in examples if e.intent == "report_issue" and e.category]
        return [e.text for e in chosen], [str(e.category) for e in chosen]

    return (*pick(train), *pick(heldout))


def test_learns_categories_from_sentence_counts(
    reports: tuple[list[str], list[str], list[str], list[str]],
) -> None:
    train_texts, train_labels, test_texts, test_labels = reports
    vectorizer = CountVectorizer(analyzer="char_wb", ngram_range=(1, 3)).fit(train_texts)
    model = CategoryModel.fit(_features(train_texts, vectorizer), train_labels)
    predictions = model.predict(_features(test_texts, vectorizer))
    accuracy = np.mean([p == g for (p, _), g in zip(predictions, test_labels, strict=True)])
    assert set(model.classes) == set(train_labels)
    assert accuracy >= 0.6  # char counts alone, no lexicon cues: well above chance (~1/10)
    assert all(0.0 < confidence <= 1.0 for _, confidence in predictions)


def test_probabilities_match_scikit_learn_after_a_save_and_load(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    dense = rng.poisson(0.3, size=(60, 40)).astype(float)
    labels = [("water", "power", "road")[i % 3] for i in range(60)]
    for i, label in enumerate(labels):  # make the labels learnable
        dense[i, ("water", "power", "road").index(label)] += 3
    features = sparse.csr_matrix(dense)
    model = CategoryModel.fit(features, labels, c=5.0)
    path = model.save(tmp_path)
    assert path.name == FILE_NAME
    loaded = CategoryModel.load(tmp_path)
    assert loaded.classes == model.classes
    reference = LogisticRegression(C=5.0, max_iter=5000, class_weight="balanced").fit(
        prepare(features), labels
    )
    np.testing.assert_allclose(
        loaded.predict_proba(features), reference.predict_proba(prepare(features)), atol=1e-6
    )
    assert [name for name, _ in loaded.predict(features)] == list(
        reference.predict(prepare(features))
    )


def test_two_categories_give_proper_probabilities() -> None:
    features = sparse.csr_matrix(np.array([[3, 0], [2, 0], [0, 3], [0, 2]], dtype=float))
    model = CategoryModel.fit(features, ["water", "water", "power", "power"])
    probabilities = model.predict_proba(features)
    assert probabilities.shape == (4, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert [name for name, _ in model.predict(features)] == ["water", "water", "power", "power"]


def test_rows_are_damped_and_normalised_and_empty_rows_survive() -> None:
    rows = prepare(sparse.csr_matrix(np.array([[9.0, 0.0, 0.0], [0.0, 0.0, 0.0]])))
    assert rows[0, 0] == pytest.approx(1.0)
    assert rows[1].nnz == 0


def test_refuses_one_category_and_wrong_widths() -> None:
    features = sparse.csr_matrix(np.eye(3))
    with pytest.raises(ValueError, match="two categories"):
        CategoryModel.fit(features, ["water"] * 3)
    model = CategoryModel.fit(features, ["water", "power", "road"])
    with pytest.raises(ValueError, match="expected 3 features"):
        model.predict(sparse.csr_matrix(np.eye(4)))
