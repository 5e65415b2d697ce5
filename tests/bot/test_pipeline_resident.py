"""The per-message bookkeeping: first contact creates the resident, the 48 h window moves on at
most once a minute, and an ordinary turn costs one statement (resident and conversation read
together)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import build_pipeline
from bot.dialogue.locks import LocalUserLocks
from bot.dialogue.models import ConversationRecord
from bot.messages import EventKind, InboundMessage, MessageKind
from bot.pipeline import TOUCH_EVERY, Pipeline
from bot.settings import Settings
from governance.clock import ManualClock
from governance.directory.models import Resident
from nlu.embedded import EmbeddedEngine
from tests.conftest import recorded_statements

OPENID = "o-touch"


@pytest.fixture
def pipeline(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    embedded_nlu: EmbeddedEngine,
) -> Pipeline:
    return build_pipeline(
        settings,
        sessions=sessions,
        clock=clock,
        nlu=embedded_nlu,
        categoriser=embedded_nlu,
        locks=LocalUserLocks(),
        notify_outbox=lambda: None,
    )


def _subscribe(clock: ManualClock) -> InboundMessage:
    return InboundMessage(
        user_id=OPENID,
        account_id="gh",
        dedup_key=f"event:subscribe:{clock.now().timestamp()}",
        received_at=clock.now(),
        kind=MessageKind.EVENT,
        event=EventKind.SUBSCRIBE,
    )


def _text(clock: ManualClock, text: str) -> InboundMessage:
    now = clock.now()
    return InboundMessage(
        user_id=OPENID,
        account_id="gh",
        dedup_key=f"msg:{now.timestamp()}",
        received_at=now,
        kind=MessageKind.TEXT,
        text=text,
    )


async def _set_resident(sessions: async_sessionmaker[AsyncSession], **values: Any) -> None:
    async with sessions() as session, session.begin():
        await session.execute(update(Resident).where(Resident.openid == OPENID).values(values))


async def _resident(sessions: async_sessionmaker[AsyncSession]) -> Resident:
    async with sessions() as session:
        resident = await session.get(Resident, OPENID)
    assert resident is not None
    return resident


async def test_first_contact_creates_the_resident_with_the_window_open(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    result = await pipeline.handle(_text(clock, "你好"))
    resident = await _resident(sessions)
    assert resident.last_message_at == clock.now()
    assert resident.subscribed is True
    assert result.bilingual is False  # written in Chinese: answered in Chinese only


async def test_a_first_message_in_tibetan_is_stored_as_the_chosen_language_with_the_new_row(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    with recorded_statements(sessions) as seen:
        result = await pipeline.handle(_text(clock, "བཀྲ་ཤིས་བདེ་ལེགས།"))
    assert result.language.value == "bo"
    assert result.bilingual is False
    resident = await _resident(sessions)
    assert (resident.language, resident.profile.get("language_chosen")) == ("bo", True)
    assert [s for s in seen if not s.startswith("PRAGMA")] == [
        "SELECT directory_resident.language, directory_resident.profile,",
        "INSERT INTO directory_resident",
        "INSERT INTO dialogue_conversation",  # the conversation's language: Tibetan
    ]


async def test_a_first_contact_without_text_leaves_the_language_open(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    result = await pipeline.handle(_subscribe(clock))
    assert result.bilingual is True  # nothing written yet: welcomed in both languages
    resident = await _resident(sessions)
    assert not resident.profile.get("language_chosen")
    assert resident.last_message_at is None  # an event opens no customer-service window


async def test_the_window_moves_on_at_most_once_a_minute(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    await pipeline.handle(_text(clock, "你好"))
    first = clock.now()
    clock.advance(TOUCH_EVERY - timedelta(seconds=1))
    await pipeline.handle(_text(clock, "谢谢"))
    assert (await _resident(sessions)).last_message_at == first
    clock.advance(timedelta(seconds=1))
    await pipeline.handle(_text(clock, "谢谢"))
    assert (await _resident(sessions)).last_message_at == clock.now()


async def test_an_event_resubscribes_without_opening_the_window(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    await pipeline.handle(_text(clock, "你好"))
    await _set_resident(
        sessions, subscribed=False, last_message_at=clock.now() - timedelta(days=3)
    )
    clock.advance(timedelta(minutes=5))
    await pipeline.handle(_subscribe(clock))
    resident = await _resident(sessions)
    assert resident.subscribed is True
    assert resident.last_message_at == clock.now() - timedelta(days=3, minutes=5)


async def test_an_ordinary_turn_is_one_statement_without_a_transaction(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    await pipeline.handle(_text(clock, "你好"))
    clock.advance(timedelta(seconds=10))
    with recorded_statements(sessions) as seen:
        result = await pipeline.handle(_text(clock, "谢谢"))
    assert [r.key for r in result.replies] == ["utter_you_are_welcome"]
    # The resident and the conversation in one read; no flow open before or after, nothing
    # changed: the conversation is not written.
    assert [s for s in seen if not s.startswith("PRAGMA")] == [
        "SELECT directory_resident.language, directory_resident.profile,",
    ]


async def test_a_turn_that_changes_the_conversation_writes_it(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    await pipeline.handle(_text(clock, "你好"))
    for text in ("路灯坏了", "བཀྲ་ཤིས་བདེ་ལེགས།"):  # a flow opens; the language changes
        clock.advance(timedelta(seconds=10))
        with recorded_statements(sessions) as seen:
            await pipeline.handle(_text(clock, text))
        assert "INSERT INTO dialogue_conversation" in seen
        async with sessions() as session:
            record = await session.get(ConversationRecord, OPENID)
        assert record is not None
        assert record.updated_at == clock.now()


@pytest.mark.parametrize(
    "question", ["高龄津贴怎么申请", "我的诉求办得怎么样了", "我们网格的网格员是谁"]
)
async def test_a_question_reads_without_a_transaction(
    pipeline: Pipeline,
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    question: str,
) -> None:
    await pipeline.handle(_text(clock, "你好"))
    with recorded_statements(sessions) as seen:
        result = await pipeline.handle(_text(clock, question))
    assert result.replies
    assert [s for s in seen if s.startswith("(tx)")] == []
    assert len([s for s in seen if not s.startswith("PRAGMA")]) >= 2


async def test_a_booking_prefills_from_the_turns_own_read_of_the_resident(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    await pipeline.handle(_text(clock, "你好"))
    await _set_resident(
        sessions,
        phone="13812345678",
        profile={"language_chosen": True, "address": "北京中路12号院3单元2楼"},
    )
    replies: list[str] = []
    with recorded_statements(sessions) as seen:
        for text in ("我想给我妈预约明天上午的助餐送餐上门", "2", "卓嘎"):
            clock.advance(timedelta(seconds=10))
            replies += [r.key for r in (await pipeline.handle(_text(clock, text))).replies]
    # Address and phone came from the resident's row: the summary follows the elder's name.
    assert replies == ["utter_ask_for_whom", "utter_ask_elder_name", "utter_booking_summary"]
    # Each of the three turns read the resident once, with its conversation, and no more.
    assert [s for s in seen if s.startswith("SELECT directory_resident")] == [
        "SELECT directory_resident.language, directory_resident.profile,"
    ] * 3


async def test_a_petition_remembers_the_residents_grid_and_phone_without_reading_the_row(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    scan = InboundMessage(
        user_id=OPENID,
        account_id="gh",
        dedup_key="event:scan:1",
        received_at=clock.now(),
        kind=MessageKind.EVENT,
        event=EventKind.SCAN,
        event_key="report:GP-0102",
    )
    await pipeline.handle(scan)
    for text in ("社区服务中心门口的路灯不亮了", "13800000000"):
        clock.advance(timedelta(seconds=10))
        await pipeline.handle(_text(clock, text))
    clock.advance(timedelta(seconds=10))
    with recorded_statements(sessions) as seen:
        result = await pipeline.handle(_text(clock, "1"))
    assert [r.key for r in result.replies] == ["utter_petition_received"]
    resident = await _resident(sessions)
    assert (resident.grid_id, resident.phone) == ("G01", "13800000000")
    # Stored with one UPDATE inside the intake. The one read of residents there is the dispatch
    # notice's (the followers' languages); the resident was not read to be updated.
    assert [s for s in seen if s.startswith("(tx) SELECT directory_resident")] == [
        "(tx) SELECT directory_resident.openid, directory_resident.language,"
    ]
    assert "(tx) UPDATE directory_resident SET" in seen
