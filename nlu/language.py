"""Script-based language detection: count Tibetan syllables and Han characters, nothing else.

Rule: with ``t`` Tibetan syllables and ``h`` Han characters (a syllable, like a Han
character, carries about one morpheme; counting Tibetan code points would overweight
Tibetan), a text is ``unknown`` when ``t + h == 0``; ``mixed`` when the minority script has
at least ``MIXED_MINORITY_SHARE`` of the count and at least ``MIXED_MIN_LETTERS`` (one stray
character is an accident); else the majority's language. A Tibetan syllable is a maximal run
of letters U+0F40–U+0FBC (consonants, vowel signs, subjoined letters); tsheg, shad and
Tibetan digits separate syllables and do not count.
"""

from __future__ import annotations

from nlu.parsed import Language

MIXED_MINORITY_SHARE = 0.25
"""Share of the count the less used script needs for a text to count as mixed."""
MIXED_MIN_LETTERS = 2
"""Minimum count of the less used script for ``mixed``."""


def is_tibetan_letter(ch: str) -> bool:
    """A Tibetan consonant, vowel sign or subjoined letter (not tsheg, shad or digit)."""
    return "\u0f40" <= ch <= "\u0fbc"


def is_han(ch: str) -> bool:
    """A CJK unified ideograph (basic block, extension A, compatibility ideographs)."""
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\uf900" <= ch <= "\ufaff"


def script_counts(text: str) -> tuple[int, int]:
    """(Tibetan syllables, Han characters) in ``text``."""
    tibetan = han = 0
    in_syllable = False
    for ch in text:
        letter = is_tibetan_letter(ch)
        if letter and not in_syllable:
            tibetan += 1
        in_syllable = letter
        if is_han(ch):
            han += 1
    return tibetan, han


def detect_language(text: str) -> Language:
    """Language of ``text`` by script counts; see the module docstring for the rule."""
    tibetan, han = script_counts(text)
    total = tibetan + han
    if total == 0:
        return Language.UNKNOWN
    minority = min(tibetan, han)
    if minority >= MIXED_MIN_LETTERS and minority / total >= MIXED_MINORITY_SHARE:
        return Language.MIXED
    return Language.BO if tibetan > han else Language.ZH
