"""The voice read-back state and what a voice message leads to, on a real database and NLU."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actions import voice
from actions.voice import READBACK_SLOT, PendingReadback, ReadbackAnswer
from bot.app import load_matrix, load_policies
from bot.dialogue.context import DialogueDeps, TurnContext, Vocabulary
from bot.dialogue.state import Conversation, FlowName, Lang
from bot.messages import InboundMessage, MessageKind
from bot.settings import Settings
from bot.voice.heard import HeardVoice
from governance.clock import ManualClock
from governance.db import autocommit_sessions
from governance.directory.service import get_or_create_resident
from governance.petitions.models import Petition, PetitionSource, VoiceRecording
from governance.petitions.sla import SlaPolicies
from governance.petitions.voice import NewRecording
from nlu.embedded import EmbeddedEngine
from voice.recognizer import Transcript

OPENID = "o-voice-actions"


@pytest.fixture
def deps(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    embedded_nlu: EmbeddedEngine,
    settings: Settings,
) -> DialogueDeps:
    return DialogueDeps(
        sessions=sessions,
        quick_sessions=autocommit_sessions(sessions),
        clock=clock,
        categoriser=embedded_nlu,
        sla_policies=SlaPolicies.load(settings.data_dir / "governance" / "sla.yml"),
        vocabulary=Vocabulary.load(settings.data_dir / "dialogue" / "vocabulary.yml"),
        prefecture="lhasa",
        public_base_url="https://minqing.test",
        intent_threshold=settings.nlu.confidence_threshold,
        category_threshold=settings.nlu.category_threshold,
        idle_timeout=timedelta(minutes=30),
        notify_outbox=lambda: None,
        matrix=load_matrix(settings),
        policies=load_policies(settings),
    )


async def _ctx(
    deps: DialogueDeps,
    nlu: EmbeddedEngine,
    conversation: Conversation,
    kind: MessageKind = MessageKind.TEXT,
    text: str = "",
) -> TurnContext:
    message = InboundMessage(
        user_id=OPENID,
        account_id="gh",
        dedup_key=f"m-{text}-{kind}",
        received_at=deps.clock.now(),
        kind=kind,
        text=text,
    )
    parsed = await nlu.parse(text) if text else None
    return TurnContext(message, parsed, conversation, deps)


def _heard(text: str = "", *, trusted: bool = False, **recording: Any) -> HeardVoice:
    transcript = Transcript(text, "zh", 0.97, -0.3, 0.01, "whisper") if text else None
    return HeardVoice(
        NewRecording(openid=OPENID, transcript=text, trusted=trusted, **recording),
        transcript,
        trusted,
    )


def _pending(deps: DialogueDeps, text: str = "我家门口的路灯坏了") -> Conversation:
    conversation = Conversation(OPENID)
    conversation.slots[READBACK_SLOT] = PendingReadback(text, 3, deps.clock.now()).to_record()
    return conversation


def test_a_pending_read_back_survives_the_conversation_store_and_rejects_garbage(
    clock: ManualClock,
) -> None:
    pending = PendingReadback("路灯坏了", 7, clock.now())
    assert PendingReadback.from_record(pending.to_record()) == pending
    for garbage in (None, {}, {"text": 3}, {"text": "x", "at": "yesterday"}, "text"):
        assert PendingReadback.from_record(garbage) is None


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("对", ReadbackAnswer.CONFIRMED),
        ("是的", ReadbackAnswer.CONFIRMED),
        ("1", ReadbackAnswer.CONFIRMED),
        ("ལགས་སོ", ReadbackAnswer.CONFIRMED),
        ("不对", ReadbackAnswer.DENIED),
        ("2", ReadbackAnswer.DENIED),
        ("མ་རེད", ReadbackAnswer.DENIED),
        ("我想问问高龄津贴", ReadbackAnswer.NONE),
    ],
)
async def test_a_typed_answer_confirms_denies_or_moves_on(
    deps: DialogueDeps, embedded_nlu: EmbeddedEngine, answer: str, expected: ReadbackAnswer
) -> None:
    conversation = _pending(deps)
    ctx = await _ctx(deps, embedded_nlu, conversation, text=answer)
    outcome, text = voice.answer_readback(ctx)
    assert outcome is expected
    assert text == ("我家门口的路灯坏了" if expected is ReadbackAnswer.CONFIRMED else "")
    assert READBACK_SLOT not in conversation.slots, "answered or not, the read-back is done"


async def test_without_a_pending_read_back_or_after_it_went_stale_nothing_is_confirmed(
    deps: DialogueDeps, embedded_nlu: EmbeddedEngine, clock: ManualClock
) -> None:
    ctx = await _ctx(deps, embedded_nlu, Conversation(OPENID), text="对")
    assert voice.answer_readback(ctx) == (ReadbackAnswer.NONE, "")
    conversation = _pending(deps)
    clock.advance(timedelta(minutes=31))
    ctx = await _ctx(deps, embedded_nlu, conversation, text="对")
    assert voice.answer_readback(ctx) == (ReadbackAnswer.NONE, "")
    photo = await _ctx(deps, embedded_nlu, _pending(deps), kind=MessageKind.IMAGE)
    assert voice.answer_readback(photo) == (ReadbackAnswer.NONE, "")
    assert READBACK_SLOT not in photo.conversation.slots


async def test_a_trusted_transcript_is_read_back_kept_pending_and_turns_elder_mode_on(
    deps: DialogueDeps, embedded_nlu: EmbeddedEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session, session.begin():
        await get_or_create_resident(session, OPENID, language="zh", now=deps.clock.now())
    conversation = Conversation(
        OPENID, flow=FlowName.PETITION_INTAKE, requested_slot="description"
    )
    ctx = await _ctx(deps, embedded_nlu, conversation, kind=MessageKind.VOICE)
    said = await _ctx(deps, embedded_nlu, conversation, text="门口的路灯坏了三天了")
    confirmed = await voice.on_voice(ctx, _heard("门口的路灯坏了三天了", trusted=True), said)
    assert confirmed is None
    assert [r.key for r in ctx.replies] == ["utter_voice_readback", "utter_elder_mode_on"]
    assert ctx.replies[0].params == {"text": "门口的路灯坏了三天了"}
    pending = voice.pending_readback(conversation)
    assert pending is not None
    assert pending.text == "门口的路灯坏了三天了"
    assert conversation.flow is FlowName.PETITION_INTAKE, "the flow waits for the answer"
    async with sessions() as session:
        recording = await session.get(VoiceRecording, pending.recording_id)
    assert recording is not None
    assert recording.petition_id is None
    # A second voice message replaces the first read-back; elder mode is already on.
    again = await _ctx(deps, embedded_nlu, conversation, kind=MessageKind.VOICE)
    other = await _ctx(deps, embedded_nlu, conversation, text="门口的下水道堵了")
    await voice.on_voice(again, _heard("门口的下水道堵了", trusted=True), other)
    assert [r.key for r in again.replies] == ["utter_voice_readback"]
    replaced = voice.pending_readback(conversation)
    assert replaced is not None
    assert replaced.text == "门口的下水道堵了"


async def test_a_spoken_yes_or_no_answers_the_pending_read_back(
    deps: DialogueDeps, embedded_nlu: EmbeddedEngine
) -> None:
    conversation = _pending(deps)
    ctx = await _ctx(deps, embedded_nlu, conversation, kind=MessageKind.VOICE)
    yes = await _ctx(deps, embedded_nlu, conversation, text="对")
    assert await voice.on_voice(ctx, _heard("对", trusted=True), yes) == "我家门口的路灯坏了"
    conversation = _pending(deps)
    ctx = await _ctx(deps, embedded_nlu, conversation, kind=MessageKind.VOICE)
    no = await _ctx(deps, embedded_nlu, conversation, text="不对")
    assert await voice.on_voice(ctx, _heard("不对", trusted=True), no) is None
    assert [r.key for r in ctx.replies] == ["utter_voice_readback_retry"]
    assert voice.pending_readback(conversation) is None


async def test_unclear_voice_during_intake_takes_the_draft_to_a_person(
    deps: DialogueDeps, embedded_nlu: EmbeddedEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    conversation = Conversation(OPENID, language=Lang.BO, flow=FlowName.PETITION_INTAKE)
    conversation.slots.update(
        {
            "source": "qr",
            "description": "门口电线掉下来了",
            "category": "power",
            "hazard": "fallen_wire",
            "location": {
                "community_id": "lhasa-gesanglinka",
                "grid_id": "G02",
                "grid_point_id": "GP-0201",
                "address": "",
            },
            "photos": [{"media_id": "p1", "url": None}],
        }
    )
    conversation.requested_slot = "phone"
    ctx = await _ctx(deps, embedded_nlu, conversation, kind=MessageKind.VOICE)
    heard = _heard(media_id="m-9", mp3_path="audio/x.mp3", duration_seconds=3.0)
    assert await voice.on_voice(ctx, heard, None) is None
    assert ctx.replies[0].key == "utter_voice_petition_created"
    assert conversation.flow is None, "a person takes over: the draft is not left half-done"
    async with sessions() as session:
        petition = await session.scalar(select(Petition).where(Petition.resident_openid == OPENID))
    assert petition is not None
    assert ctx.replies[0].params == {"ticket": petition.ticket_no}
    assert (petition.source, petition.category, petition.grid_id) == (
        PetitionSource.VOICE,
        "power",
        "G02",
    )
    assert petition.description == "门口电线掉下来了"
    assert petition.hazard == "fallen_wire"
    assert petition.language == "bo"
    assert len(petition.photos) == 1
    assert petition.awaiting_transcription is True
