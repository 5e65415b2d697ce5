"""Split text into words: jieba for Chinese, tsheg syllables for Tibetan, both for mixed text.

Tokens keep their span in the original text, so the entity extractors can use them too.
Tibetan syllables are normalised (NFC, the non-breaking tsheg U+0F0C treated as U+0F0B, shad
and spaces dropped); jieba gets a user dictionary of Lhasa/Shigatse places and petition words
from ``data/nlu/lexicon/jieba_userdict.txt`` and is initialised once, lazily, quietly.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import jieba

from nlu.language import is_han, is_tibetan_letter
from nlu.lexicon import DEFAULT_LEXICON_DIR

TSHEG = "\u0f0b"
NON_BREAKING_TSHEG = "\u0f0c"
SHADS = frozenset("\u0f0d\u0f0e\u0f0f\u0f10\u0f11\u0f12\u0f14")
TIBETAN_DIGITS = "".join(chr(0x0F20 + n) for n in range(10))
FULLWIDTH_DIGITS = "０１２３４５６７８９"
_SYLLABLE_MARKS = frozenset("\u0f35\u0f37\u0f39\u0f3e\u0f3f")
_DIGIT_TABLE = str.maketrans(
    {**{c: str(i) for i, c in enumerate(TIBETAN_DIGITS)}}
    | {c: str(i) for i, c in enumerate(FULLWIDTH_DIGITS)}
)
USERDICT_NAME = "jieba_userdict.txt"


class TokenKind(StrEnum):
    """Which script a token came from."""

    ZH = "zh"
    BO = "bo"
    NUMBER = "num"
    LATIN = "latin"


@dataclass(frozen=True, slots=True)
class Token:
    """A word or syllable: normalised text plus its ``[start, end)`` span in the original."""

    text: str
    start: int
    end: int
    kind: TokenKind


def ascii_digits(text: str) -> str:
    """Tibetan and full-width digits replaced by ASCII ones, one character for one (spans hold)."""
    return text.translate(_DIGIT_TABLE)


def is_digit(ch: str) -> bool:
    """An ASCII, full-width or Tibetan decimal digit."""
    return ("0" <= ch <= "9") or ch in TIBETAN_DIGITS or ch in FULLWIDTH_DIGITS


def in_tibetan_syllable(ch: str) -> bool:
    """A character that belongs inside a Tibetan syllable (letters and combining marks)."""
    return is_tibetan_letter(ch) or ch in _SYLLABLE_MARKS


def normalize_tibetan(text: str) -> str:
    """NFC, one tsheg variant, no shad, no spaces: the form lexicon phrases are compared in."""
    text = unicodedata.normalize("NFC", text).replace(NON_BREAKING_TSHEG, TSHEG)
    text = "".join(ch for ch in text if ch not in SHADS and not ch.isspace())
    return text.strip(TSHEG)


def normalize_syllable(syllable: str) -> str:
    """One Tibetan syllable in NFC."""
    return unicodedata.normalize("NFC", syllable)


def tibetan_syllables(text: str) -> list[Token]:
    """The Tibetan syllables of ``text`` (runs of letters between tsheg, shad, space...)."""
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        if in_tibetan_syllable(text[i]):
            j = i + 1
            while j < n and in_tibetan_syllable(text[j]):
                j += 1
            out.append(Token(normalize_syllable(text[i:j]), i, j, TokenKind.BO))
            i = j
        else:
            i += 1
    return out


def syllable_string(text: str) -> str:
    """A Tibetan phrase as its normalised syllables joined by tsheg (lexicon comparison key)."""
    return TSHEG.join(t.text for t in tibetan_syllables(text))


_jieba_lock = threading.Lock()
_jieba_tokenizers: dict[Path, jieba.Tokenizer] = {}


def jieba_tokenizer(lexicon_dir: Path = DEFAULT_LEXICON_DIR) -> jieba.Tokenizer:
    """A private jieba tokenizer with the project's user dictionary (built once per folder)."""
    key = Path(lexicon_dir)
    tokenizer = _jieba_tokenizers.get(key)
    if tokenizer is not None:
        return tokenizer
    with _jieba_lock:
        tokenizer = _jieba_tokenizers.get(key)
        if tokenizer is None:
            # jieba announces its prefix dictionary on stderr at DEBUG level; keep it quiet.
            jieba.setLogLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            userdict = key / USERDICT_NAME
            if userdict.exists():
                tokenizer.load_userdict(str(userdict))
            _jieba_tokenizers[key] = tokenizer
    return tokenizer


def chinese_words(text: str, lexicon_dir: Path = DEFAULT_LEXICON_DIR) -> list[Token]:
    """jieba words of a Han-only run, with spans relative to ``text``."""
    tokenizer = jieba_tokenizer(lexicon_dir)
    return [
        Token(word, start, end, TokenKind.ZH)
        for word, start, end in tokenizer.tokenize(text, HMM=True)
        if word.strip()
    ]


def tokenize(text: str, lexicon_dir: Path = DEFAULT_LEXICON_DIR) -> list[Token]:
    """Words of a zh, bo or mixed text in order; punctuation, tsheg and spaces are dropped."""
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if is_han(ch):
            j = i + 1
            while j < n and is_han(text[j]):
                j += 1
            out.extend(
                Token(t.text, t.start + i, t.end + i, t.kind)
                for t in chinese_words(text[i:j], lexicon_dir)
            )
        elif in_tibetan_syllable(ch):
            j = i + 1
            while j < n and in_tibetan_syllable(text[j]):
                j += 1
            out.append(Token(normalize_syllable(text[i:j]), i, j, TokenKind.BO))
        elif is_digit(ch):
            j = i + 1
            while j < n and is_digit(text[j]):
                j += 1
            out.append(Token(ascii_digits(text[i:j]), i, j, TokenKind.NUMBER))
        elif ch.isascii() and ch.isalpha():
            j = i + 1
            while j < n and text[j].isascii() and text[j].isalpha():
                j += 1
            out.append(Token(text[i:j].lower(), i, j, TokenKind.LATIN))
        else:
            j = i + 1
        i = j
    return out


def words(text: str, lexicon_dir: Path = DEFAULT_LEXICON_DIR) -> list[str]:
    """Just the token texts of :func:`tokenize`."""
    return [t.text for t in tokenize(text, lexicon_dir)]
