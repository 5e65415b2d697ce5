"""Memory and SQL conversation stores keep the same state (the SQL one across restarts)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.dialogue.state import Conversation, FlowName, Lang
from bot.dialogue.store import ConversationStore, MemoryConversationStore, SqlConversationStore
from governance.clock import ManualClock


@pytest.fixture(params=["memory", "sql"])
def store(
    request: pytest.FixtureRequest,
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
) -> ConversationStore:
    if request.param == "memory":
        return MemoryConversationStore(clock)
    return SqlConversationStore(sessions, clock)


async def test_a_new_resident_starts_empty_in_the_default_language(
    store: ConversationStore,
) -> None:
    conversation = await store.load("o-new", Lang.BO)
    assert (conversation.language, conversation.flow, conversation.slots) == (Lang.BO, None, {})


async def test_state_round_trips_and_is_stamped(
    store: ConversationStore, clock: ManualClock
) -> None:
    conversation = Conversation(
        user_id="o-1",
        language=Lang.BO,
        flow=FlowName.PETITION_INTAKE,
        requested_slot="phone",
        slots={"description": "ལམ་སྒྲོན་ཉམས་འདུག", "photos": [{"media_id": "m1", "url": None}]},
    )
    await store.save(conversation)
    loaded = await store.load("o-1", Lang.ZH)
    assert loaded.language is Lang.BO
    assert loaded.flow is FlowName.PETITION_INTAKE
    assert loaded.requested_slot == "phone"
    assert loaded.slots == conversation.slots
    assert loaded.updated_at == clock.now()


async def test_changes_to_a_loaded_copy_are_not_saved_until_save(store: ConversationStore) -> None:
    await store.save(Conversation(user_id="o-2", slots={"a": 1}))
    copy = await store.load("o-2", Lang.ZH)
    copy.slots["a"] = 2
    assert (await store.load("o-2", Lang.ZH)).slots == {"a": 1}


def test_an_unknown_flow_name_in_storage_is_dropped_not_crashed() -> None:
    conversation = Conversation.from_record("o-3", {"flow": "retired_flow", "slots": {}}, None)
    assert conversation.flow is None


async def test_an_idle_conversation_is_written_only_when_it_changed(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    store = SqlConversationStore(sessions, clock)
    await store.save(Conversation(user_id="o-4", slots={"photos": [{"media_id": "m1"}]}))
    written_at = clock.now()
    clock.advance(timedelta(minutes=5))
    unchanged = await store.load("o-4", Lang.ZH)
    await store.save(unchanged)
    assert (await store.load("o-4", Lang.ZH)).updated_at == written_at
    changed = await store.load("o-4", Lang.ZH)
    changed.slots["photos"].append({"media_id": "m2"})  # changed in place, deep down
    await store.save(changed)
    reloaded = await store.load("o-4", Lang.ZH)
    assert (reloaded.slots["photos"], reloaded.updated_at) == (
        [{"media_id": "m1"}, {"media_id": "m2"}],
        clock.now(),
    )
