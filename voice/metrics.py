"""Character error rate, the usual accuracy measure for Chinese speech recognition."""

from __future__ import annotations

import contextlib
import unicodedata

import cn2an


def normalise(text: str) -> str:
    """Width-folded (NFKC), Arabic numerals spelled as Chinese numerals (Whisper writes 80 where
    the reference spells eighty out), then letters and digits only (punctuation dropped)."""
    folded = unicodedata.normalize("NFKC", text)
    with contextlib.suppress(ValueError, KeyError, IndexError):  # odd digit runs stay as they are
        folded = str(cn2an.transform(folded, "an2cn"))
    return "".join(char for char in folded if unicodedata.category(char)[0] in "LN").lower()


def edit_distance(hypothesis: str, reference: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions all cost 1)."""
    previous = list(range(len(reference) + 1))
    for row, hyp_char in enumerate(hypothesis, 1):
        current = [row]
        for column, ref_char in enumerate(reference, 1):
            current.append(
                min(
                    previous[column] + 1,
                    current[column - 1] + 1,
                    previous[column - 1] + (hyp_char != ref_char),
                )
            )
        previous = current
    return previous[-1]


def character_error_rate(hypothesis: str, reference: str) -> float:
    """Edits needed per reference character, ignoring punctuation and spaces (can exceed 1)."""
    ref = normalise(reference)
    if not ref:
        raise ValueError("the reference has no characters")
    return edit_distance(normalise(hypothesis), ref) / len(ref)
