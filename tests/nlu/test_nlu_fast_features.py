"""The single-text fast path gives the same features and probabilities as scikit-learn."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from nlu.embedded import (
    EmbeddedEngine,
    FastFeaturizer,
    FeatureInputs,
    Featurizer,
    RuleFindings,
)
from nlu.fast_features import FastVectorizer
from nlu.lexicon import DEFAULT_DATA_DIR
from nlu.training_data import load_training_data

ATOL = 1e-12

ODD_TEXTS = [
    "",
    "   ",
    "路灯  不亮\t\t了\n\n快来修",
    "a\tb",
    " \u3000路灯\u3000\u3000不亮\u00a0了 ",
    "路灯不亮了，晚上很黑。" * 150,
    "ཁང་པའི་ནང་ལ་ཆུ་ཡོང་གི་མི་འདུག " * 120,
    "13912345678",
    "886",
    "工单20261115-0021",
    "༡༢༣༤༥༦ ༧༨",
    "ＡＢＣ１２３ ＷｉＦｉ",
    "😀👍🏽 路灯坏了 🚧🚧🚧",
    "WiFi ཁང་པ 暖气 not working!!",
    "？？？！！！……",
    "ΩΨΦ ξζ",
    "ΩΨΦξζ",
    "𓀀𓀁𓀂",
]
"""Whitespace runs, tabs and newlines, very long texts, digits, emoji, mixed scripts, text
with nothing but punctuation and text with no known n-gram at all."""


@pytest.fixture(scope="module")
def texts() -> list[str]:
    """Every training text of both languages (once each), then the odd inputs."""
    training = [e.text for e in load_training_data(DEFAULT_DATA_DIR)]
    assert {e.language_dir for e in load_training_data(DEFAULT_DATA_DIR)} >= {"zh", "bo"}
    return list(dict.fromkeys(training + ODD_TEXTS))


@pytest.fixture(scope="module")
def findings(engine: EmbeddedEngine, texts: list[str]) -> list[RuleFindings]:
    lookups = engine.model.lookups(engine.lexicon_dir)
    return [RuleFindings.of(t, engine.lexicon_dir, lookups=lookups) for t in texts]


@pytest.fixture(scope="module")
def inputs(
    engine: EmbeddedEngine, texts: list[str], findings: list[RuleFindings]
) -> list[FeatureInputs]:
    return [
        FeatureInputs.of(t, engine.lexicon_dir, f) for t, f in zip(texts, findings, strict=True)
    ]


def featurizers(engine: EmbeddedEngine) -> list[Featurizer]:
    category = engine.model.category_featurizer
    assert category is not None
    return [engine.model.featurizer, category]


def fast_matrix(fast: FastFeaturizer, inputs: list[FeatureInputs]) -> sparse.csr_matrix:
    """The fast rows stacked as a CSR matrix (dense would be thousands × 50,000)."""
    rows = [fast.row(i) for i in inputs]
    indptr = np.cumsum([0] + [len(r.indices) for r in rows])
    return sparse.csr_matrix(
        (
            np.concatenate([r.values for r in rows]),
            np.concatenate([r.indices for r in rows]),
            indptr,
        ),
        shape=(len(rows), fast.size),
    )


def largest_difference(a: sparse.csr_matrix, b: sparse.csr_matrix) -> float:
    return float(abs(a - b).max())


@pytest.mark.parametrize("which", ["intent", "category"])
def test_fast_rows_equal_the_scikit_learn_features(
    engine: EmbeddedEngine,
    texts: list[str],
    findings: list[RuleFindings],
    inputs: list[FeatureInputs],
    which: str,
) -> None:
    featurizer = featurizers(engine)[which == "category"]
    reference = featurizer.transform(texts, engine.lexicon_dir, findings)
    fast = FastFeaturizer(featurizer)
    got = fast_matrix(fast, inputs)
    assert got.shape == reference.shape
    assert largest_difference(got, reference) <= ATOL
    for i in inputs[:50]:  # indices sorted and unique, values non-zero
        row = fast.row(i)
        assert (np.diff(row.indices) > 0).all()
        assert (row.values != 0).all()


def test_odd_texts_with_nothing_known_still_match(engine: EmbeddedEngine) -> None:
    fast = FastFeaturizer(engine.model.featurizer)
    for text in ("ΩΨΦξζ", "𓀀𓀁𓀂", ""):
        findings = RuleFindings.of(text, engine.lexicon_dir)
        row = fast.row(FeatureInputs.of(text, engine.lexicon_dir, findings))
        # no char or word n-gram is known: only the length marker (and no division by 0)
        assert (row.indices >= fast.chars.size + fast.words.size).all()
        reference = engine.model.featurizer.transform([text], engine.lexicon_dir, [findings])
        assert np.allclose(row.dense(fast.size), reference.toarray()[0], rtol=0.0, atol=ATOL)


@pytest.mark.parametrize("which", ["intent", "category"])
def test_fast_probabilities_equal_the_matrix_path(
    engine: EmbeddedEngine,
    texts: list[str],
    findings: list[RuleFindings],
    inputs: list[FeatureInputs],
    which: str,
) -> None:
    featurizer = featurizers(engine)[which == "category"]
    classifier = engine.model.intent_classifier
    if which == "category":
        assert engine.model.category_classifier is not None
        classifier = engine.model.category_classifier
    reference = classifier.predict_proba(featurizer.transform(texts, engine.lexicon_dir, findings))
    fast = FastFeaturizer(featurizer)
    got = np.vstack(
        [classifier.predict_proba_row(r.indices, r.values) for r in map(fast.row, inputs)]
    )
    assert np.allclose(got, reference, rtol=0.0, atol=ATOL)
    assert (got.argmax(axis=1) == reference.argmax(axis=1)).all()


def test_the_engine_ranks_and_categorises_as_the_scikit_learn_path(
    engine: EmbeddedEngine, texts: list[str], findings: list[RuleFindings]
) -> None:
    intents = engine.model.intent_classifier
    categories = engine.model.category_classifier
    category_featurizer = engine.model.category_featurizer
    assert categories is not None
    assert category_featurizer is not None
    intent_p = intents.predict_proba(
        engine.model.featurizer.transform(texts, engine.lexicon_dir, findings)
    )
    category_p = categories.predict_proba(
        category_featurizer.transform(texts, engine.lexicon_dir, findings)
    )
    reports = 0
    for k, text in enumerate(texts):
        expected = dict(zip(intents.classes_.tolist(), intent_p[k].tolist(), strict=True))
        ranking = engine.classify_intent(text)
        assert ranking[0].name == intents.classes_[intent_p[k].argmax()]
        got = {i.name: i.confidence for i in ranking}
        assert got.keys() == expected.keys()
        assert np.allclose([got[n] for n in expected], list(expected.values()), atol=ATOL)
        name, confidence = engine.classify_category(text)
        assert name == categories.classes_[category_p[k].argmax()]
        assert confidence == pytest.approx(category_p[k].max(), abs=ATOL)
        if not text.strip():
            continue
        parsed = engine.parse_sync(text)
        assert parsed.intent.name == ranking[0].name
        assert parsed.intent.confidence == pytest.approx(ranking[0].confidence, abs=ATOL)
        top = sorted(expected.values(), reverse=True)[: len(parsed.intent_ranking)]
        assert np.allclose([i.confidence for i in parsed.intent_ranking], top, atol=ATOL)
        if parsed.intent.name == "report_issue":
            reports += 1
            assert parsed.category == name
            assert parsed.category_confidence == pytest.approx(confidence, abs=ATOL)
        else:
            assert parsed.category is None
    assert reports > 100


def test_a_wrong_idf_breaks_the_equality(engine: EmbeddedEngine) -> None:
    """The comparison above is sharp enough to see a slightly wrong IDF."""
    text = "我们小区的暖气到现在还是冰凉的"
    findings = RuleFindings.of(text, engine.lexicon_dir)
    reference = engine.model.featurizer.transform([text], engine.lexicon_dir, [findings])
    fast = FastFeaturizer(engine.model.featurizer)
    broken = copy.copy(fast.chars)
    assert broken.idf is not None
    broken.idf = broken.idf + 1e-6
    fast.chars = broken
    row = fast.row(FeatureInputs.of(text, engine.lexicon_dir, findings))
    assert not np.allclose(row.dense(fast.size), reference.toarray()[0], rtol=0.0, atol=ATOL)


# --- FastVectorizer against scikit-learn on raw, untidy text ---------------------------------

CORPUS = [
    "The  street lamp\tis broken",
    "the street LAMP is broken again and again",
    "water water\n\nwater  no water",
    "a\tb  c   d\n e",
    "路灯  不亮 了 路灯",
    "ཁང་པ  ཆུ ཆུ",
    "x",
]
UNSEEN = ["", "   ", "\t\t", "lamp\t\tbroken  street", "zzz qqq", "WATER\nwater", "a\tb"]


def vectorizers() -> list[CountVectorizer]:
    return [
        TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, lowercase=False),
        TfidfVectorizer(analyzer="char", ngram_range=(2, 4)),
        TfidfVectorizer(analyzer="char", binary=True, sublinear_tf=True, norm=None),
        TfidfVectorizer(
            analyzer="word",
            token_pattern=r"\S+",
            ngram_range=(1, 2),
            sublinear_tf=True,
            lowercase=False,
        ),
        TfidfVectorizer(ngram_range=(2, 3)),
        TfidfVectorizer(use_idf=False, smooth_idf=False),
        CountVectorizer(token_pattern=r"\S+", lowercase=False, binary=True),
        CountVectorizer(analyzer="char", ngram_range=(1, 2)),
        CountVectorizer(token_pattern=r"(?u)\b(\w)\w*"),
    ]


@pytest.mark.parametrize("vectorizer", vectorizers(), ids=repr)
def test_fast_vectorizer_equals_scikit_learn(vectorizer: CountVectorizer) -> None:
    vectorizer.fit(CORPUS)
    fast = FastVectorizer(vectorizer, weight=0.5, offset=3)
    for text in CORPUS + UNSEEN:
        reference = sparse.csr_matrix(vectorizer.transform([text]), dtype=np.float64) * 0.5
        expected = np.concatenate([np.zeros(3), reference.toarray()[0]])
        got = fast.row(text).dense(3 + fast.size)
        assert np.allclose(got, expected, rtol=0.0, atol=ATOL), text


@pytest.mark.parametrize(
    "vectorizer",
    [
        TfidfVectorizer(analyzer="char_wb"),
        TfidfVectorizer(stop_words=["the"]),
        TfidfVectorizer(norm="l1"),
        CountVectorizer(strip_accents="unicode"),
    ],
    ids=repr,
)
def test_unsupported_settings_are_refused(vectorizer: CountVectorizer) -> None:
    vectorizer.fit(CORPUS)
    with pytest.raises(ValueError, match="unsupported"):
        FastVectorizer(vectorizer)
