"""Voice end to end: the simulator delivers a resident's voice message as WeChat does (AMR by
media id), the gateway answers `success` at once, and replies, cards, audio links and elder-mode
voice replies arrive through the platform APIs. Real ffmpeg, real Whisper, real SQLite."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydub import AudioSegment  # type: ignore[import-untyped]
from sqlalchemy import select

from bot.settings import PROJECT_ROOT, Settings
from bot.voice.speech import PLACEHOLDER_CLIPS_DIR, SpokenReplies, prompt_library
from governance.directory.models import Resident
from governance.outbox.models import OutboxMessage
from governance.petitions.models import Petition, PetitionSource, PetitionStatus, VoiceRecording
from tests.bot.conftest import Stack, StackFactory
from voice.prompts import generate_placeholder_clips

FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "voice"
DURATION_TOLERANCE = 0.05


@pytest.fixture(scope="module")
def zh_clips() -> None:
    """The Chinese placeholder clips `minqing voice prepare` makes (idempotent, cached)."""
    library = prompt_library(Settings(_env_file=None).voice)  # type: ignore[call-arg]
    assert library is not None
    generate_placeholder_clips(library, PLACEHOLDER_CLIPS_DIR, "zh")


@pytest.fixture
def voice_settings(settings: Settings, tmp_path: Path, zh_clips: None) -> Settings:
    settings.voice.media_dir = tmp_path / "media"
    return settings


async def _send_voice(stack: Stack, openid: str, fixture: str) -> dict[str, Any]:
    """Upload a fixture as the resident's voice message (multipart, as the simulator page does)."""
    await stack.sim("POST", "/sim/api/residents", openid=openid)
    form = aiohttp.FormData()
    form.add_field("type", "voice")
    form.add_field("file", (FIXTURES / fixture).read_bytes(), filename=fixture)
    url = f"{stack.simulator_url}/sim/api/residents/{openid}/messages"
    async with stack.http.post(url, data=form) as response:
        assert response.status == 200, await response.text()
        report: dict[str, Any] = await response.json()
    return report


async def _inbox(stack: Stack, openid: str, **match: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = await stack.sim("GET", f"/sim/api/residents/{openid}/inbox")
    return [e for e in entries if all(e.get(k) == v for k, v in match.items())]


async def _wait_inbox(
    stack: Stack, openid: str, containing: str = "", *, count: int = 1, **match: str
) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]] | None:
        found = [e for e in await _inbox(stack, openid, **match) if containing in str(e)]
        return found if len(found) >= count else None

    found: list[dict[str, Any]] = await stack.wait_for(probe, within=60)
    return found


async def _group_cards(stack: Stack, key_text: str) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]] | None:
        cards = []
        for group in await stack.sim("GET", "/sim/api/wecom/groups"):
            messages = await stack.sim("GET", f"/sim/api/wecom/groups/{group['chatid']}/messages")
            cards += [m for m in messages if key_text in str(m)]
        return cards or None

    found: list[dict[str, Any]] = await stack.wait_for(probe, within=30)
    return found


async def _petition(stack: Stack, openid: str) -> Petition:
    async with stack.sessions() as session:
        petition = await session.scalar(
            select(Petition).where(Petition.resident_openid == openid).order_by(Petition.id.desc())
        )
    assert petition is not None
    return petition


async def _recording(stack: Stack, openid: str) -> VoiceRecording:
    async with stack.sessions() as session:
        recording = await session.scalar(
            select(VoiceRecording)
            .where(VoiceRecording.openid == openid)
            .order_by(VoiceRecording.id.desc())
        )
    assert recording is not None
    return recording


async def _media_seconds(stack: Stack, media_id: str) -> float:
    async with stack.http.get(f"{stack.simulator_url}/sim/media/{media_id}") as response:
        assert response.status == 200
        data = await response.read()
    return len(AudioSegment.from_file(io.BytesIO(data))) / 1000


async def test_mandarin_voice_is_read_back_and_after_yes_filed_from_the_transcript(
    make_stack: StackFactory, voice_settings: Settings
) -> None:
    stack = await make_stack()
    openid = "o-voice-zh"
    await stack.sim("POST", "/sim/api/residents", openid=openid)
    await stack.sim("POST", f"/sim/api/residents/{openid}/scan", scene="report:GP-0101")
    report = await _send_voice(stack, openid, "zh_power.amr")
    assert report["passive_reply"] is None, "voice turns answer `success`, never passively"
    assert [attempt["status"] for attempt in report["attempts"]] == [200], "no WeChat retry"
    [readback] = await _wait_inbox(stack, openid, "您说的是", channel="custom", msgtype="text")
    recording = await _recording(stack, openid)
    assert recording.transcript in readback["content"]
    assert recording.trusted is True
    assert recording.engine == "whisper"
    assert recording.mp3_path is not None
    assert (voice_settings.voice.media_dir / recording.mp3_path).is_file()
    original = voice_settings.voice.media_dir / str(recording.original_path)
    sent = (FIXTURES / "zh_power.amr").read_bytes()
    assert original.read_bytes() == sent, "the original is kept as WeChat sent it"
    assert "类" in await stack.say(openid, "对"), "the transcript went on as typed: which kind?"
    await stack.say(openid, "1")
    await stack.say(openid, "跳过")
    assert "工单号" in await stack.say(openid, "1")
    petition = await _petition(stack, openid)
    assert petition.description == recording.transcript
    assert petition.category == "power"
    assert petition.status == PetitionStatus.DISPATCHED


async def test_noise_becomes_a_voice_petition_whose_card_links_to_playable_audio(
    make_stack: StackFactory, voice_settings: Settings
) -> None:
    stack = await make_stack()
    openid = "o-voice-noise"
    report = await _send_voice(stack, openid, "noise.amr")
    assert report["passive_reply"] is None
    [text] = await _wait_inbox(stack, openid, "工单号", channel="custom")
    petition = await _petition(stack, openid)
    assert petition.source == PetitionSource.VOICE
    assert petition.awaiting_transcription is True
    assert petition.ticket_no in text["content"]
    assert "回电话" in text["content"], "the language is not known yet: both languages"
    assert "ཁ་པར" in text["content"]
    [card] = await _group_cards(stack, f"语音留言 {petition.ticket_no}")
    url = card["url"]
    assert "/a/" in url
    async with stack.http.get(
        url.replace(voice_settings.public_base_url, stack.gateway_url)
    ) as audio:
        assert audio.status == 200
        assert audio.headers["Content-Type"] == "audio/mpeg"
        mp3 = await audio.read()
    seconds = len(AudioSegment.from_file(io.BytesIO(mp3), format="mp3")) / 1000
    assert abs(seconds - 4.0) < 0.3, "the noise fixture lasts 4 s"
    forged = url.rsplit("/a/", 1)[0] + "/a/forged"
    async with stack.http.get(
        forged.replace(voice_settings.public_base_url, stack.gateway_url)
    ) as page:
        assert page.status == 404
        assert "录音链接已失效" in await page.text()


async def test_a_tibetan_residents_voice_is_not_recognised_and_reaches_a_person(
    make_stack: StackFactory, voice_settings: Settings
) -> None:
    stack = await make_stack()
    openid = "o-voice-bo"
    await stack.sim("POST", "/sim/api/residents", openid=openid)
    assert "བོད་ཡིག" in await stack.say(openid, "བོད་ཡིག")
    await _send_voice(stack, openid, "zh_streetlight.amr")
    [text] = await _wait_inbox(stack, openid, "ལས་ཀའི་ཨང་གྲངས", channel="custom")
    assert "工单" not in text["content"], "answered in Tibetan only"
    recording = await _recording(stack, openid)
    assert (recording.engine, recording.transcript, recording.trusted) == ("none", "", False)
    assert recording.mp3_path is not None
    petition = await _petition(stack, openid)
    assert petition.language == "bo"
    await _group_cards(stack, f"语音留言 {petition.ticket_no}")
    async with stack.sessions() as session:
        voice_rows = [
            row
            for row in (await session.scalars(select(OutboxMessage))).all()
            if row.recipient == openid and "voice" in row.payload
        ]
    assert voice_rows == [], "no Tibetan clips recorded yet: the elder gets text only"
    assert await _inbox(stack, openid, msgtype="voice") == []
    gaps = SpokenReplies(prompt_library(voice_settings.voice)).gaps()
    assert "voice_petition_registered" in gaps["bo"], "the console can list what to record"
    assert "voice_petition_registered" not in gaps["zh"]


async def test_an_amr_with_bad_frames_still_converts(
    make_stack: StackFactory, voice_settings: Settings
) -> None:
    stack = await make_stack()
    openid = "o-voice-badframes"
    await _send_voice(stack, openid, "zh_streetlight_badframes.amr")
    await _wait_inbox(stack, openid, channel="custom", msgtype="text")
    recording = await _recording(stack, openid)
    assert recording.problem is None
    assert recording.mp3_path is not None
    assert recording.duration_seconds is not None
    assert recording.duration_seconds > 6.0


async def test_when_the_audio_cannot_be_downloaded_the_message_still_becomes_a_case(
    make_stack: StackFactory, voice_settings: Settings
) -> None:
    stack = await make_stack()
    openid = "o-voice-lost"
    await stack.sim("POST", "/sim/api/residents", openid=openid)
    form = aiohttp.FormData()
    form.add_field("file", (FIXTURES / "zh_power.amr").read_bytes(), filename="zh_power.amr")
    async with stack.http.post(
        f"{stack.simulator_url}/sim/api/residents/{openid}/media", data=form
    ) as response:
        media_id = (await response.json())["media_id"]
    await stack.sim("POST", "/sim/api/faults", wechat_api="error_500", times={"wechat_api": 3})
    await stack.sim(
        "POST", f"/sim/api/residents/{openid}/messages", type="voice", media_id=media_id
    )
    await _wait_inbox(stack, openid, "工单号", channel="custom")
    recording = await _recording(stack, openid)
    assert recording.problem == "download_failed"
    assert recording.mp3_path is None
    petition = await _petition(stack, openid)
    assert petition.source == PetitionSource.VOICE
    [card] = await _group_cards(stack, f"语音留言 {petition.ticket_no}")
    assert "没能下载" in str(card), "the card tells staff to call the resident back"


async def test_staff_transcribe_redispatches_and_the_resident_is_told(
    make_stack: StackFactory, voice_settings: Settings
) -> None:
    stack = await make_stack()
    openid = "o-voice-transcribe"
    await _send_voice(stack, openid, "noise.amr")
    await _wait_inbox(stack, openid, "工单号", channel="custom")
    petition = await _petition(stack, openid)
    number = petition.ticket_no.rsplit("-", 1)[1]
    result = await stack.sim(
        "POST",
        "/sim/api/wecom/users/dolma/messages",
        content=f"转写 {number} 楼下的下水道堵了 污水流到路上",
    )
    assert "派单" in str(result["passive_reply"]), result
    transcribed = await _petition(stack, openid)
    assert transcribed.category == "water"
    assert transcribed.status == PetitionStatus.DISPATCHED
    assert transcribed.awaiting_transcription is False
    [told] = await _wait_inbox(stack, openid, "已经听过了", channel="custom")
    assert "下水道堵了" in told["content"]


async def test_elder_mode_by_words_speaks_replies_with_the_assembled_duration(
    make_stack: StackFactory, voice_settings: Settings
) -> None:
    stack = await make_stack()
    openid = "o-voice-elder"
    await stack.sim("POST", "/sim/api/residents", openid=openid)
    await stack.say(openid, "你好")
    on = await stack.say(openid, "请用语音回复我")
    assert "语音回复您" in on
    [voice] = await _wait_inbox(stack, openid, channel="custom", msgtype="voice")
    library = prompt_library(voice_settings.voice)
    assert library is not None
    expected = library.speak("utter_elder_mode_on", {}, "zh")
    assert expected is not None
    delivered = await _media_seconds(stack, voice["media_id"])
    assert abs(delivered - expected.duration_seconds) <= DURATION_TOLERANCE
    async with stack.sessions() as session:
        resident = await session.get(Resident, openid)
        assert resident is not None
        assert resident.elder_mode is True
    off = await stack.say(openid, "文字回复")
    assert "只用文字" in off
    await _wait_inbox(stack, openid, channel="custom", msgtype="voice", count=2)
    await stack.say(openid, "你好")
    await asyncio.sleep(1.0)  # let a (wrongly) spawned voice row reach the outbox
    async with stack.sessions() as session:
        rows = (await session.scalars(select(OutboxMessage))).all()
    spoken = [row.payload["voice"]["key"] for row in rows if "voice" in row.payload]
    assert spoken == ["utter_elder_mode_on", "utter_elder_mode_off"], "nothing after off"


async def test_an_elders_status_push_is_spoken_too(
    make_stack: StackFactory, voice_settings: Settings
) -> None:
    stack = await make_stack()
    openid = "o-voice-push"
    await stack.sim("POST", "/sim/api/residents", openid=openid)
    await stack.sim("POST", f"/sim/api/residents/{openid}/scan", scene="report:GP-0101")
    await stack.say(openid, "院门口的路灯坏了好几天晚上很黑")
    await stack.say(openid, "跳过")
    await stack.say(openid, "1")
    await stack.say(openid, "老人模式")
    await _wait_inbox(stack, openid, channel="custom", msgtype="voice")  # "I will speak too"
    petition = await _petition(stack, openid)
    number = petition.ticket_no.rsplit("-", 1)[1]
    await stack.sim("POST", "/sim/api/wecom/users/dolma/messages", content=f"办结 {number} 已修好")
    [followup] = await _wait_inbox(stack, openid, "满意", channel="custom", msgtype="text")
    voices = await _wait_inbox(stack, openid, channel="custom", msgtype="voice", count=2)
    assert voices[-1]["seq"] > followup["seq"], "the spoken follow-up comes after its text"
