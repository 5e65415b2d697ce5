"""Voice petitions: stored with ticket and clocks, linked to audio, carded, then transcribed."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from governance.clock import ManualClock
from governance.directory.service import get_or_create_resident
from governance.outbox.models import OutboxChannel
from governance.petitions.lifecycle import Refused, transition
from governance.petitions.models import (
    Petition,
    PetitionFollower,
    PetitionSource,
    PetitionStatus,
    VoiceRecording,
    VoiceRecordingProblem,
)
from governance.petitions.responsibility import ResponsibilityMatrix
from governance.petitions.service import PetitionDraft
from governance.petitions.voice import (
    NewRecording,
    Transcribed,
    VoicePetitionFiled,
    add_recording,
    awaiting_transcription,
    file_voice_petition,
    pending_voice_petition,
    recordings_of,
    resident_place,
    store_recording,
    transcribe_voice_petition,
)
from tests.governance.conftest import BASE_URL, POLICIES, events, file_petition, lhasa, outbox


async def _transcribe(
    session: AsyncSession,
    petition: Petition,
    text: str,
    category: str | None,
    now: datetime,
    matrix: ResponsibilityMatrix,
) -> Transcribed:
    return await transcribe_voice_petition(
        session,
        petition,
        text=text,
        category=category,
        actor="staff:S-0102",
        now=now,
        matrix=matrix,
    )


def _recording(openid: str, **fields: object) -> NewRecording:
    defaults: dict[str, object] = {
        "media_id": "m-1",
        "original_path": "audio/20261122/a.amr",
        "original_format": "amr",
        "mp3_path": "audio/20261122/a.mp3",
        "wav_path": "audio/20261122/a.wav",
        "duration_seconds": 6.9,
    }
    defaults.update(fields)
    return NewRecording(openid=openid, **defaults)  # type: ignore[arg-type]


async def _file(
    session: AsyncSession,
    now: datetime,
    *,
    openid: str = "o-elder",
    language: str = "bo",
    recording: NewRecording | None = None,
    grid_id: str | None = None,
) -> tuple[VoicePetitionFiled, VoiceRecording]:
    resident = await get_or_create_resident(session, openid, language=language, now=now)
    if grid_id:
        resident.grid_id = grid_id
    place = await resident_place(session, openid)
    row = store_recording(session, recording or _recording(openid), now=now)
    filed = await file_voice_petition(
        session,
        PetitionDraft(
            resident_openid=openid,
            language=language,
            category="other",
            description="",
            community_id=place.community_id,
            grid_id=place.grid_id,
            source=PetitionSource.VOICE,
        ),
        recording=row,
        place_known=place.known,
        now=now,
        calendar=await lhasa(session),
        policies=POLICIES,
        public_base_url=BASE_URL,
    )
    return filed, row


async def test_a_voice_petition_gets_a_ticket_clocks_its_audio_and_a_card_but_waits_for_a_person(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    async with sessions() as session, session.begin():
        filed, recording = await _file(session, clock.now(), grid_id="G02")
        petition = await session.get(Petition, filed.petition_id)
        assert petition is not None
        assert petition.ticket_no == "20261122-0001"
        assert petition.source == PetitionSource.VOICE
        assert petition.status == PetitionStatus.RECEIVED
        assert petition.awaiting_transcription is True
        assert petition.category == "other"
        assert petition.grid_id == "G02"
        assert petition.response_due_at > clock.now()
        assert petition.assignee_staff_id is None, "nobody is dispatched before someone listened"
        assert recording.petition_id == petition.id
        [card] = await outbox(session, "card_voice_petition")
        assert card.channel == OutboxChannel.HANDLER_GROUP
        assert card.recipient == "lhasa-gesanglinka"
        assert card.payload["params"]["recording_id"] == recording.id
        assert card.payload["params"]["place_status"] == "known"
        assert card.payload["params"]["duration"] == 7
        assert [e.kind for e in await events(session, petition.id)] == ["submitted"]
        assert await recordings_of(session, petition.id) == [recording]


async def test_without_a_known_grid_the_case_goes_to_the_first_grid_and_the_card_says_so(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    async with sessions() as session, session.begin():
        filed, _ = await _file(session, clock.now())
        petition = await session.get(Petition, filed.petition_id)
        assert petition is not None
        assert petition.grid_id == "G01"
        [card] = await outbox(session, "card_voice_petition")
        assert card.payload["params"]["place_status"] == "unknown"


async def test_audio_that_never_arrived_still_files_a_case_with_a_call_back_note(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    lost = NewRecording(
        openid="o-elder", media_id="gone", problem=VoiceRecordingProblem.DOWNLOAD_FAILED
    )
    async with sessions() as session, session.begin():
        filed, recording = await _file(session, clock.now(), recording=lost)
        [card] = await outbox(session, "card_voice_petition")
        assert card.payload["params"]["problem"] == "download_failed"
        assert "recording_id" not in card.payload["params"], "no audio link without audio"
        assert recording.mp3_path is None
        assert recording.petition_id == filed.petition_id


async def test_more_voice_joins_the_untranscribed_case_within_a_day_only(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    async with sessions() as session, session.begin():
        filed, _ = await _file(session, clock.now())
        later = clock.now() + timedelta(hours=2)
        pending = await pending_voice_petition(session, "o-elder", now=later)
        assert pending is not None
        assert pending.id == filed.petition_id
        second = store_recording(session, _recording("o-elder", media_id="m-2"), now=later)
        added = await add_recording(
            session, pending, recording=second, now=later, public_base_url=BASE_URL
        )
        assert added.added_to_existing is True
        assert second.petition_id == filed.petition_id
        [card] = await outbox(session, "card_voice_added")
        assert card.payload["params"]["recording_id"] == second.id
        assert [e.kind for e in await events(session, filed.petition_id)][-1] == "voice_added"
        assert len(await recordings_of(session, filed.petition_id)) == 2
        assert (
            await pending_voice_petition(session, "o-elder", now=later + timedelta(days=2)) is None
        )
        assert await pending_voice_petition(session, "o-someone-else", now=later) is None


async def test_transcribing_classifies_dispatches_and_tells_the_resident_in_their_language(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock, matrix: ResponsibilityMatrix
) -> None:
    async with sessions() as session, session.begin():
        filed, _ = await _file(session, clock.now(), grid_id="G01")
        petition = await session.get(Petition, filed.petition_id)
        assert petition is not None
        session.add(
            PetitionFollower(petition_id=petition.id, openid="o-neighbour", since=clock.now())
        )
        await get_or_create_resident(session, "o-neighbour", language="zh", now=clock.now())
        assert [p.id for p in await awaiting_transcription(session)] == [petition.id]
        result = await transcribe_voice_petition(
            session,
            petition,
            text="  楼下的下水道堵了，\n污水流到路上 ",
            category="water",
            actor="staff:S-0102",
            now=clock.now(),
            matrix=matrix,
            public_base_url=BASE_URL,
        )
        assert result.dispatched is True
        assert (result.old_category, result.category) == ("other", "water")
        assert petition.description == "楼下的下水道堵了， 污水流到路上"
        assert petition.status == PetitionStatus.DISPATCHED
        assert petition.external_unit == "water_company", "dispatched by the matrix for water"
        assert petition.awaiting_transcription is False
        assert await awaiting_transcription(session) == []
        kinds = [e.kind for e in await events(session, petition.id)]
        assert kinds == ["submitted", "transcribed", "transition"]
        transcribed = (await events(session, petition.id))[1]
        assert transcribed.actor == "staff:S-0102"
        assert transcribed.detail["to_category"] == "water"
        pushes = await outbox(session, "push_voice_transcribed")
        assert {(row.recipient, row.payload["language"]) for row in pushes} == {
            ("o-elder", "bo"),
            ("o-neighbour", "zh"),
        }
        assert set(result.notified) == {"o-elder", "o-neighbour"}
        order = [row.payload["key"] for row in await outbox(session) if row.recipient == "o-elder"]
        assert order == ["push_voice_transcribed", "push_status_dispatched"]


async def test_a_correction_of_a_dispatched_case_redispatches_only_when_the_category_changes(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock, matrix: ResponsibilityMatrix
) -> None:
    async with sessions() as session, session.begin():
        filed, _ = await _file(session, clock.now(), grid_id="G01")
        petition = await session.get(Petition, filed.petition_id)
        assert petition is not None
        now = clock.now()
        await _transcribe(session, petition, "路灯坏了", "streetlight", now, matrix)
        same = await _transcribe(session, petition, "门口路灯坏了三天", "streetlight", now, matrix)
        assert same.dispatched is False
        assert petition.description == "门口路灯坏了三天"
        changed = await _transcribe(session, petition, "门口电线掉下来了", "power", now, matrix)
        assert changed.dispatched is True
        assert petition.category == "power"
        assert petition.external_unit == "power_company"
        kinds = [e.kind for e in await events(session, petition.id)]
        assert kinds.count("transcribed") == 3
        assert "category_changed" in kinds


async def test_an_unsure_categoriser_keeps_the_category_and_a_closed_case_is_not_redispatched(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock, matrix: ResponsibilityMatrix
) -> None:
    async with sessions() as session, session.begin():
        filed, _ = await _file(session, clock.now(), grid_id="G01")
        petition = await session.get(Petition, filed.petition_id)
        assert petition is not None
        now = clock.now()
        first = await _transcribe(session, petition, "老人想问点事", None, now, matrix)
        assert (first.category, first.dispatched) == ("other", True)
        await transition(session, petition, PetitionStatus.RESOLVED, actor="staff:S-0102", now=now)
        late = await _transcribe(session, petition, "门口电线掉下来了", "power", now, matrix)
        assert late.dispatched is False
        assert petition.category == "other"
        assert petition.status == PetitionStatus.RESOLVED
        assert petition.description == "门口电线掉下来了"


@pytest.mark.parametrize(
    ("text", "code"), [("   ", "transcript_empty"), ("路灯坏了", "not_a_voice_petition")]
)
async def test_refusals(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    matrix: ResponsibilityMatrix,
    text: str,
    code: str,
) -> None:
    async with sessions() as session, session.begin():
        typed = await file_petition(session, now=clock.now())
        filed, _ = await _file(session, clock.now())
        voice = await session.get(Petition, filed.petition_id)
        assert voice is not None
        target = voice if code == "transcript_empty" else typed
        with pytest.raises(Refused) as refused:
            await _transcribe(session, target, text, None, clock.now(), matrix)
        assert refused.value.code == code


async def test_a_cancelled_voice_petition_cannot_be_transcribed(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock, matrix: ResponsibilityMatrix
) -> None:
    async with sessions() as session, session.begin():
        filed, _ = await _file(session, clock.now())
        petition = await session.get(Petition, filed.petition_id)
        assert petition is not None
        now = clock.now()
        await transition(session, petition, PetitionStatus.CANCELLED, actor="staff:S-C01", now=now)
        with pytest.raises(Refused) as refused:
            await _transcribe(session, petition, "路灯坏了", "streetlight", now, matrix)
        assert refused.value.code == "case_finished"
