"""Voice in the console: listen to a voice petition, transcribe it, and record prompt clips.

The console runs with the real embedded NLU as categoriser, a media directory in tmp_path
holding real MP3 files (made with ffmpeg through pydub), and the real prompt scripts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import FormData, web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.settings import Settings
from bot.voice.speech import prompt_library
from bot.web.console import ConsoleDeps, add_console_routes
from governance.clock import ManualClock
from governance.console.demo import seed_demo_accounts
from governance.console.models import AuditEntry
from governance.petitions.models import PetitionStatus
from nlu.embedded import EmbeddedEngine
from tests.bot.web.console.conftest import (
    MATRIX,
    MP3_PATH,
    ClientFactory,
    Console,
    file_petition,
    file_voice,
    tone_wav,
)


@pytest.fixture
def voice_settings(settings: Settings, tmp_path: Path) -> Settings:
    settings.voice.media_dir = tmp_path / "media"
    return settings


@pytest.fixture
async def voice_console(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    voice_settings: Settings,
    embedded_nlu: EmbeddedEngine,
    aiohttp_client: ClientFactory,
) -> Console:
    async with sessions() as session, session.begin():
        await seed_demo_accounts(session, now=clock.now())
    woken: list[int] = []
    app = web.Application(client_max_size=voice_settings.wechat.max_body_bytes * 2)
    add_console_routes(
        app,
        ConsoleDeps(
            sessions=sessions,
            clock=clock,
            settings=voice_settings,
            matrix=MATRIX,
            notify_outbox=lambda: woken.append(1),
            categoriser=embedded_nlu,
        ),
    )
    return Console(await aiohttp_client(app), sessions, clock, woken)


async def voice_case(console: Console, settings: Settings, *, playable: bool = True) -> str:
    return await file_voice(
        console.sessions, console.clock.now(), settings.voice.media_dir, playable=playable
    )


async def audit_actions(console: Console) -> list[str]:
    async with console.sessions() as session:
        rows = await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))
        return list(rows.all())


async def test_staff_listen_to_a_voice_petition_in_their_scope_and_listening_is_audited(
    voice_console: Console, voice_settings: Settings
) -> None:
    console = voice_console
    ticket = await voice_case(console, voice_settings)
    await console.login("dolma")
    status, html = await console.get(f"/console/cases/{ticket}")
    assert status == 200
    audio_url = f"/console/cases/{ticket}/audio/1.mp3"
    assert f'<audio controls preload="none" src="{audio_url}">' in html
    assert f'action="/console/cases/{ticket}/transcribe"' in html
    assert "这条语音还没有人转写" in html
    async with console.client.get(audio_url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "audio/mpeg"
        body = await response.read()
    assert body == (voice_settings.voice.media_dir / MP3_PATH).read_bytes()
    assert "voice_listen" in await audit_actions(console)
    missing, _ = await console.get(f"/console/cases/{ticket}/audio/99.mp3")
    assert missing == 404


async def test_another_grids_worker_cannot_fetch_the_recording_by_url(
    voice_console: Console, voice_settings: Settings
) -> None:
    console = voice_console
    ticket = await voice_case(console, voice_settings)
    await console.login("dorje")  # grid G02; the case is in G01
    status, _ = await console.get(f"/console/cases/{ticket}/audio/1.mp3")
    assert status == 404
    assert "voice_listen" not in await audit_actions(console)


async def test_a_recording_that_could_not_be_downloaded_says_call_the_resident_back(
    voice_console: Console, voice_settings: Settings
) -> None:
    console = voice_console
    ticket = await voice_case(console, voice_settings, playable=False)
    await console.login("dolma")
    _, html = await console.get(f"/console/cases/{ticket}")
    assert "<audio" not in html
    assert "请按群众留下的电话回拨" in html


async def test_transcribing_classifies_dispatches_and_tells_the_resident(
    voice_console: Console, voice_settings: Settings
) -> None:
    console = voice_console
    ticket = await voice_case(console, voice_settings)
    await console.login("lhakpa")
    status, html = await console.post(
        f"/console/cases/{ticket}/transcribe",
        {"text": "楼下的路灯坏了好几天，晚上一片漆黑", "category": "auto"},
    )
    assert status == 200
    assert "转写已保存" in html
    petition = await console.petition(ticket)
    assert petition.description == "楼下的路灯坏了好几天，晚上一片漆黑"
    assert petition.awaiting_transcription is False
    assert petition.category == "streetlight"
    assert petition.status == PetitionStatus.DISPATCHED
    assert petition.assignee_staff_id is not None
    [push] = await console.outbox("push_voice_transcribed")
    assert push.recipient == "o-elder"
    assert push.payload["language"] == "bo"
    assert console.woken, "the outbox worker was woken to send the push"
    assert "case_transcribe" in await audit_actions(console)
    _, html = await console.get(f"/console/cases/{ticket}")
    assert "这条语音还没有人转写" not in html


async def test_a_chosen_category_wins_over_the_guess(
    voice_console: Console, voice_settings: Settings
) -> None:
    console = voice_console
    ticket = await voice_case(console, voice_settings)
    await console.login("dolma")
    await console.post(
        f"/console/cases/{ticket}/transcribe",
        {"text": "ཁང་པའི་འོག་གི་ལམ་སྒྲོན་ཞིག་ལ་སྐྱོན་ཤོར་འདུག", "category": "road"},
    )
    petition = await console.petition(ticket)
    assert petition.category == "road"
    assert petition.description.startswith("ཁང་པའི")


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"text": "   ", "category": "auto"}, "请先写下群众说的内容。"),
        ({"text": "路灯坏了", "category": "spaceship"}, "没有这个类别。"),
    ],
)
async def test_a_refused_transcription_keeps_the_typed_text_and_says_why(
    voice_console: Console, voice_settings: Settings, form: dict[str, str], message: str
) -> None:
    console = voice_console
    ticket = await voice_case(console, voice_settings)
    await console.login("dolma")
    status, html = await console.post(f"/console/cases/{ticket}/transcribe", form)
    assert status == 409
    assert message in html
    assert form["text"].strip() in html
    petition = await console.petition(ticket)
    assert petition.awaiting_transcription is True


async def test_a_typed_petition_is_not_transcribed(voice_console: Console) -> None:
    console = voice_console
    ticket = await file_petition(console.sessions, console.clock.now())
    await console.login("dolma")
    status, html = await console.post(
        f"/console/cases/{ticket}/transcribe", {"text": "路灯坏了", "category": "auto"}
    )
    assert status == 409
    assert "这不是语音诉求" in html
    _, page = await console.get(f"/console/cases/{ticket}")
    assert 'id="voice"' not in page


async def _upload(
    console: Console, clip: str, language: str, audio: bytes, filename: str, kind: str
) -> tuple[int, str, str]:
    token = await console.csrf()
    form = FormData()
    form.add_field("_csrf", token)
    form.add_field("audio", audio, filename=filename, content_type=kind)
    async with console.client.post(
        f"/console/prompts/{language}/{clip}", data=form, allow_redirects=False
    ) as response:
        location = response.headers.get("Location", "")
        status, html = response.status, await response.text()
    if location:
        _, html = await console.get(location)
    return status, location, html


async def test_the_prompt_page_lists_missing_tibetan_clips_and_a_recording_fills_one(
    voice_console: Console, voice_settings: Settings
) -> None:
    console = voice_console
    library = prompt_library(voice_settings.voice)
    assert library is not None
    gaps = library.gaps("bo")
    assert gaps, "no Tibetan clip is committed: every one is still to be recorded"
    clip = gaps[0]
    await console.login("lhakpa")
    status, html = await console.get("/console/prompts?lang=bo")
    assert status == 200
    assert f"缺 {len(gaps)} 段" in html
    assert library.script_text(clip, "bo") in html
    status, location, html = await _upload(
        console, clip, "bo", tone_wav(1.2), "greet.wav", "audio/wav"
    )
    assert status == 303
    assert f"saved={clip}" in location
    saved = voice_settings.voice.media_dir / "prompts" / "bo" / f"{clip}.mp3"
    assert saved.is_file()
    assert f"已保存录音 {clip}" in html
    assert f"缺 {len(gaps) - 1} 段" in html
    fresh = prompt_library(voice_settings.voice)
    assert fresh is not None
    assert fresh.clip_path(clip, "bo") == saved, "the bot's speech uses the recording at once"
    assert clip not in fresh.gaps("bo")
    async with console.client.get(f"/console/prompts/bo/{clip}/audio") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "audio/mpeg"
        assert await response.read() == saved.read_bytes()
    assert "prompt_clip_saved" in await audit_actions(console)


@pytest.mark.parametrize(
    ("audio", "filename", "kind", "error"),
    [
        (b"this is not audio at all", "note.webm", "audio/webm", "无法识别为音频"),
        (b"", "empty.wav", "audio/wav", "没有收到录音"),
    ],
)
async def test_a_bad_recording_is_refused_politely_and_nothing_is_stored(
    voice_console: Console,
    voice_settings: Settings,
    audio: bytes,
    filename: str,
    kind: str,
    error: str,
) -> None:
    console = voice_console
    await console.login("dolma")
    status, location, html = await _upload(console, "greet", "bo", audio, filename, kind)
    assert status == 303
    assert "error=" in location
    assert error in html
    assert not (voice_settings.voice.media_dir / "prompts" / "bo" / "greet.mp3").exists()


async def test_an_oversized_upload_gets_a_page_not_a_bare_error(voice_console: Console) -> None:
    console = voice_console
    await console.login("dolma")
    status, _, html = await _upload(
        console, "greet", "bo", b"\0" * (5 * 1024 * 1024), "long.wav", "audio/wav"
    )
    assert status == 413
    assert "文件太大" in html


async def test_a_clip_upload_without_the_csrf_token_is_refused(
    voice_console: Console, voice_settings: Settings
) -> None:
    console = voice_console
    await console.login("dolma")
    form = FormData()
    form.add_field("audio", tone_wav(1.0), filename="a.wav", content_type="audio/wav")
    async with console.client.post("/console/prompts/bo/greet", data=form) as response:
        assert response.status == 403
    assert not (voice_settings.voice.media_dir / "prompts" / "bo" / "greet.mp3").exists()


async def test_unknown_clips_and_languages_are_not_found(voice_console: Console) -> None:
    console = voice_console
    await console.login("dolma")
    for path in ("/console/prompts/bo/no_such_clip/audio", "/console/prompts/en/greet/audio"):
        status, _ = await console.get(path)
        assert status == 404, path
