"""``CategoryClassifier``: Rasa 3.6 component that predicts our petition ``category``.

Rasa has no notion of a category; our data carries it as intent-level metadata of the
``report_issue`` blocks (``metadata: {category: water}``), which Rasa keeps on each training
message (``message.data["metadata"]["intent"]``). This component, placed after the
featurizers and DIET, trains :class:`nlu.rasa_components.category_model.CategoryModel` on
the sentence features of those messages and adds to every parsed message

    "category": {"name": "water", "confidence": 0.93}

which ``/model/parse`` returns next to ``intent`` and ``entities`` (an output property).
:class:`nlu.rasa_engine.RasaEngine` uses it for ``report_issue`` messages.

Runs only inside ``.venv-rasa`` (it imports ``rasa``).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.shared.nlu.constants import INTENT, METADATA, METADATA_INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy import sparse

from nlu.rasa_components.category_model import DEFAULT_C, CategoryModel

log = logging.getLogger(__name__)

OUTPUT_KEY = "category"


def category_of(message: Message, metadata_key: str = "category") -> str | None:
    """The category in a training message's intent-level (or example-level) metadata."""
    metadata = message.get(METADATA) or {}
    for level in (metadata.get("example"), metadata.get(METADATA_INTENT)):
        if isinstance(level, dict) and level.get(metadata_key):
            return str(level[metadata_key])
    return None


def sentence_features(message: Message) -> sparse.csr_matrix:
    """One row: the message's sparse and dense sentence features side by side (as Rasa's
    LogisticRegressionClassifier builds its input)."""
    blocks = []
    _, sparse_sentence = message.get_sparse_features(TEXT)
    _, dense_sentence = message.get_dense_features(TEXT)
    if sparse_sentence is not None:
        blocks.append(sparse.csr_matrix(sparse_sentence.features))
    if dense_sentence is not None:
        blocks.append(sparse.csr_matrix(np.asarray(dense_sentence.features)))
    if not blocks:
        raise ValueError(f"no sentence features for {message.get(TEXT)!r}")
    return sparse.csr_matrix(sparse.hstack(blocks))


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class CategoryClassifier(GraphComponent):
    """Predicts the petition category from Rasa's sentence features."""

    @classmethod
    def required_components(cls) -> list[type]:
        """Featurizers must run first."""
        return [Featurizer]

    @staticmethod
    def required_packages() -> list[str]:
        """scikit-learn trains the model."""
        return ["sklearn"]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Which intent carries categories, where, and the regularisation."""
        return {"intent": "report_issue", "metadata_key": "category", "C": DEFAULT_C}

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: CategoryModel | None = None,
    ) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.model = model

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> CategoryClassifier:
        """An untrained component."""
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        """Fit on the categorised ``report_issue`` examples and persist the arrays."""
        rows, labels = [], []
        for message in training_data.intent_examples:
            if message.get(INTENT) != self.config["intent"]:
                continue
            category = category_of(message, self.config["metadata_key"])
            if category is None or not message.get(TEXT):
                continue
            rows.append(sentence_features(message))
            labels.append(category)
        if len(set(labels)) < 2:
            log.warning("CategoryClassifier: fewer than two categories in the data; not trained")
            return self._resource
        self.model = CategoryModel.fit(sparse.vstack(rows), labels, c=float(self.config["C"]))
        with self._model_storage.write_to(self._resource) as folder:
            self.model.save(folder)
        log.info(
            "CategoryClassifier: %d examples, categories %s", len(labels), sorted(set(labels))
        )
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> CategoryClassifier:
        """The trained component, or an empty one when nothing was persisted."""
        model: CategoryModel | None = None
        try:
            with model_storage.read_from(resource) as folder:
                model = CategoryModel.load(folder)
        except (ValueError, FileNotFoundError, OSError):
            log.warning("CategoryClassifier: no trained model in %s", resource.name)
        return cls(config, model_storage, resource, model)

    def process(self, messages: list[Message]) -> list[Message]:
        """Add ``category`` (name, confidence) to every message with text."""
        if self.model is None:
            return messages
        for message in messages:
            if not message.get(TEXT):
                continue
            try:
                features = sentence_features(message)
            except ValueError:
                continue
            if features.shape[1] != self.model.n_features:
                continue
            name, confidence = self.model.predict(features)[0]
            message.set(
                OUTPUT_KEY, {"name": name, "confidence": round(confidence, 4)}, add_to_output=True
            )
        return messages
