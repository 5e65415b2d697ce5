"""The tokens Rasa's pipeline sees: :func:`nlu.tokenize.tokenize`, so both engines split text
the same way (jieba with the project's user dictionary for Han, tsheg/shad syllables for
Tibetan, digit and Latin runs), plus the two adjustments a Rasa tokenizer needs.

- Long digit runs (phones, tickets) get the token text ``<num:N>`` (by length, like the
  embedded engine's word features) so the count vectorizers learn "an 11-digit number", not
  each phone number; spans stay on the original characters, so entities keep their values.
- A text with no word at all (only emoji or punctuation) is one token covering the stripped
  text: Rasa's featurizers need at least one token per message.

No Rasa import here: the component (:mod:`nlu.rasa_components.tokenizer`) wraps these spans
in Rasa tokens, and the product's tests check them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nlu.lexicon import DEFAULT_LEXICON_DIR
from nlu.tokenize import TokenKind, tokenize

LONG_NUMBER_DIGITS = 5
"""Digit runs this long or longer are phones or tickets, not quantities."""
MAX_NUMBER_CLASS = 12


@dataclass(frozen=True, slots=True)
class TokenSpan:
    """A token for Rasa: feature text and the ``[start, end)`` span in the message text."""

    text: str
    start: int
    end: int


def rasa_tokens(text: str, lexicon_dir: Path = DEFAULT_LEXICON_DIR) -> list[TokenSpan]:
    """The tokens of ``text`` for Rasa's featurizers (see the module docstring)."""
    out: list[TokenSpan] = []
    for token in tokenize(text, lexicon_dir):
        feature = token.text
        if token.kind is TokenKind.NUMBER and len(token.text) >= LONG_NUMBER_DIGITS:
            feature = f"<num:{min(len(token.text), MAX_NUMBER_CLASS)}>"
        out.append(TokenSpan(feature, token.start, token.end))
    if not out and text.strip():
        start = len(text) - len(text.lstrip())
        stripped = text.strip()
        out.append(TokenSpan(stripped, start, start + len(stripped)))
    return out
