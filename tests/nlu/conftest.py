"""Shared NLU fixtures: one engine trained on the real data, once per test session."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from nlu.embedded import EmbeddedEngine, load_or_train
from nlu.lexicon import DEFAULT_DATA_DIR
from nlu.timeparse import SHANGHAI

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=SHANGHAI)
"""A Sunday morning: every relative date in the tests counts from here."""


@pytest.fixture
def now() -> datetime:
    """Sunday 2026-11-22 10:00 in Lhasa."""
    return NOW


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nlu-model")


@pytest.fixture(scope="session")
def engine(model_dir: Path) -> EmbeddedEngine:
    """The embedded engine trained on everything under data/nlu (seconds)."""
    return load_or_train(DEFAULT_DATA_DIR, model_dir)
