"""Dates and times in Chinese and Tibetan → ISO 8601 intervals in Asia/Shanghai.

An expression is up to three adjacent pieces (in any order): a day ("tomorrow", "next
Wednesday", "23 November", in either language), a part of the day ("morning", "afternoon") and a
clock time ("half past ten"); the phrases themselves are in ``tests/nlu/test_nlu_datetime.py``.
The value is ``start/end``:

* a day alone → the whole day, 00:00 to the next day's 00:00 (ISO's 24:00, written so that
  ``datetime.fromisoformat`` reads it); the weekend → Saturday and Sunday; a week ("next
  week") → Monday to the next Monday;
* a part of the day → its hours from :data:`PARTS_OF_DAY` (on the given day, else today);
* a clock time → that hour plus one hour ("from three to five" → 15:00–17:00).

Clock times are read in 12-hour speech: after "afternoon" or "evening", 1–11 means p.m.;
after "noon", 1–2 means p.m.; "at night", 6–11 means p.m. and 1–5 a.m.;
with no part of the day, 1–6 means p.m. (nobody books a visit at 3 a.m.).

Relative words count from ``now``: weeks start on Monday, "this Wednesday" is this week's
Wednesday even when it is past, a bare "Wednesday" is the next Wednesday from today on, a
past "23 November" means next year's, a past "the 5th" means next month's. China has had no
daylight saving time since 1991, so Asia/Shanghai is a fixed +08:00 offset.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any, Literal

import cn2an

from nlu.lexicon import DEFAULT_LEXICON_DIR, load_yaml, string_list
from nlu.phrases import SyllablePhrases, bo_tokens, tibetan_phrases
from nlu.tokenize import Token, TokenKind, ascii_digits

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

PARTS_OF_DAY: dict[str, tuple[int, int]] = {
    "small_hours": (0, 6),
    "daytime": (8, 18),
    "morning": (8, 12),
    "noon": (12, 14),
    "afternoon": (14, 18),
    "evening": (18, 21),
    "night": (21, 24),
}
"""Hours ``[start, end)`` of each part of the day. Morning starts at 08:00, when offices and
service centres open, rather than at dawn; early and late morning are both ``morning``."""

_PM_PARTS = frozenset({"afternoon", "evening"})
WEEKEND = 7
"""Weekday numbers of the weekend: Saturday and Sunday."""

PieceKind = Literal["day", "part", "hour"]


@dataclass(frozen=True, slots=True)
class Piece:
    """One recognised part of a time expression, with its span in the text."""

    kind: PieceKind
    start: int
    end: int
    day: date | None = None
    days: int = 1
    part: str | None = None
    hour: tuple[int, int] | None = None
    hour_end: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class TimeExpression:
    """A resolved expression: its span and the interval it names."""

    start: int
    end: int
    begin: datetime
    finish: datetime

    @property
    def iso(self) -> str:
        """``start/end`` in ISO 8601 with the +08:00 offset."""
        return f"{self.begin.isoformat()}/{self.finish.isoformat()}"


def local_now(now: datetime | None) -> datetime:
    """``now`` in Asia/Shanghai (naive values are taken as Shanghai wall-clock time)."""
    if now is None:
        return datetime.now(SHANGHAI)
    if now.tzinfo is None:
        return now.replace(tzinfo=SHANGHAI)
    return now.astimezone(SHANGHAI)


# --- resolving pieces -------------------------------------------------------------------


def weekday_date(today: date, weekday: int, weeks_ahead: int | None) -> date:
    """This/next week's weekday (Monday-based weeks), or the next one from today on."""
    if weeks_ahead is None:
        return today + timedelta(days=(weekday - today.weekday()) % 7)
    monday = today - timedelta(days=today.weekday())
    return monday + timedelta(days=7 * weeks_ahead + weekday)


def weekday_piece(
    kind_start: int, kind_end: int, today: date, weekday: int, weeks_ahead: int | None
) -> Piece:
    """A day piece for a weekday or the weekend."""
    if weekday == WEEKEND:
        return Piece("day", kind_start, kind_end, weekday_date(today, 5, weeks_ahead), days=2)
    return Piece("day", kind_start, kind_end, weekday_date(today, weekday, weeks_ahead))


def month_day_date(today: date, month: int | None, day: int) -> date | None:
    """The date of "month/day" (next year's when past) or "day" (next month's when past)."""
    try:
        if month is not None:
            found = date(today.year, month, day)
            return found if found >= today else date(today.year + 1, month, day)
        if day >= today.day:
            return date(today.year, today.month, day)
        year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
        return date(year, month, day)
    except ValueError:
        return None


def _clock_hour(hour: int, part: str | None) -> int:
    """A spoken 12-hour clock hour as a 24-hour one (see the module docstring)."""
    if part in _PM_PARTS and 1 <= hour < 12:
        return hour + 12
    if part == "noon" and 1 <= hour <= 2:
        return hour + 12
    if part == "night" and 6 <= hour < 12:
        return hour + 12  # "ten at night" = 22:00; "two after midnight" stays 02:00
    if part is None and 1 <= hour <= 6:
        return hour + 12
    return hour


def _at(day: date, hour: int, minute: int) -> datetime:
    return datetime.combine(day, time(0), SHANGHAI) + timedelta(hours=hour, minutes=minute)


def resolve(pieces: Sequence[Piece], today: date) -> tuple[datetime, datetime]:
    """The interval named by one day, part and hour piece (each optional)."""
    day_piece = next((p for p in pieces if p.kind == "day"), None)
    part = next((p.part for p in pieces if p.kind == "part"), None)
    hour_piece = next((p for p in pieces if p.kind == "hour"), None)
    day = day_piece.day if day_piece and day_piece.day else today
    if hour_piece is not None and hour_piece.hour is not None:
        hour, minute = hour_piece.hour
        begin = _at(day, _clock_hour(hour, part), minute)
        if hour_piece.hour_end is not None:
            end_hour, end_minute = hour_piece.hour_end
            finish = _at(day, _clock_hour(end_hour, part), end_minute)
            if finish <= begin and end_hour < 12:
                finish += timedelta(hours=12)
            if finish > begin:
                return begin, finish
        return begin, begin + timedelta(hours=1)
    if part is not None:
        first, last = PARTS_OF_DAY[part]
        return _at(day, first, 0), _at(day, last, 0)
    days = day_piece.days if day_piece else 1
    return _at(day, 0, 0), _at(day + timedelta(days=days), 0, 0)


def group_pieces(pieces: Sequence[Piece], joinable: Any, today: date) -> list[TimeExpression]:
    """Adjacent pieces of different kinds form one expression; ``joinable(a, b)`` says
    whether the gap between two neighbouring pieces may be bridged."""
    out: list[TimeExpression] = []
    group: list[Piece] = []

    def flush() -> None:
        if group:
            begin, finish = resolve(group, today)
            out.append(TimeExpression(group[0].start, group[-1].end, begin, finish))
            group.clear()

    for piece in sorted(pieces, key=lambda p: p.start):
        if group and (any(p.kind == piece.kind for p in group) or not joinable(group[-1], piece)):
            flush()
        group.append(piece)
    flush()
    return out


# --- Chinese ----------------------------------------------------------------------------


def _alternation(words: Sequence[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True) if w)


@dataclass(frozen=True, slots=True)
class ZhGrammar:
    """Compiled Chinese patterns built from ``time_zh.yml``."""

    relative_days: dict[str, int]
    week_prefixes: dict[str, int]
    weekday_names: dict[str, int]
    parts: dict[str, str]
    quarters: dict[str, int]
    half_words: frozenset[str]
    ambiguous_hours: frozenset[str]
    linkers: tuple[str, ...]
    habitual_prefixes: tuple[str, ...]
    greeting_suffixes: tuple[str, ...]
    day_parts: dict[str, tuple[int, str]]
    patterns: tuple[tuple[str, re.Pattern[str]], ...]


@cache
def zh_grammar(lexicon_dir: Path = DEFAULT_LEXICON_DIR) -> ZhGrammar:
    """Patterns for Chinese dates and times (built once per lexicon folder)."""
    lex = load_yaml("time_zh.yml", lexicon_dir)
    numerals = str(lex.get("numerals", ""))
    num = rf"(?:\d{{1,2}}|[{re.escape(numerals)}]{{1,3}})" if numerals else r"\d{1,2}"
    rel = {str(k): int(v) for k, v in (lex.get("relative_days") or {}).items()}
    prefixes = {str(k): int(v) for k, v in (lex.get("week_prefixes") or {}).items()}
    names = {str(k): int(v) for k, v in (lex.get("weekday_names") or {}).items()}
    parts = {str(k): str(v) for k, v in (lex.get("parts_of_day") or {}).items()}
    quarters = {str(k): int(v) for k, v in (lex.get("quarter_words") or {}).items()}
    halves = string_list(lex.get("half_words"))
    month_word = re.escape(str(lex.get("month_word", "")))
    year_word = re.escape(str(lex.get("year_word", ""))) or "(?!)"
    day_words = _alternation(string_list(lex.get("day_words")))
    bare_day_words = _alternation(string_list(lex.get("bare_day_words")))
    blockers = _alternation(string_list(lex.get("day_number_blockers")))
    hour_words = _alternation(string_list(lex.get("hour_words")))
    minute_word = re.escape(str(lex.get("minute_word", "")))
    ranges = _alternation(string_list(lex.get("range_words")))
    minute = (
        rf"(?P<min>{_alternation(halves + list(quarters))}|(?P<mm>{num}){minute_word}"
        rf"|(?P<mm2>\d{{2}}(?!\d)|[{re.escape(numerals)}]{{2,3}}))"
    )
    no_block = rf"(?!{blockers})" if blockers else ""
    day_parts = {str(k): (int(v[0]), str(v[1])) for k, v in (lex.get("day_parts") or {}).items()}
    patterns: list[tuple[str, re.Pattern[str]]] = []
    if day_parts:
        patterns.append(("daypart", re.compile(rf"(?P<dp>{_alternation(list(day_parts))})")))
    if rel:
        patterns.append(("rel", re.compile(rf"(?P<rel>{_alternation(list(rel))})")))
    if names:
        patterns.append(
            (
                "week",
                re.compile(
                    rf"(?P<pre>{_alternation(list(prefixes))})?"
                    rf"(?:{_alternation(string_list(lex.get('week_words')))})"
                    rf"(?P<wd>{_alternation(list(names))})"
                ),
            )
        )
    if prefixes:
        patterns.append(
            (
                "weekspan",
                re.compile(
                    rf"(?P<pre>{_alternation(list(prefixes))})"
                    rf"(?:{_alternation(string_list(lex.get('week_words')))})"
                ),
            )
        )
    if month_word and day_words:
        patterns.append(
            (
                "date",
                re.compile(
                    rf"(?<!\d)(?:(?P<y>20\d\d){year_word})?(?P<mo>{num}){month_word}(?P<d>{num})"
                    rf"(?:{day_words})?(?![\d{numerals}])"
                ),
            )
        )
    if bare_day_words:
        patterns.append(
            ("bare", re.compile(rf"(?<!\d)(?P<d>{num})(?:{bare_day_words}){no_block}"))
        )
    if parts:
        patterns.append(("part", re.compile(rf"(?P<part>{_alternation(list(parts))})")))
    if hour_words:
        end = rf"(?:(?:{ranges})(?P<h2>{num})(?:{hour_words})?(?P<half2>{_alternation(halves)})?)?"
        patterns.append(
            (
                "hour",
                re.compile(
                    rf"(?<!\d)(?P<h>{num})(?:{hour_words}){minute}?{end if ranges else ''}"
                ),
            )
        )
    clock_end = rf"(?:(?:{ranges})(?P<h2>\d{{1,2}})[:：](?P<mm2>[0-5]\d))?" if ranges else ""
    patterns.append(
        (
            "clock",
            re.compile(rf"(?<!\d)(?P<h>\d{{1,2}})[:：](?P<mm>[0-5]\d){clock_end}(?!\d)"),
        )
    )
    return ZhGrammar(
        relative_days=rel,
        week_prefixes=prefixes,
        weekday_names=names,
        parts=parts,
        quarters=quarters,
        half_words=frozenset(halves),
        ambiguous_hours=frozenset(string_list(lex.get("ambiguous_hours"))),
        linkers=tuple(string_list(lex.get("linkers"))),
        habitual_prefixes=tuple(string_list(lex.get("habitual_prefixes"))),
        greeting_suffixes=tuple(string_list(lex.get("greeting_suffixes"))),
        day_parts=day_parts,
        patterns=tuple(patterns),
    )


def zh_number(text: str) -> int | None:
    """ASCII digits or a Chinese numeral (eleven, "two" as liang, twenty-three) as an int."""
    if text.isdigit():
        return int(text)
    try:
        value = cn2an.cn2an(text, "smart")
    except (ValueError, KeyError, IndexError):
        return None
    return int(value) if float(value).is_integer() else None


def _zh_minute(match: re.Match[str], grammar: ZhGrammar) -> int | None:
    token = match.group("min")
    if token is None:
        return 0
    if token in grammar.half_words:
        return 30
    if token in grammar.quarters:
        return grammar.quarters[token]
    digits = match.group("mm") or match.group("mm2")
    value = zh_number(digits) if digits else None
    return value if value is not None and 0 <= value < 60 else None


def _zh_piece(
    kind: str, match: re.Match[str], text: str, grammar: ZhGrammar, today: date
) -> Piece | None:
    start, end = match.span()
    if kind == "rel":
        offset = grammar.relative_days[match["rel"]]
        return Piece("day", start, end, today + timedelta(days=offset))
    if kind == "week":
        pre = match.group("pre")
        ahead = grammar.week_prefixes[pre] if pre else None
        weekday = grammar.weekday_names[match["wd"]]
        if weekday == WEEKEND and ahead is None:
            return None  # a bare "weekend" is generic ("anyone on duty at weekends?")
        return weekday_piece(start, end, today, weekday, ahead)
    if kind in ("date", "bare"):
        month = zh_number(match["mo"]) if kind == "date" else None
        day = zh_number(match["d"])
        if day is None or (kind == "date" and month is None):
            return None
        found = month_day_date(today, month, day)
        year = match.group("y") if kind == "date" else None
        if found is not None and year is not None and month is not None:
            try:
                found = date(int(year), month, day)
            except ValueError:
                return None
        return None if found is None else Piece("day", start, end, found)
    if kind == "part":
        return Piece("part", start, end, part=grammar.parts[match["part"]])
    if kind == "clock":
        clock = (int(match["h"]), int(match["mm"]))
        until = (int(match["h2"]), int(match["mm2"])) if match.group("h2") else None
        if clock[0] > 24 or (until is not None and until[0] > 24):
            return None
        return Piece("hour", start, end, hour=clock, hour_end=until)
    if kind == "weekspan":
        monday = today - timedelta(days=today.weekday())
        ahead = grammar.week_prefixes[match["pre"]]
        return Piece("day", start, end, monday + timedelta(days=7 * ahead), days=7)
    hour = zh_number(match["h"])
    minute = _zh_minute(match, grammar)
    if hour is None or minute is None or hour > 24:
        return None
    hour_end: tuple[int, int] | None = None
    if match.group("h2"):
        end_hour = zh_number(match["h2"])
        if end_hour is not None and end_hour <= 24:
            hour_end = (end_hour, 30 if match.group("half2") else 0)
    return Piece("hour", start, end, hour=(hour, minute), hour_end=hour_end)


def zh_time_expressions(
    text: str, now: datetime | None = None, lexicon_dir: Path = DEFAULT_LEXICON_DIR
) -> list[TimeExpression]:
    """Chinese date/time expressions of ``text`` with their intervals."""
    grammar = zh_grammar(lexicon_dir)
    today = local_now(now).date()
    scan = ascii_digits(text)
    pieces: list[Piece] = []
    i = 0
    while i < len(scan):
        best: tuple[str, re.Match[str]] | None = None
        for kind, pattern in grammar.patterns:
            m = pattern.match(scan, i)
            if m and m.end() > i and (best is None or m.end() > best[1].end()):
                best = (kind, m)
        if best is None:
            i += 1
            continue
        kind, match = best
        if kind == "daypart":  # "tomorrow morning" as one word: two pieces
            offset, part = grammar.day_parts[match["dp"]]
            start, end = match.span()
            pieces.append(Piece("day", start, end, today + timedelta(days=offset)))
            pieces.append(Piece("part", start, end, part=part))
            i = end
            continue
        piece = _zh_piece(kind, match, scan, grammar, today)
        if piece is not None:
            pieces.append(piece)
            i = match.end()
        else:
            i += 1
    pieces = _drop_ambiguous_hours(pieces, scan, grammar)

    def joinable(a: Piece, b: Piece) -> bool:
        gap = scan[a.end : b.start]
        for linker in grammar.linkers:
            gap = gap.replace(linker, "")
        return gap == "" and b.start - a.end <= 2

    expressions = group_pieces(pieces, joinable, today)
    part_only = {p.start for p in pieces if p.kind == "part"}
    return [
        e
        for e in expressions
        if not (e.start in part_only and e.end - e.start <= 3 and _generic(scan, e, grammar))
    ]


def _generic(scan: str, e: TimeExpression, grammar: ZhGrammar) -> bool:
    """A lone part of the day that is habitual ("every noon") or a greeting ("good morning")."""
    before, after = scan[: e.start], scan[e.end :]
    return any(before.endswith(p) for p in grammar.habitual_prefixes) or any(
        after.startswith(s) for s in grammar.greeting_suffixes
    )


def _drop_ambiguous_hours(pieces: list[Piece], scan: str, grammar: ZhGrammar) -> list[Piece]:
    """ "One dian" alone is "a little" ("a little faster"), not one o'clock, unless a day or
    part precedes it or a minute follows it."""
    kept: list[Piece] = []
    for piece in pieces:
        surface = scan[piece.start : piece.end]
        if piece.kind == "hour" and surface in grammar.ambiguous_hours:
            previous = kept[-1] if kept else None
            if previous is None or piece.start - previous.end > 2:
                continue
        kept.append(piece)
    return kept


# --- Tibetan ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BoGrammar:
    """Syllable tables from ``time_bo.yml``."""

    relative_days: SyllablePhrases[int]
    week_prefixes: SyllablePhrases[int]
    weekday_names: SyllablePhrases[int]
    month_words: SyllablePhrases[bool]
    day_words: SyllablePhrases[bool]
    parts: SyllablePhrases[str]
    hour_words: SyllablePhrases[bool]
    ordinals: SyllablePhrases[bool]
    halves: SyllablePhrases[bool]
    numbers: SyllablePhrases[int]
    linkers: SyllablePhrases[bool]


@cache
def bo_grammar(lexicon_dir: Path = DEFAULT_LEXICON_DIR) -> BoGrammar:
    """Tibetan time tables (built once per lexicon folder)."""
    lex = load_yaml("time_bo.yml", lexicon_dir)

    def table(key: str) -> dict[str, Any]:
        value = lex.get(key) or {}
        return {str(k): v for k, v in value.items()}

    def flags(key: str) -> SyllablePhrases[bool]:
        return tibetan_phrases(dict.fromkeys(string_list(lex.get(key)), True), lexicon_dir)

    return BoGrammar(
        relative_days=tibetan_phrases({k: int(v) for k, v in table("relative_days").items()}),
        week_prefixes=tibetan_phrases({k: int(v) for k, v in table("week_prefixes").items()}),
        weekday_names=tibetan_phrases({k: int(v) for k, v in table("weekday_names").items()}),
        month_words=flags("month_words"),
        day_words=flags("day_words"),
        parts=tibetan_phrases({k: str(v) for k, v in table("parts_of_day").items()}),
        hour_words=flags("hour_words"),
        ordinals=flags("ordinal_markers"),
        halves=flags("half_words"),
        numbers=tibetan_phrases({k: int(v) for k, v in table("numbers").items()}),
        linkers=tibetan_phrases(
            dict.fromkeys(string_list(lex.get("linkers")), True), lexicon_dir, fuse=False
        ),
    )


def _bo_number(tokens: Sequence[Token], i: int, g: BoGrammar) -> tuple[int, int, bool] | None:
    """(value, next index, unambiguous) of a number at ``i``, its ordinal marker eaten;
    unambiguous = written in digits or followed by the Tibetan ordinal marker."""
    if i >= len(tokens):
        return None
    if tokens[i].kind is TokenKind.NUMBER:
        value, nxt, digits = int(tokens[i].text), i + 1, True
    else:
        m = g.numbers.match(tokens, i)
        if m is None:
            return None
        value, nxt, digits = m.value, m.next, False
    ordinal = g.ordinals.match(tokens, nxt)
    if ordinal is not None:
        nxt = ordinal.next
    return value, nxt, digits or ordinal is not None


def _skip_linkers(tokens: Sequence[Token], i: int, g: BoGrammar) -> int:
    m = g.linkers.match(tokens, i)
    return m.next if m is not None else i


def _bo_piece_at(
    tokens: Sequence[Token], i: int, g: BoGrammar, today: date, context: bool
) -> tuple[Piece, int] | None:
    """The piece starting at token ``i`` and the index after it."""
    start = tokens[i].start

    def span_to(nxt: int) -> int:
        return tokens[nxt - 1].end

    prefix = g.week_prefixes.match(tokens, i)
    if prefix is not None:
        wd = g.weekday_names.match(tokens, _skip_linkers(tokens, prefix.next, g))
        if wd is not None:
            return weekday_piece(start, span_to(wd.next), today, wd.value, prefix.value), wd.next
        monday = today - timedelta(days=today.weekday())
        week = Piece("day", start, span_to(prefix.next), monday + timedelta(weeks=prefix.value), 7)
        return week, prefix.next
    wd = g.weekday_names.match(tokens, i)
    if wd is not None:
        return weekday_piece(start, span_to(wd.next), today, wd.value, None), wd.next
    rel = g.relative_days.match(tokens, i)
    if rel is not None:
        piece = Piece("day", start, span_to(rel.next), today + timedelta(days=rel.value))
        return piece, rel.next
    month = g.month_words.match(tokens, i)
    if month is not None:
        mnum = _bo_number(tokens, month.next, g)
        if mnum is not None:
            dword = g.day_words.match(tokens, _skip_linkers(tokens, mnum[1], g))
            dnum = _bo_number(tokens, dword.next, g) if dword is not None else None
            if dnum is not None:
                found = month_day_date(today, mnum[0], dnum[0])
                if found is not None:
                    return Piece("day", start, span_to(dnum[1]), found), dnum[1]
    dword = g.day_words.match(tokens, i)
    if dword is not None:
        dnum = _bo_number(tokens, dword.next, g)
        if dnum is not None:
            found = month_day_date(today, None, dnum[0])
            if found is not None:
                return Piece("day", start, span_to(dnum[1]), found), dnum[1]
    part = g.parts.match(tokens, i)
    if part is not None:
        return Piece("part", start, span_to(part.next), part=part.value), part.next
    hour_word = g.hour_words.match(tokens, i)
    if hour_word is not None:
        hnum = _bo_number(tokens, hour_word.next, g)
        # "chu tsö sum" without the ordinal marker is "three hours", a duration, unless a day or
        # part of the day stands right before it.
        if hnum is not None and (hnum[2] or context) and 0 <= hnum[0] <= 24:
            nxt = hnum[1]
            minute = 0
            half = g.halves.match(tokens, nxt)
            if half is not None:
                minute, nxt = 30, half.next
            return Piece("hour", start, span_to(nxt), hour=(hnum[0], minute)), nxt
    return None


def bo_time_expressions(
    text: str, now: datetime | None = None, lexicon_dir: Path = DEFAULT_LEXICON_DIR
) -> list[TimeExpression]:
    """Tibetan date/time expressions of ``text`` with their intervals."""
    g = bo_grammar(lexicon_dir)
    today = local_now(now).date()
    tokens = bo_tokens(text)
    pieces: list[Piece] = []
    last_next = -1
    i = 0
    while i < len(tokens):
        context = last_next >= 0 and _skip_linkers(tokens, last_next, g) == i
        found = _bo_piece_at(tokens, i, g, today, context)
        if found is None:
            i += 1
            continue
        piece, last_next = found
        pieces.append(piece)
        i = last_next
    token_at = {t.start: k for k, t in enumerate(tokens)}
    token_end = {t.end: k for k, t in enumerate(tokens)}

    def joinable(a: Piece, b: Piece) -> bool:
        k = token_end[a.end] + 1
        k = _skip_linkers(tokens, k, g)
        return token_at.get(b.start) == k

    return group_pieces(pieces, joinable, today)
