"""Spoken replies for elder mode, assembled IVR-style from recorded prompt clips.

data/prompts/scripts.yml names the clips of each reply (fixed phrases, digits, weekdays, parts of
the day, services, categories); the clips are recordings by staff or, for Chinese only,
espeak-ng placeholders. A reply with any clip missing is not spoken: the caller sends text only
and the console lists the gap.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydub import AudioSegment  # type: ignore[import-untyped]
from pydub.silence import detect_leading_silence  # type: ignore[import-untyped]

from voice.audio import SAMPLE_RATE, AudioError, decode, seconds
from voice.tts import synthesize_wav

LANGUAGES = ("zh", "bo")
CLIP_EXTENSIONS = ("mp3", "wav", "ogg", "webm")
PAUSE_MS = 150
TARGET_DBFS = -20.0
"""Every clip is brought to this average loudness, so recordings by different people match."""
PEAK_CEILING_DBFS = -1.0
MP3_BITRATE = "24k"
MAX_SECONDS = 60.0
MAX_BYTES = 2 * 1024 * 1024
"""WeChat's limits for a voice message sent through the media upload API."""
MAX_RECORDING_SECONDS = 60.0
SILENCE_MARGIN_MS = 60
"""Kept before and after the sound when trimming a recording, so the first syllable is whole."""

_PLACEHOLDER = re.compile(r"^\{(?P<param>\w+):(?P<kind>\w+)\}$")
_KINDS = frozenset({"digits", "weekday", "part_of_day", "number", "clip"})
_CLIP_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class MissingClips(Exception):
    """Some clips of a reply have no recording in that language."""

    def __init__(self, clips: Sequence[str], language: str) -> None:
        self.clips: list[str] = list(clips)
        self.language = language
        super().__init__(f"no {language} recording for: {', '.join(self.clips)}")


@dataclass(frozen=True, slots=True)
class Speech:
    mp3: bytes
    duration_seconds: float
    clips: tuple[str, ...]


class PromptLibrary:
    """The voice scripts and the folders holding their clips (searched in the given order)."""

    def __init__(
        self,
        scripts_file: Path,
        clip_dirs: Sequence[Path],
        *,
        timezone: str = "Asia/Shanghai",
        pause_ms: int = PAUSE_MS,
        max_seconds: float = MAX_SECONDS,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        data = yaml.safe_load(scripts_file.read_text("utf-8")) or {}
        self.scripts_file = scripts_file
        self.clip_dirs = list(clip_dirs)
        self.timezone = ZoneInfo(timezone)
        self.pause_ms = pause_ms
        self.max_seconds = max_seconds
        self.max_bytes = max_bytes
        self._texts = _parse_clips(data.get("clips"))
        self._replies = _parse_replies(data.get("replies"), self._texts)
        self._cache: dict[tuple[str, int, int], AudioSegment] = {}
        self._cache_lock = threading.Lock()

    # -- scripts -----------------------------------------------------------------------------

    def reply_keys(self) -> list[str]:
        """The response keys that have a voice script."""
        return sorted(self._replies)

    def clip_ids(self) -> list[str]:
        """Every clip id the scripts define (placeholders expand to these)."""
        return sorted(self._texts)

    def script_text(self, clip_id: str, language: str) -> str:
        """What the clip says in that language (the script shown to staff who record it)."""
        _check_language(language)
        if clip_id not in self._texts:
            raise ValueError(f"unknown clip id {clip_id!r}")
        return self._texts[clip_id][language]

    def used_in(self, clip_id: str, language: str) -> bool:
        """False for clips with an empty text in that language (e.g. a Chinese measure word)."""
        return bool(self.script_text(clip_id, language))

    def plan(self, key: str, params: Mapping[str, Any], language: str) -> list[str] | None:
        """The clip ids for one reply, None if that key has no voice script."""
        _check_language(language)
        script = self._replies.get(key)
        if script is None:
            return None
        clips: list[str] = []
        for item in script:
            match = _PLACEHOLDER.match(item)
            if match is None:
                clips.append(item)
                continue
            name, kind = match["param"], match["kind"]
            if name not in params or params[name] is None:
                raise ValueError(f"{key}: parameter {name!r} is missing for {item}")
            clips += self._expand(kind, name, params[name], language)
        return [clip for clip in clips if clip not in self._texts or self.used_in(clip, language)]

    def _expand(self, kind: str, name: str, value: Any, language: str) -> list[str]:
        if kind == "digits":
            return [f"digit_{digit}" for digit in ticket_digits(str(value))]
        if kind == "weekday":
            return [f"weekday_{self._moment(value).isoweekday()}"]
        if kind == "part_of_day":
            return [part_of_day(self._moment(value, need_time=True))]
        if kind == "number":
            return self._number(value, language)
        return [f"{name}_{_enum_value(value)}"]  # kind == "clip"

    def _moment(self, value: Any, *, need_time: bool = False) -> datetime | date:
        """An ISO string, date or datetime as local time (aware datetimes are converted)."""
        moment: date | datetime
        if isinstance(value, datetime | date):
            moment = value
        else:
            text = str(value).strip()
            try:
                moment = (
                    datetime.fromisoformat(text)
                    if "T" in text or " " in text
                    else (date.fromisoformat(text))
                )
            except ValueError as error:
                raise ValueError(f"not an ISO date or datetime: {value!r}") from error
        if isinstance(moment, datetime):
            return moment.astimezone(self.timezone) if moment.tzinfo else moment
        if need_time:
            raise ValueError(f"a time of day is needed, got the date {value!r}")
        return moment

    def _number(self, value: Any, language: str) -> list[str]:
        """0-99 as number clips: a digit, the counting "two" (Chinese only), number_11..19, or
        tens + (Tibetan joiner) + digit."""
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"not a small integer: {value!r}")
        try:
            number = int(value)
        except ValueError as error:
            raise ValueError(f"not a small integer: {value!r}") from error
        if not 0 <= number <= 99:
            raise ValueError(f"only 0-99 can be spoken as a number, got {number}")
        if number == 2 and self.used_in("number_two_count", language):
            return ["number_two_count"]
        if number < 10:
            return [f"digit_{number}"]
        if number < 20:
            return [f"number_{number}"]
        tens, units = divmod(number, 10)
        if not units:
            return [f"number_{tens * 10}"]
        return [f"number_{tens * 10}", "number_joiner", f"digit_{units}"]

    # -- recordings ----------------------------------------------------------------------------

    def clip_path(self, clip_id: str, language: str) -> Path | None:
        """The first recording of the clip in the clip folders, by folder order then extension."""
        for folder in self.clip_dirs:
            for extension in CLIP_EXTENSIONS:
                path = folder / language / f"{clip_id}.{extension}"
                if path.is_file():
                    return path
        return None

    def missing(self, clips: Sequence[str], language: str) -> list[str]:
        """The clips (each once, in order) that have no recording in that language."""
        _check_language(language)
        return [clip for clip in dict.fromkeys(clips) if self.clip_path(clip, language) is None]

    def gaps(self, language: str) -> list[str]:
        """Clip ids used in that language that nobody has recorded yet (for the console)."""
        used = [clip for clip in self.clip_ids() if self.used_in(clip, language)]
        return self.missing(used, language)

    def _segment(self, path: Path) -> AudioSegment:
        """A clip decoded to 16 kHz mono, cached until the file changes."""
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        with self._cache_lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        segment = decode(path.read_bytes(), path.suffix.lstrip("."))
        with self._cache_lock:
            if len(self._cache) > 512:
                self._cache.clear()
            self._cache[key] = segment
        return segment

    def assemble(self, clips: Sequence[str], language: str) -> Speech:
        """Clips joined by short pauses, loudness evened out, as MP3 (≤ 60 s, ≤ 2 MB)."""
        missing = self.missing(clips, language)
        if missing:
            raise MissingClips(missing, language)
        if not clips:
            raise ValueError("no clips to assemble")
        pause = AudioSegment.silent(duration=self.pause_ms, frame_rate=SAMPLE_RATE)
        speech = AudioSegment.empty().set_frame_rate(SAMPLE_RATE)
        for index, clip in enumerate(clips):
            path = self.clip_path(clip, language)
            if path is None:  # deleted since missing() looked
                raise MissingClips([clip], language)
            if index:
                speech += pause
            speech += _level(self._segment(path))
        if seconds(speech) > self.max_seconds:
            raise ValueError(f"speech lasts {seconds(speech):.1f} s, over {self.max_seconds} s")
        if speech.max_dBFS > PEAK_CEILING_DBFS:
            speech = speech.apply_gain(PEAK_CEILING_DBFS - speech.max_dBFS)
        mp3 = export_mp3(speech)
        if len(mp3) > self.max_bytes:
            raise ValueError(f"speech is {len(mp3)} bytes, over {self.max_bytes}")
        duration = seconds(decode(mp3, "mp3"))
        return Speech(mp3=mp3, duration_seconds=duration, clips=tuple(clips))

    def speak(self, key: str, params: Mapping[str, Any], language: str) -> Speech | None:
        """plan + assemble; None when the key has no script; MissingClips propagates."""
        clips = self.plan(key, params, language)
        if clips is None:
            return None
        return self.assemble(clips, language)

    def save_recording(
        self, clip_id: str, language: str, audio: bytes, fmt: str | None, target_dir: Path
    ) -> Path:
        """Store a staff recording (webm/ogg/mp3/wav…) as target_dir/<language>/<clip_id>.mp3.

        Silence at both ends is trimmed. Unknown clip id → ValueError; bad audio → AudioError.
        """
        self.script_text(clip_id, language)  # raises ValueError for an unknown clip or language
        segment = trim_silence(decode(audio, fmt))
        if seconds(segment) > MAX_RECORDING_SECONDS:
            raise ValueError(f"a clip may last at most {MAX_RECORDING_SECONDS:.0f} s")
        target = target_dir / language / f"{clip_id}.mp3"
        _atomic_write(target, export_mp3(segment))
        return target


def generate_placeholder_clips(
    library: PromptLibrary, target_dir: Path, language: str = "zh"
) -> list[Path]:
    """espeak-ng clips for the Chinese scripts not yet in target_dir/zh; returns the new files.

    Idempotent: existing files are kept. Tibetan has no offline speech synthesis, so for "bo"
    nothing is generated (staff record those clips).
    """
    _check_language(language)
    if language != "zh":
        return []
    todo: list[tuple[str, Path]] = []
    for clip_id in library.clip_ids():
        text = library.script_text(clip_id, language)
        target = target_dir / language / f"{clip_id}.mp3"
        if text and not target.exists():
            todo.append((text, target))

    def make(job: tuple[str, Path]) -> Path:
        text, target = job
        segment = trim_silence(decode(synthesize_wav(text), "wav"))
        _atomic_write(target, export_mp3(segment))
        return target

    # espeak-ng and ffmpeg are subprocesses: two at a time use both cores of a small server.
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(make, todo))


def ticket_digits(ticket: str) -> str:
    """The spoken part of a ticket: the daily number after the date (20261122-0007 → 0007)."""
    digits = "".join(char for char in ticket.rsplit("-", 1)[-1] if char.isdigit())
    if not digits:
        raise ValueError(f"no digits in ticket {ticket!r}")
    return digits


def part_of_day(moment: datetime | date) -> str:
    """Morning before 12:00, afternoon before 18:00, evening after."""
    if not isinstance(moment, datetime):
        raise ValueError("a time of day is needed")
    if moment.hour < 12:
        return "part_morning"
    if moment.hour < 18:
        return "part_afternoon"
    return "part_evening"


def trim_silence(segment: AudioSegment, margin_ms: int = SILENCE_MARGIN_MS) -> AudioSegment:
    """Cut leading and trailing silence (relative to the clip's peak), keeping a small margin."""
    if len(segment) == 0 or segment.max_dBFS == float("-inf"):
        raise AudioError("the recording is silent")
    threshold = max(segment.max_dBFS - 40.0, -60.0)
    start = detect_leading_silence(segment, silence_threshold=threshold)
    end = len(segment) - detect_leading_silence(segment.reverse(), silence_threshold=threshold)
    if end <= start:
        raise AudioError("the recording is silent")
    return segment[max(start - margin_ms, 0) : min(end + margin_ms, len(segment))]


def export_mp3(segment: AudioSegment, bitrate: str = MP3_BITRATE) -> bytes:
    """Mono 16 kHz MP3 at a speech bitrate."""
    buffer = io.BytesIO()
    segment.set_channels(1).set_frame_rate(SAMPLE_RATE).export(
        buffer, format="mp3", bitrate=bitrate
    )
    return buffer.getvalue()


def _level(segment: AudioSegment) -> AudioSegment:
    """The clip at TARGET_DBFS average loudness (silent clips are left alone)."""
    if segment.dBFS == float("-inf"):
        return segment
    return segment.apply_gain(TARGET_DBFS - segment.dBFS)


def _enum_value(value: Any) -> str:
    return str(getattr(value, "value", value)).strip().lower()


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r} (expected one of {LANGUAGES})")


def _parse_clips(raw: Any) -> dict[str, dict[str, str]]:
    if not isinstance(raw, dict) or not raw:
        raise ValueError("scripts: 'clips' must map clip ids to texts")
    texts: dict[str, dict[str, str]] = {}
    for clip_id, entry in raw.items():
        if not isinstance(clip_id, str) or not _CLIP_ID.match(clip_id):
            raise ValueError(f"scripts: bad clip id {clip_id!r}")
        if not isinstance(entry, dict) or any(
            not isinstance(entry.get(lang), str) for lang in LANGUAGES
        ):
            raise ValueError(f"scripts: clip {clip_id} needs a text for each of {LANGUAGES}")
        texts[clip_id] = {lang: entry[lang].strip() for lang in LANGUAGES}
    return texts


def _parse_replies(raw: Any, texts: Mapping[str, Any]) -> dict[str, list[str]]:
    if not isinstance(raw, dict):
        raise ValueError("scripts: 'replies' must map response keys to clip lists")
    replies: dict[str, list[str]] = {}
    for key, items in raw.items():
        if not isinstance(items, list) or not items:
            raise ValueError(f"scripts: reply {key} needs a list of clips")
        for item in items:
            match = _PLACEHOLDER.match(str(item))
            if match is not None:
                if match["kind"] not in _KINDS:
                    raise ValueError(f"scripts: {key}: unknown placeholder kind in {item}")
            elif item not in texts:
                raise ValueError(f"scripts: {key}: clip {item!r} is not defined under clips")
        replies[str(key)] = [str(item) for item in items]
    return replies


def _atomic_write(target: Path, data: bytes) -> None:
    """Write via a temp file and rename, so a reader never sees half a clip."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{target.stem}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temp_name, target)
    finally:
        Path(temp_name).unlink(missing_ok=True)
