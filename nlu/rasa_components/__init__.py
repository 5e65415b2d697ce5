"""Custom Rasa 3.6 components (and the pieces they share with the product) for ``rasa/``.

Rasa runs in its own Python 3.10 environment (``.venv-rasa``, see ``scripts/rasa.sh``), the
product in 3.11. The modules here that import ``rasa`` (:mod:`.tokenizer`, :mod:`.category`)
are only ever imported there; the rest (:mod:`.tokens`, :mod:`.category_model`,
:mod:`.export`) import no Rasa and are tested in the product environment.

The ``nlu`` modules the components reuse (``nlu.tokenize`` → ``nlu.language`` →
``nlu.parsed``) define ``enum.StrEnum`` subclasses, new in Python 3.11; under 3.10 a
minimal equivalent is put in place before they are imported. Their third-party imports are
jieba and PyYAML only, both in ``rasa/requirements.txt``.
"""

from __future__ import annotations

import enum
import sys

if sys.version_info < (3, 11) and not hasattr(enum, "StrEnum"):

    class _StrEnum(str, enum.Enum):  # noqa: UP042 (3.10 has no enum.StrEnum)
        """``enum.StrEnum`` as Python 3.11 defines it: members are their string values."""

        def __str__(self) -> str:
            return str(self.value)

        @staticmethod
        def _generate_next_value_(name: str, start: int, count: int, last: list[str]) -> str:
            return name.lower()

    enum.StrEnum = _StrEnum  # type: ignore[misc]
