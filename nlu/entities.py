"""Rule and lookup entity extractors; every span points into the ORIGINAL text.

* ``phone``: mobiles ``1[3-9]`` + 9 digits and Tibet landlines ``0891``/``0892`` + 7–8
  digits, typed (ASCII, full-width, Tibetan digits) or dictated (一三八…, 幺 = 1, 两 = 2,
  Tibetan digit words), with spaces, dashes and filler words between digit groups. Value:
  ASCII digits; a landline keeps one hyphen after the area code (``0891-6321234``).
* ``ticket``: ``YYYYMMDD-NNNN`` or ``YYYYMMDDNNN(N)`` (any digit script) → ``YYYYMMDD-NNNN``.
* ``datetime``: see :mod:`nlu.timeparse`; value is an ISO 8601 interval.
* ``service`` / ``policy_topic``: lexicon synonyms → canonical names.

When spans overlap, the earlier kind in that list wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

from nlu.language import is_han, is_tibetan_letter
from nlu.lexicon import DEFAULT_LEXICON_DIR, load_yaml, string_list
from nlu.parsed import Entity
from nlu.phrases import SubstringPhrases, SyllablePhrases, bo_tokens, tibetan_phrases
from nlu.timeparse import bo_time_expressions, zh_time_expressions
from nlu.tokenize import NON_BREAKING_TSHEG, TSHEG, ascii_digits, is_digit

_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE_AREAS = ("0891", "0892")
_SEPARATORS = frozenset(" \t\u3000-－—–‐‑·.,，、:：()（）" + TSHEG + "\u0f0c\u0f0d")
_MAX_GAP = 8
_TICKET = re.compile(
    r"(?<![0-9])(?P<date>20[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01]))"
    r"(?:[-－—_])?(?P<seq>[0-9]{3,4})(?![0-9])"
)


# --- phone --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Atom:
    """One digit, typed or spoken, with its span."""

    digit: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _DigitWords:
    zh: dict[str, str]
    bo: SyllablePhrases[str]
    zh_fillers: tuple[str, ...]
    bo_fillers: tuple[str, ...]


@cache
def _digit_words(lexicon_dir: Path = DEFAULT_LEXICON_DIR) -> _DigitWords:
    lex = load_yaml("numbers.yml", lexicon_dir)
    fillers = lex.get("fillers") or {}
    return _DigitWords(
        zh={str(k): str(int(v)) for k, v in (lex.get("zh_digits") or {}).items()},
        bo=tibetan_phrases(
            {str(k): str(int(v)) for k, v in (lex.get("bo_digits") or {}).items()},
            lexicon_dir,
            fuse=False,
        ),
        zh_fillers=tuple(sorted(string_list(fillers.get("zh")), key=len, reverse=True)),
        bo_fillers=tuple(sorted(string_list(fillers.get("bo")), key=len, reverse=True)),
    )


def _atoms(text: str, words: _DigitWords) -> list[_Atom]:
    """Every typed or spoken digit of ``text``, in text order."""
    atoms = [_Atom(ascii_digits(ch), i, i + 1) for i, ch in enumerate(text) if is_digit(ch)] + [
        _Atom(words.zh[ch], i, i + 1) for i, ch in enumerate(text) if ch in words.zh
    ]
    if any(is_tibetan_letter(ch) for ch in text):
        tokens = bo_tokens(text)
        for m in words.bo.find_all(tokens):
            atoms.append(_Atom(m.value, tokens[m.first].start, tokens[m.next - 1].end))
    return sorted(atoms, key=lambda a: a.start)


def _bridgeable(gap: str, words: _DigitWords) -> bool:
    """Whether only separators and filler words stand between two digits."""
    if len(gap) > _MAX_GAP:
        return False
    for filler in words.zh_fillers:
        gap = gap.replace(filler, "")
    for filler in words.bo_fillers:
        gap = gap.replace(filler, "")
    return all(ch in _SEPARATORS for ch in gap)


def _runs(text: str, atoms: list[_Atom], words: _DigitWords) -> list[list[list[_Atom]]]:
    """Atoms chained into runs (only separators/fillers between), each run split into
    groups of directly adjacent digits (a tsheg between spoken digit words is adjacent).
    The atom tables are disjoint (digit characters, Han digit words, Tibetan syllables),
    so atoms never overlap."""
    runs: list[list[list[_Atom]]] = []
    previous: _Atom | None = None
    for atom in atoms:
        gap = text[previous.end : atom.start] if previous is not None else None
        if gap is None:
            runs.append([[atom]])
        elif gap in ("", TSHEG, NON_BREAKING_TSHEG):
            runs[-1][-1].append(atom)
        elif _bridgeable(gap, words):
            runs[-1].append([atom])
        else:
            runs.append([[atom]])
        previous = atom
    return runs


def _phone_value(digits: str) -> str | None:
    if len(digits) == 11 and _MOBILE.fullmatch(digits):
        return digits
    if digits.startswith(_LANDLINE_AREAS) and len(digits) in (11, 12):
        return f"{digits[:4]}-{digits[4:]}"
    return None


def extract_phones(text: str, lexicon_dir: Path = DEFAULT_LEXICON_DIR) -> list[Entity]:
    """Mobile and landline numbers, typed or dictated."""
    words = _digit_words(lexicon_dir)
    found: list[Entity] = []
    for run in _runs(text, _atoms(text, words), words):
        s = 0
        while s < len(run):
            digits = ""
            best: tuple[int, str] | None = None
            for e in range(s, len(run)):
                digits += "".join(a.digit for a in run[e])
                if len(digits) > 12:
                    break
                value = _phone_value(digits)
                if value is not None:
                    best = (e, value)
            if best is None:
                s += 1
                continue
            e, value = best
            found.append(Entity("phone", value, run[s][0].start, run[e][-1].end))
            s = e + 1
    return found


# --- ticket -------------------------------------------------------------------------------


def extract_tickets(text: str) -> list[Entity]:
    """Ticket numbers in any digit script, normalised to ``YYYYMMDD-NNNN``."""
    scan = ascii_digits(text)
    return [
        Entity("ticket", f"{m['date']}-{int(m['seq']):04d}", m.start(), m.end())
        for m in _TICKET.finditer(scan)
    ]


# --- datetime -----------------------------------------------------------------------------


def extract_datetimes(
    text: str, now: datetime | None = None, lexicon_dir: Path = DEFAULT_LEXICON_DIR
) -> list[Entity]:
    """Chinese and Tibetan date/time expressions as ISO intervals relative to ``now``."""
    found = []
    if any(is_han(ch) or ch.isdigit() for ch in text):
        found.extend(zh_time_expressions(text, now, lexicon_dir))
    if any(is_tibetan_letter(ch) for ch in text):
        found.extend(bo_time_expressions(text, now, lexicon_dir))
    return [Entity("datetime", e.iso, e.start, e.end) for e in found]


# --- lookups ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lookup:
    """Synonyms of one kind: Chinese substrings and Tibetan syllable phrases."""

    entity: str
    zh: SubstringPhrases[str]
    bo: SyllablePhrases[str]

    @classmethod
    def from_mapping(
        cls,
        entity: str,
        forms: Mapping[str, Iterable[str]],
        lexicon_dir: Path = DEFAULT_LEXICON_DIR,
    ) -> Lookup:
        """From ``canonical -> surface forms``; each form goes to the matcher of its script
        (a form mixing both scripts cannot be matched reliably and is skipped)."""
        zh: list[tuple[str, str]] = []
        bo: dict[str, str] = {}
        for canonical, surfaces in forms.items():
            for surface in surfaces:
                tibetan = any(is_tibetan_letter(ch) for ch in surface)
                han = any(is_han(ch) for ch in surface)
                if tibetan and not han:
                    bo.setdefault(surface, str(canonical))
                elif surface.strip() and not tibetan:
                    zh.append((surface.strip(), str(canonical)))
        return cls(entity, SubstringPhrases(zh), tibetan_phrases(bo, lexicon_dir))

    def find(self, text: str) -> list[Entity]:
        """Every synonym in ``text`` as an entity with the canonical value."""
        found = [Entity(self.entity, v, s, e) for v, s, e in self.zh.finditer(text)]
        if self.bo and any(is_tibetan_letter(ch) for ch in text):
            tokens = bo_tokens(text)
            found.extend(
                Entity(self.entity, m.value, tokens[m.first].start, tokens[m.next - 1].end)
                for m in self.bo.find_all(tokens)
            )
        return found


@cache
def lookup(entity: str, filename: str, lexicon_dir: Path = DEFAULT_LEXICON_DIR) -> Lookup:
    """A :class:`Lookup` from a ``canonical: {zh: [...], bo: [...]}`` lexicon file."""
    lex = load_yaml(filename, lexicon_dir)
    forms: dict[str, list[str]] = {}
    for canonical, by_language in lex.items():
        by_language = by_language or {}
        forms[str(canonical)] = [
            *string_list(by_language.get("zh")),
            *string_list(by_language.get("bo")),
        ]
    return Lookup.from_mapping(entity, forms, lexicon_dir)


def extract_services(text: str, lexicon_dir: Path = DEFAULT_LEXICON_DIR) -> list[Entity]:
    """Eldercare services (``meal``, ``housekeeping``, ``nursing``, ``health_check``)."""
    return lookup("service", "services.yml", lexicon_dir).find(text)


def extract_policy_topics(text: str, lexicon_dir: Path = DEFAULT_LEXICON_DIR) -> list[Entity]:
    """Policy topics (``elderly_allowance``, ``medical_insurance``, ``subsistence``...)."""
    return lookup("policy_topic", "policy_topics.yml", lexicon_dir).find(text)


# --- all ----------------------------------------------------------------------------------


_PRIORITY = {"ticket": 0, "phone": 1, "datetime": 2}


def extract_entities(
    text: str,
    now: datetime | None = None,
    lexicon_dir: Path = DEFAULT_LEXICON_DIR,
    extra_lookups: Sequence[Lookup] = (),
) -> tuple[Entity, ...]:
    """All entities of ``text`` in text order. On overlap ticket beats phone beats datetime
    beats the lookups, and among lookups the longer match wins. ``extra_lookups`` adds
    synonyms learned from training annotations."""
    candidates = [
        *extract_tickets(text),
        *extract_phones(text, lexicon_dir),
        *extract_datetimes(text, now, lexicon_dir),
        *extract_services(text, lexicon_dir),
        *extract_policy_topics(text, lexicon_dir),
    ]
    for extra in extra_lookups:
        candidates.extend(extra.find(text))
    candidates.sort(key=lambda e: (_PRIORITY.get(e.entity, 3), e.start - e.end, e.start))
    kept: list[Entity] = []
    for entity in candidates:
        if all(entity.end <= k.start or entity.start >= k.end for k in kept):
            kept.append(entity)
    return tuple(sorted(set(kept), key=lambda e: (e.start, e.end)))


def category_cues(text: str, lexicon_dir: Path = DEFAULT_LEXICON_DIR) -> set[str]:
    """Categories whose cue words (``categories.yml``) occur in ``text``."""
    return {e.value for e in lookup("category", "categories.yml", lexicon_dir).find(text)}


def intent_cues(text: str, lexicon_dir: Path = DEFAULT_LEXICON_DIR) -> set[str]:
    """Intents whose cue words (``intent_cues.yml``) occur in ``text`` (Latin cues are
    compared with the lower-cased text)."""
    cues = lookup("intent", "intent_cues.yml", lexicon_dir)
    return {e.value for e in cues.find(text.lower())}
