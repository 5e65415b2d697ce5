"""Elder-mode speech: the clips of a reply, placeholders, assembled MP3, gaps, recordings."""

from __future__ import annotations

import io
import subprocess
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path

import pytest
import yaml
from pydub import AudioSegment  # type: ignore[import-untyped]

from tests.voice.conftest import MANIFEST, ROOT, SCRIPTS
from voice.audio import AudioError
from voice.prompts import (
    MissingClips,
    PromptLibrary,
    generate_placeholder_clips,
    part_of_day,
    ticket_digits,
)

RESPONSES = ROOT / "data" / "responses" / "zh.yml"


@pytest.fixture
def library() -> PromptLibrary:
    return PromptLibrary(SCRIPTS, [])


def _decoded_ms(path_or_bytes: Path | bytes) -> float:
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else path_or_bytes.read_bytes()
    return len(AudioSegment.from_file(io.BytesIO(data), format="mp3"))


# -- plan -----------------------------------------------------------------------------------------


def test_ticket_digits_speak_the_daily_number(library: PromptLibrary) -> None:
    plan = library.plan("utter_voice_petition_created", {"ticket": "20261122-0007"}, "zh")
    assert plan == [
        "voice_petition_registered",
        "ticket_number_is",
        "digit_0",
        "digit_0",
        "digit_0",
        "digit_7",
        "staff_will_listen_call_back",
    ]
    assert ticket_digits("20261122-0451") == "0451"
    assert ticket_digits("0007") == "0007"
    with pytest.raises(ValueError, match="no digits"):
        ticket_digits("20261122-")


@pytest.mark.parametrize(
    ("start", "weekday", "part"),
    [
        ("2026-11-25T09:00:00+08:00", "weekday_3", "part_morning"),
        ("2026-11-25T15:00:00+08:00", "weekday_3", "part_afternoon"),
        ("2026-11-25T11:59:00", "weekday_3", "part_morning"),
        ("2026-11-25T12:00:00", "weekday_3", "part_afternoon"),
        ("2026-11-22T18:00:00+08:00", "weekday_7", "part_evening"),
        # aware UTC times are read in Lhasa time: 11:30 UTC Sunday is 19:30 Sunday
        (datetime(2026, 11, 22, 11, 30, tzinfo=UTC), "weekday_7", "part_evening"),
        # 17:00 UTC Sunday is 01:00 Monday in Lhasa
        ("2026-11-22T17:00:00+00:00", "weekday_1", "part_morning"),
    ],
)
def test_booking_weekday_and_part_of_day(
    library: PromptLibrary, start: object, weekday: str, part: str
) -> None:
    plan = library.plan("utter_booking_done", {"start": start, "service": "meal"}, "zh")
    assert plan == ["booking_done", weekday, part, "service_meal", "booking_reminder"]


def test_a_date_gives_a_weekday_but_no_part_of_day(library: PromptLibrary) -> None:
    assert library._expand("weekday", "start", date(2026, 11, 28), "zh") == ["weekday_6"]
    with pytest.raises(ValueError, match="time of day"):
        library.plan("utter_booking_done", {"start": "2026-11-28", "service": "meal"}, "zh")
    with pytest.raises(ValueError, match="time of day"):
        part_of_day(date(2026, 11, 28))


@pytest.mark.parametrize(
    ("count", "zh", "bo"),
    [
        (0, ["digit_0"], ["digit_0"]),
        (1, ["digit_1"], ["digit_1"]),
        (2, ["number_two_count"], ["digit_2"]),
        (9, ["digit_9"], ["digit_9"]),
        (10, ["number_10"], ["number_10"]),
        (15, ["number_15"], ["number_15"]),
        (20, ["number_20"], ["number_20"]),
        (21, ["number_20", "digit_1"], ["number_20", "number_joiner", "digit_1"]),
        (22, ["number_20", "digit_2"], ["number_20", "number_joiner", "digit_2"]),
        (99, ["number_90", "digit_9"], ["number_90", "number_joiner", "digit_9"]),
    ],
)
def test_numbers(library: PromptLibrary, count: int, zh: list[str], bo: list[str]) -> None:
    assert library.plan("utter_photo_received", {"count": count}, "zh") == [
        "photo_received_total",
        *zh,
        "photo_unit",
    ]
    # Tibetan has no measure word here: the empty clip is left out
    assert library.plan("utter_photo_received", {"count": count}, "bo") == [
        "photo_received_total",
        *bo,
    ]


@pytest.mark.parametrize("count", [-1, 100, True, 2.5, "many"])
def test_numbers_out_of_range_are_refused(library: PromptLibrary, count: object) -> None:
    with pytest.raises(ValueError, match=r"0-99|small integer"):
        library.plan("utter_photo_received", {"count": count}, "zh")


class Status(StrEnum):
    IN_PROGRESS = "in_progress"


def test_value_clips_for_category_status_and_service(library: PromptLibrary) -> None:
    params = {"ticket": "20261122-0012", "category": "streetlight", "status": Status.IN_PROGRESS}
    assert library.plan("utter_status_line", params, "bo") == [
        "ticket_word",
        "digit_0",
        "digit_0",
        "digit_1",
        "digit_2",
        "category_streetlight",
        "status_in_progress",
    ]


def test_no_script_missing_param_unknown_language(library: PromptLibrary) -> None:
    assert library.plan("utter_policy_answer", {}, "zh") is None
    assert library.speak("utter_policy_answer", {}, "zh") is None
    with pytest.raises(ValueError, match="ticket"):
        library.plan("utter_voice_petition_created", {}, "zh")
    with pytest.raises(ValueError, match="language"):
        library.plan("utter_greet", {}, "en")


def test_scripts_cover_the_vocabulary_of_the_responses(library: PromptLibrary) -> None:
    responses = yaml.safe_load(RESPONSES.read_text("utf-8"))
    clips = set(library.clip_ids())
    for prefix in ("category_", "service_", "status_"):
        keys = {key for key in responses if key.startswith(prefix)}
        assert keys, prefix
        assert keys <= clips, keys - clips
    assert len({c for c in clips if c.startswith("category_")}) == 11
    assert {f"digit_{d}" for d in range(10)} <= clips
    assert {f"weekday_{d}" for d in range(1, 8)} <= clips
    assert {"part_morning", "part_afternoon", "part_evening"} <= clips


def test_scripted_reply_keys(library: PromptLibrary) -> None:
    required = {
        "utter_voice_received",
        "utter_voice_petition_created",
        "utter_voice_readback",
        "utter_petition_received",
        "utter_status_line",
        "utter_booking_done",
        "utter_greet",
        "utter_menu",
        "utter_handoff",
        "utter_elder_mode_on",
        "utter_elder_mode_off",
        "push_followup",
    }
    assert required <= set(library.reply_keys())
    responses = yaml.safe_load(RESPONSES.read_text("utf-8"))
    new_keys = {
        "utter_voice_petition_created",
        "utter_voice_readback",
        "utter_elder_mode_on",
        "utter_elder_mode_off",
    }
    for key in set(library.reply_keys()) - new_keys:
        assert key in responses, f"{key} is scripted but not a response key"


def test_every_clip_has_both_texts_and_bad_scripts_are_refused(
    library: PromptLibrary, tmp_path: Path
) -> None:
    assert library.script_text("digit_7", "zh") == "七"
    assert library.script_text("greet", "bo")
    with pytest.raises(ValueError, match="unknown clip"):
        library.script_text("no_such_clip", "zh")
    bad = tmp_path / "scripts.yml"
    bad.write_text("clips:\n  a: {zh: x, bo: y}\nreplies:\n  utter_x: [a, b]\n", "utf-8")
    with pytest.raises(ValueError, match="'b' is not defined"):
        PromptLibrary(bad, [])
    bad.write_text("clips:\n  a: {zh: x}\nreplies: {}\n", "utf-8")
    with pytest.raises(ValueError, match="needs a text"):
        PromptLibrary(bad, [])


# -- recordings, gaps, placeholders ---------------------------------------------------------------


def test_no_recordings_means_every_clip_is_a_gap(library: PromptLibrary) -> None:
    used_in_bo = [clip for clip in library.clip_ids() if library.script_text(clip, "bo")]
    assert library.gaps("bo") == used_in_bo
    assert len(used_in_bo) >= len(library.clip_ids()) - 2


def test_committed_clip_folders_hold_no_tibetan_yet() -> None:
    committed = PromptLibrary(SCRIPTS, [ROOT / "data" / "prompts"])
    assert set(committed.gaps("bo")) == {
        c for c in committed.clip_ids() if committed.script_text(c, "bo")
    }


def test_placeholder_generation_is_idempotent(tmp_path: Path) -> None:
    scripts = tmp_path / "scripts.yml"
    scripts.write_text(
        "clips:\n"
        "  greet: {zh: 您好, bo: བཀྲ་ཤིས་བདེ་ལེགས།}\n"
        "  digit_7: {zh: 七, bo: བདུན།}\n"
        "  photo_unit: {zh: 张, bo: ''}\n"
        "replies:\n  utter_greet: [greet, digit_7]\n",
        "utf-8",
    )
    clips = tmp_path / "clips"
    library = PromptLibrary(scripts, [clips])
    made = generate_placeholder_clips(library, clips)
    assert sorted(p.name for p in made) == ["digit_7.mp3", "greet.mp3", "photo_unit.mp3"]
    assert all(p.parent == clips / "zh" and _decoded_ms(p) > 150 for p in made)
    stamps = {p: p.stat().st_mtime_ns for p in made}
    assert generate_placeholder_clips(library, clips) == []
    assert {p: p.stat().st_mtime_ns for p in made} == stamps
    assert generate_placeholder_clips(library, clips, "bo") == []
    assert library.gaps("zh") == []
    assert library.gaps("bo") == ["digit_7", "greet"]


def test_speak_duration_is_the_clips_plus_pauses(placeholder_library: PromptLibrary) -> None:
    library = placeholder_library
    params = {"start": "2026-11-25T15:00:00+08:00", "service": "meal"}
    speech = library.speak("utter_booking_done", params, "zh")
    assert speech is not None
    assert speech.clips == (
        "booking_done",
        "weekday_3",
        "part_afternoon",
        "service_meal",
        "booking_reminder",
    )
    clip_paths = [library.clip_path(clip, "zh") for clip in speech.clips]
    expected_ms = sum(_decoded_ms(p) for p in clip_paths if p) + library.pause_ms * 4
    output = AudioSegment.from_file(io.BytesIO(speech.mp3), format="mp3")
    assert output.channels == 1
    assert output.frame_rate == 16_000
    assert len(output) == pytest.approx(expected_ms, abs=50)
    assert speech.duration_seconds * 1000 == pytest.approx(len(output), abs=50)
    assert speech.duration_seconds <= 60
    assert len(speech.mp3) <= 2 * 1024 * 1024
    assert output.dBFS > -30  # loudness normalised, not silence


def test_every_scripted_reply_can_be_spoken_in_chinese(placeholder_library: PromptLibrary) -> None:
    params = {
        "ticket": "20261122-0007",
        "start": "2026-11-25T09:00:00+08:00",
        "service": "nursing",
        "category": "power",
        "status": "dispatched",
        "count": 3,
    }
    assert placeholder_library.gaps("zh") == []
    for key in placeholder_library.reply_keys():
        speech = placeholder_library.speak(key, params, "zh")
        assert speech is not None, key
        assert 0.3 < speech.duration_seconds <= 60, key


def test_tibetan_speech_is_missing_its_clips(placeholder_library: PromptLibrary) -> None:
    with pytest.raises(MissingClips) as raised:
        placeholder_library.speak(
            "utter_voice_petition_created", {"ticket": "20261122-0007"}, "bo"
        )
    assert raised.value.clips == [
        "voice_petition_registered",
        "ticket_number_is",
        "digit_0",
        "digit_7",
        "staff_will_listen_call_back",
    ]
    assert raised.value.language == "bo"


def test_too_long_or_too_big_speech_is_refused(
    placeholder_library: PromptLibrary, tmp_path: Path
) -> None:
    menu = placeholder_library.plan("utter_menu", {}, "zh")
    assert menu is not None
    with pytest.raises(ValueError, match="over 60"):
        placeholder_library.assemble(menu * 6, "zh")
    small = PromptLibrary(SCRIPTS, placeholder_library.clip_dirs, max_bytes=4_000)
    with pytest.raises(ValueError, match="bytes"):
        small.speak("utter_menu", {}, "zh")


def _padded_webm(tmp_path: Path) -> bytes:
    """A fixture with 1 s of silence before and after, as the browser's recorder would send."""
    source = MANIFEST["zh_yes.amr"].path
    target = tmp_path / "recording.webm"
    subprocess.run(
        [
            *("ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(source)),
            *("-af", "adelay=1000,apad=pad_dur=1", "-c:a", "libopus", str(target)),
        ],
        check=True,
    )
    return target.read_bytes()


def test_save_recording_trims_and_is_found(tmp_path: Path) -> None:
    staff_dir = tmp_path / "media" / "prompts"
    library = PromptLibrary(SCRIPTS, [staff_dir])
    webm = _padded_webm(tmp_path)
    padded_ms = len(AudioSegment.from_file(io.BytesIO(webm), format="webm"))
    stored = library.save_recording("greet", "bo", webm, "webm", staff_dir)
    assert stored == staff_dir / "bo" / "greet.mp3"
    stored_ms = _decoded_ms(stored)
    speech_ms = MANIFEST["zh_yes.amr"].seconds * 1000
    assert stored_ms < padded_ms - 1500
    assert stored_ms > speech_ms - 1000  # sox's DTX tail is silence too; the words are kept
    assert "greet" not in library.gaps("bo")
    assert library.clip_path("greet", "bo") == stored


def test_save_recording_refuses_unknown_clips_and_bad_audio(tmp_path: Path) -> None:
    library = PromptLibrary(SCRIPTS, [tmp_path])
    with pytest.raises(ValueError, match="unknown clip"):
        library.save_recording("no_such_clip", "bo", b"x", "webm", tmp_path)
    with pytest.raises(AudioError):
        library.save_recording(
            "greet", "bo", MANIFEST["garbage.amr"].path.read_bytes(), "webm", tmp_path
        )
    silence = AudioSegment.silent(duration=1500, frame_rate=16_000)
    buffer = io.BytesIO()
    silence.export(buffer, format="wav")
    with pytest.raises(AudioError, match="silent"):
        library.save_recording("greet", "bo", buffer.getvalue(), "wav", tmp_path)
    assert not (tmp_path / "bo" / "greet.mp3").exists()
