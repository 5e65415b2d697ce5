"""Danger detection from ``data/nlu/lexicon/hazards.yml``: fallen wires, fire, gas, flood.

A hazard is not an entity: it makes the bot give safety advice before anything else, so it
errs towards recall (phrases plus ordered word pairs in one clause) and only drops a match
that is plainly negated ("no electricity leaking", "no fire broke out").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from nlu.language import is_tibetan_letter
from nlu.lexicon import DEFAULT_LEXICON_DIR, load_yaml, string_list
from nlu.phrases import SyllablePhrases, bo_tokens, phrase_syllables, tibetan_phrases
from nlu.tokenize import Token, TokenKind

_ZH_CLAUSE_BREAK = re.compile(r"[。！？!?；;\n\u0f0d\u0f0e\u0f11\u0f14]")
_BO_CLAUSE_BREAKS = frozenset("\u0f0d\u0f0e\u0f11\u0f14\n。！？!?")


@dataclass(frozen=True, slots=True)
class _Kind:
    name: str
    zh_phrases: tuple[str, ...]
    zh_together: tuple[tuple[str, ...], ...]
    bo_phrases: SyllablePhrases[bool]
    bo_together: tuple[tuple[tuple[str, ...], ...], ...]
    mixed_together: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class HazardLexicon:
    """The compiled ``hazards.yml``."""

    kinds: tuple[_Kind, ...]
    zh_window: int
    bo_window: int
    mixed_window: int
    zh_negations: tuple[str, ...]
    zh_negations_after: tuple[str, ...]
    bo_negations: SyllablePhrases[bool]


@cache
def hazard_lexicon(lexicon_dir: Path = DEFAULT_LEXICON_DIR) -> HazardLexicon:
    """Hazard tables, in priority order (built once per lexicon folder)."""
    lex = load_yaml("hazards.yml", lexicon_dir)
    table: dict[str, Any] = lex.get("kinds") or {}
    order = [k for k in string_list(lex.get("priority")) if k in table]
    order += [k for k in table if k not in order]
    kinds = []
    for name in order:
        spec = table[name] or {}
        zh = spec.get("zh") or {}
        bo = spec.get("bo") or {}
        mixed = spec.get("mixed") or {}
        kinds.append(
            _Kind(
                name=name,
                zh_phrases=tuple(string_list(zh.get("phrases"))),
                zh_together=tuple(tuple(string_list(g)) for g in zh.get("together") or []),
                bo_phrases=tibetan_phrases(
                    dict.fromkeys(string_list(bo.get("phrases")), True), lexicon_dir
                ),
                bo_together=tuple(
                    tuple(phrase_syllables(p) for p in string_list(g))
                    for g in bo.get("together") or []
                ),
                mixed_together=tuple(tuple(string_list(g)) for g in mixed.get("together") or []),
            )
        )
    window = lex.get("window") or {}
    negations = lex.get("negations") or {}
    return HazardLexicon(
        kinds=tuple(kinds),
        zh_window=int(window.get("zh", 10)),
        bo_window=int(window.get("bo", 6)),
        mixed_window=int(window.get("mixed", 24)),
        zh_negations=tuple(string_list(negations.get("zh_before"))),
        zh_negations_after=tuple(string_list(negations.get("zh_after"))),
        bo_negations=tibetan_phrases(
            dict.fromkeys(string_list(negations.get("bo_after")), True), lexicon_dir, fuse=False
        ),
    )


# --- Chinese ------------------------------------------------------------------------------


def _zh_negated(clause: str, start: int, end: int, lex: HazardLexicon) -> bool:
    """A negation or hedge within four characters before ("no leak", "in case of fire") or
    right after ("fire risk", "if it catches fire") a match."""
    before = clause[max(0, start - 4) : start]
    after = clause[end : end + 4]
    return any(n in before for n in lex.zh_negations) or any(
        after.startswith(n) for n in lex.zh_negations_after
    )


def _together(clause: str, words: tuple[str, ...], window: int, lex: HazardLexicon) -> bool:
    """All ``words`` in order, the last one starting within ``window`` of the first."""
    first = clause.find(words[0])
    while first >= 0:
        pos, ok = first + len(words[0]), True
        for word in words[1:]:
            nxt = clause.find(word, pos)
            if nxt < 0 or nxt - first > window:
                ok = False
                break
            pos = nxt + len(word)
        if ok and not _zh_negated(clause, first, pos, lex):
            return True
        first = clause.find(words[0], first + 1)
    return False


def _zh_hit(clause: str, kind: _Kind, lex: HazardLexicon) -> bool:
    for phrase in kind.zh_phrases:
        for m in re.finditer(re.escape(phrase), clause):
            if not _zh_negated(clause, m.start(), m.end(), lex):
                return True
    return any(_together(clause, w, lex.zh_window, lex) for w in kind.zh_together) or any(
        _together(clause, w, lex.mixed_window, lex) for w in kind.mixed_together
    )


# --- Tibetan ------------------------------------------------------------------------------


def _bo_clauses(text: str, tokens: Sequence[Token]) -> list[list[Token]]:
    clauses: list[list[Token]] = [[]]
    previous_end = 0
    for token in tokens:
        if any(ch in _BO_CLAUSE_BREAKS for ch in text[previous_end : token.start]):
            clauses.append([])
        clauses[-1].append(token)
        previous_end = token.end
    return [c for c in clauses if c]


def _syllable_starts(tokens: list[Token], i: int, phrase: tuple[str, ...]) -> bool:
    """Whether ``phrase`` starts at token ``i`` (the last syllable may be a prefix, so that
    a verb stem matches its inflected and auxiliary-suffixed forms alike)."""
    if i + len(phrase) > len(tokens):
        return False
    window = tokens[i : i + len(phrase)]
    if any(t.kind is not TokenKind.BO for t in window):
        return False
    *head, last = phrase
    return all(t.text == s for t, s in zip(window, head, strict=False)) and window[
        -1
    ].text.startswith(last)


def _bo_negated(tokens: list[Token], after: int, lex: HazardLexicon) -> bool:
    # The negation follows the verb, maybe after one auxiliary syllable.
    return any(lex.bo_negations.match(tokens, k) is not None for k in (after, after + 1))


def _bo_hit(clause: list[Token], kind: _Kind, lex: HazardLexicon) -> bool:
    for i in range(len(clause)):
        m = kind.bo_phrases.match(clause, i)
        if m is not None and not _bo_negated(clause, m.next, lex):
            return True
    for parts in kind.bo_together:
        for i in range(len(clause)):
            if not _syllable_starts(clause, i, parts[0]):
                continue
            pos, ok = i + len(parts[0]), True
            for part in parts[1:]:
                nxt = next(
                    (
                        k
                        for k in range(pos, min(len(clause), i + lex.bo_window + 1))
                        if _syllable_starts(clause, k, part)
                    ),
                    None,
                )
                if nxt is None:
                    ok = False
                    break
                pos = nxt + len(part)
            if ok and not _bo_negated(clause, pos, lex):
                return True
    return False


def detect_hazard(text: str, lexicon_dir: Path = DEFAULT_LEXICON_DIR) -> str | None:
    """The highest-priority danger named in ``text``, or None."""
    lex = hazard_lexicon(lexicon_dir)
    zh_clauses = [c for c in _ZH_CLAUSE_BREAK.split(text) if c]
    bo_clauses: list[list[Token]] = []
    if any(is_tibetan_letter(ch) for ch in text):
        bo_clauses = _bo_clauses(text, bo_tokens(text))
    for kind in lex.kinds:
        if any(_zh_hit(c, kind, lex) for c in zh_clauses):
            return kind.name
        if any(_bo_hit(c, kind, lex) for c in bo_clauses):
            return kind.name
    return None
