"""Lexicon phrase matching: substrings for Chinese, whole syllables for Tibetan.

Tibetan phrases are compared syllable by syllable (so ཉིན never matches inside another
syllable), and the last syllable may carry a fused case particle from ``tibetan.yml``
(ཕྱི་དྲོ matches ཕྱི་དྲོར, བདུན་ཕྲག་རྗེས་མ matches བདུན་ཕྲག་རྗེས་མའི).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Generic, TypeVar

from nlu.lexicon import DEFAULT_LEXICON_DIR, load_yaml, string_list
from nlu.tokenize import TSHEG, Token, TokenKind, ascii_digits, is_digit, tibetan_syllables

V = TypeVar("V")


@cache
def fused_particles(lexicon_dir: Path = DEFAULT_LEXICON_DIR) -> tuple[str, ...]:
    """Case particles that fuse to an open final syllable."""
    return tuple(string_list(load_yaml("tibetan.yml", lexicon_dir).get("fused_particles")))


def is_open_syllable(syllable: str) -> bool:
    """Whether a syllable has no final consonant, so a case particle can fuse to it
    (དྲོ → དྲོར, མ → མའི; ཁང → ཁངས is another word). It ends in a vowel sign, a subjoined
    letter, འ, or is a lone base letter."""
    if not syllable:
        return False
    last = syllable[-1]
    if not ("\u0f40" <= last <= "\u0f6c") or last == "\u0f60":
        return True
    return sum(1 for ch in syllable if "\u0f40" <= ch <= "\u0f6c") == 1


def phrase_syllables(phrase: str) -> tuple[str, ...]:
    """A lexicon phrase as a tuple of normalised syllables."""
    return tuple(t.text for t in tibetan_syllables(phrase))


@dataclass(frozen=True, slots=True)
class Match(Generic[V]):
    """A phrase found in a token list: tokens ``[first, first + length)``."""

    value: V
    first: int
    length: int

    @property
    def next(self) -> int:
        """Index of the token after the match."""
        return self.first + self.length


class SyllablePhrases(Generic[V]):
    """Tibetan phrases (tuples of syllables) mapped to values, longest match first."""

    def __init__(
        self, phrases: Iterable[tuple[str, V]], particles: Sequence[str] = (), fuse: bool = True
    ) -> None:
        self._table: dict[tuple[str, ...], V] = {}
        self._firsts: set[str] = set()
        self.max_length = 0
        for phrase, value in phrases:
            syllables = phrase_syllables(phrase)
            if not syllables:
                continue
            self._table.setdefault(syllables, value)
            if fuse and is_open_syllable(syllables[-1]):
                for particle in particles:
                    fused = (*syllables[:-1], syllables[-1] + particle)
                    self._table.setdefault(fused, value)
            self.max_length = max(self.max_length, len(syllables))
        self._firsts = {key[0] for key in self._table}

    def __bool__(self) -> bool:
        return bool(self._table)

    def match(self, tokens: Sequence[Token], i: int) -> Match[V] | None:
        """The longest phrase starting at token ``i`` (syllable tokens only)."""
        if i >= len(tokens) or tokens[i].text not in self._firsts:
            return None
        limit = min(self.max_length, len(tokens) - i)
        for length in range(limit, 0, -1):
            window = tokens[i : i + length]
            if any(t.kind is not TokenKind.BO for t in window):
                continue
            value = self._table.get(tuple(t.text for t in window))
            if value is not None:
                return Match(value, i, length)
        return None

    def find_all(self, tokens: Sequence[Token]) -> list[Match[V]]:
        """Non-overlapping longest matches, left to right."""
        found: list[Match[V]] = []
        i = 0
        while i < len(tokens):
            m = self.match(tokens, i)
            if m is None:
                i += 1
            else:
                found.append(m)
                i = m.next
        return found


def tibetan_phrases(
    mapping: Mapping[str, V], lexicon_dir: Path = DEFAULT_LEXICON_DIR, fuse: bool = True
) -> SyllablePhrases[V]:
    """A :class:`SyllablePhrases` from a ``phrase: value`` mapping."""
    return SyllablePhrases(mapping.items(), fused_particles(lexicon_dir), fuse)


class SubstringPhrases(Generic[V]):
    """Chinese phrases found as substrings: leftmost first, then longest."""

    def __init__(self, phrases: Iterable[tuple[str, V]]) -> None:
        self._table: dict[str, V] = {}
        for phrase, value in phrases:
            if phrase:
                self._table.setdefault(phrase, value)
        ordered = sorted(self._table, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def finditer(self, text: str) -> list[tuple[V, int, int]]:
        """(value, start, end) of every non-overlapping match."""
        if self._pattern is None:
            return []
        table = self._table
        return [(table[m.group(0)], m.start(), m.end()) for m in self._pattern.finditer(text)]


@lru_cache(maxsize=32)
def bo_tokens(text: str) -> tuple[Token, ...]:
    """Tibetan syllables and digit runs of ``text``; Han and Latin letters are kept as
    one-letter ZH/LATIN tokens so that phrases never match across them. Several matchers
    tokenise the same message, so the last few results are cached."""
    out: list[Token] = []
    syllables = {t.start: t for t in tibetan_syllables(text)}
    i, n = 0, len(text)
    while i < n:
        syllable = syllables.get(i)
        if syllable is not None:
            out.append(syllable)
            i = syllable.end
            continue
        ch = text[i]
        if is_digit(ch):
            j = i + 1
            while j < n and is_digit(text[j]):
                j += 1
            out.append(Token(ascii_digits(text[i:j]), i, j, TokenKind.NUMBER))
            i = j
        elif ch.isalpha():
            out.append(Token(ch, i, i + 1, TokenKind.ZH if ord(ch) > 0x2E80 else TokenKind.LATIN))
            i += 1
        else:
            i += 1
    return tuple(out)


def joined(tokens: Sequence[Token]) -> str:
    """Syllable texts joined by tsheg (for debugging and lexicon keys)."""
    return TSHEG.join(t.text for t in tokens)
