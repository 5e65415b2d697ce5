"""`转写 0007 <text>` / `ཡིག་འབེབས 0007 <text>`: parsed like the other staff commands, refused
for strangers and for typed cases, and classified by the NLU (Tibetan text too)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actions import staff_commands
from actions.staff_command_parser import ParseError, StaffCommand, StaffCommandParser
from actions.staff_commands import StaffDeps
from bot.app import load_matrix
from bot.messages import InboundMessage, MessageKind
from bot.settings import PROJECT_ROOT, Settings
from governance.clock import ManualClock
from governance.directory.service import get_or_create_resident
from governance.petitions.models import Petition, PetitionSource
from governance.petitions.service import PetitionDraft
from governance.petitions.voice import NewRecording, file_voice_petition, store_recording
from nlu.embedded import EmbeddedEngine
from tests.governance.conftest import BASE_URL, POLICIES, file_petition, lhasa

PARSER = StaffCommandParser.load(PROJECT_ROOT / "data" / "dialogue" / "staff_commands.yml")


@pytest.mark.parametrize(
    "text",
    ["转写 0007 楼下的下水道堵了", "转写0007 楼下的下水道堵了", "ཡིག་འབེབས 0007 楼下的下水道堵了"],
)
def test_the_command_names_a_ticket_and_carries_the_text(text: str) -> None:
    assert PARSER.parse(text) == StaffCommand("transcribe", None, 7, "楼下的下水道堵了", None)


def test_a_transcription_without_text_gets_the_usage_hint() -> None:
    assert PARSER.parse("转写 0007") == ParseError("staff_usage_text", "transcribe")


async def _voice_petition(session: AsyncSession, now: datetime) -> Petition:
    recording = store_recording(session, NewRecording(openid="o-tenzin"), now=now)
    filed = await file_voice_petition(
        session,
        PetitionDraft(
            resident_openid="o-tenzin",
            language="bo",
            category="other",
            description="",
            community_id="lhasa-gesanglinka",
            grid_id="G01",
            source=PetitionSource.VOICE,
        ),
        recording=recording,
        place_known=True,
        now=now,
        calendar=await lhasa(session),
        policies=POLICIES,
        public_base_url=BASE_URL,
    )
    petition = await session.get(Petition, filed.petition_id)
    assert petition is not None
    return petition


def _from(user: str, text: str) -> InboundMessage:
    return InboundMessage(
        user_id=user,
        account_id="corp",
        dedup_key=f"{user}:{text}",
        received_at=datetime(2026, 11, 22, 3, 0, tzinfo=UTC),
        kind=MessageKind.TEXT,
        text=text,
    )


async def test_permissions_and_refusals_follow_the_other_commands(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    settings: Settings,
    embedded_nlu: EmbeddedEngine,
) -> None:
    async with sessions() as session, session.begin():
        await get_or_create_resident(session, "o-tenzin", language="bo", now=clock.now())
        voice = await _voice_petition(session, clock.now())
        typed = await file_petition(session, now=clock.now())
    deps = StaffDeps(
        sessions=sessions,
        clock=clock,
        parser=PARSER,
        prefecture="lhasa",
        public_base_url=BASE_URL,
        matrix=load_matrix(settings),
        categoriser=embedded_nlu,
        category_threshold=settings.nlu.category_threshold,
    )
    voice_no, typed_no = voice.ticket_no, typed.ticket_no
    [stranger] = await staff_commands.handle(deps, _from("nobody", f"转写 {voice_no} 路灯坏了"))
    assert stranger.key == "staff_not_registered"
    [refused] = await staff_commands.handle(deps, _from("dolma", f"转写 {typed_no} 路灯坏了"))
    assert (refused.key, refused.params["code"]) == ("staff_refused", "not_a_voice_petition")
    [done] = await staff_commands.handle(
        deps, _from("dolma", f"ཡིག་འབེབས {voice_no} སྒོ་ཁའི་ལམ་སྒྲོན་ཉམས་འདུག")
    )
    assert done.key == "staff_ok_transcribe_dispatched"
    assert done.params["category"] == "streetlight"
    assert done.params["notified"] == 1
