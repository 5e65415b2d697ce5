"""``BilingualTokenizer``: Rasa 3.6 tokenizer for Chinese, Tibetan and code-mixed text.

The tokens are :func:`nlu.rasa_components.tokens.rasa_tokens`, that is
:func:`nlu.tokenize.tokenize` (jieba with ``data/nlu/lexicon/jieba_userdict.txt`` for Han
runs, tsheg/shad syllables for Tibetan): the Rasa engine and the embedded engine see the same
words. Rasa's own JiebaTokenizer would cut a Tibetan run into one long token per phrase.

Runs only inside ``.venv-rasa`` (it imports ``rasa``); referenced from ``rasa/config.yml`` as
``nlu.rasa_components.tokenizer.BilingualTokenizer`` with the repository root on PYTHONPATH.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.training_data.message import Message

from nlu.lexicon import DEFAULT_LEXICON_DIR, PROJECT_ROOT
from nlu.rasa_components.tokens import rasa_tokens
from nlu.tokenize import jieba_tokenizer


def lexicon_dir_from_config(value: str | None) -> Path:
    """The lexicon folder named in the config (relative paths from the repository root)."""
    if not value:
        return DEFAULT_LEXICON_DIR
    path = Path(value)
    return path if path.is_absolute() else PROJECT_ROOT / path


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class BilingualTokenizer(Tokenizer):
    """jieba words for Chinese, syllables for Tibetan, via ``nlu.tokenize``."""

    @staticmethod
    def supported_languages() -> list[str] | None:
        """Any: the script decides, not the configured language."""
        return None

    @staticmethod
    def required_packages() -> list[str]:
        """Third-party packages ``nlu.tokenize`` imports."""
        return ["jieba"]  # (and PyYAML, which Rasa itself requires)

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Rasa's tokenizer options plus ``lexicon_dir`` (where jieba_userdict.txt lives)."""
        return {
            "lexicon_dir": "data/nlu/lexicon",
            "intent_tokenization_flag": False,
            "intent_split_symbol": "_",
            "token_pattern": None,
            "prefix_separator_symbol": None,
        }

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.lexicon_dir = lexicon_dir_from_config(config.get("lexicon_dir"))
        jieba_tokenizer(self.lexicon_dir)  # load the dictionaries now, not on the first parse

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> BilingualTokenizer:
        """A tokenizer for this config (nothing to train or persist)."""
        return cls({**cls.get_default_config(), **config})

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        """The tokens of one message attribute (the text, in an NLU-only project)."""
        text = message.get(attribute) or ""
        tokens = [Token(t.text, t.start, t.end) for t in rasa_tokens(text, self.lexicon_dir)]
        patterned: list[Token] = self._apply_token_pattern(tokens)
        return patterned
