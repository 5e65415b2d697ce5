"""Two messages from one resident at once are handled one after the other, never interleaved."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import build_pipeline
from bot.dialogue.locks import LocalUserLocks
from bot.messages import InboundMessage, MessageKind
from bot.settings import Settings
from governance.clock import ManualClock
from nlu.embedded import EmbeddedEngine
from nlu.parsed import ParsedMessage


class GatedNlu:
    """The real engine, but the first parse waits until the test lets it go."""

    def __init__(self, engine: EmbeddedEngine) -> None:
        self.engine = engine
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.calls = 0

    async def parse(self, text: str) -> ParsedMessage:
        self.calls += 1
        if self.calls == 1:
            self.started.set()
            await self.release.wait()
        return await self.engine.parse(text)


def _text(n: int, text: str, when: datetime) -> InboundMessage:
    return InboundMessage(
        user_id="o-double",
        account_id="gh",
        dedup_key=f"msg:{n}",
        received_at=when,
        kind=MessageKind.TEXT,
        text=text,
    )


async def test_a_second_message_waits_for_the_first_turn_to_finish(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    embedded_nlu: EmbeddedEngine,
    clock: ManualClock,
) -> None:
    nlu = GatedNlu(embedded_nlu)
    pipeline = build_pipeline(
        settings,
        sessions=sessions,
        clock=clock,
        nlu=nlu,
        categoriser=embedded_nlu,
        locks=LocalUserLocks(),
        notify_outbox=lambda: None,
    )
    first = asyncio.create_task(pipeline.handle(_text(1, "路灯坏了好几天了晚上很黑", clock.now())))
    await nlu.started.wait()
    second = asyncio.create_task(pipeline.handle(_text(2, "北京中路12号院", clock.now())))
    await asyncio.sleep(0.05)
    assert nlu.calls == 1, "the second turn must not start while the first holds the lock"
    nlu.release.set()
    first_result, second_result = await asyncio.gather(first, second)
    assert [r.key for r in first_result.replies] == ["utter_ask_location"]
    assert [r.key for r in second_result.replies] == ["utter_ask_phone"], (
        "the second message answered the first turn's question"
    )
