"""Where conversations live between turns: memory (unit tests, REPL) or SQL (the product)."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.dialogue.models import ConversationRecord
from bot.dialogue.state import Conversation, Lang
from governance.clock import Clock
from governance.db import autocommit_sessions, dialect_name


class ConversationStore(Protocol):
    async def load(self, user_id: str, default_language: Lang) -> Conversation: ...

    async def save(self, conversation: Conversation) -> None: ...


class MemoryConversationStore:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._items: dict[str, Conversation] = {}

    async def load(self, user_id: str, default_language: Lang) -> Conversation:
        stored = self._items.get(user_id)
        if stored is None:
            return Conversation(user_id=user_id, language=default_language)
        return Conversation.from_record(user_id, stored.to_record(), stored.updated_at)

    async def save(self, conversation: Conversation) -> None:
        conversation.updated_at = self._clock.now()
        self._items[conversation.user_id] = Conversation.from_record(
            conversation.user_id, conversation.to_record(), conversation.updated_at
        )


class SqlConversationStore:
    """One statement per load or save, each committing by itself (no BEGIN/COMMIT)."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = autocommit_sessions(session_factory)
        self._clock = clock

    async def load(self, user_id: str, default_language: Lang) -> Conversation:
        async with self._sessions() as session:
            record = await session.get(ConversationRecord, user_id)
            if record is None:
                return Conversation(user_id=user_id, language=default_language)
            return Conversation.from_record(user_id, record.state, record.updated_at)

    async def save(self, conversation: Conversation) -> None:
        """One upsert statement: a turn's save is a single round trip."""
        conversation.updated_at = self._clock.now()
        async with self._sessions() as session:
            insert = pg_insert if dialect_name(session) == "postgresql" else sqlite_insert
            row = {
                "user_id": conversation.user_id,
                "state": conversation.to_record(),
                "updated_at": conversation.updated_at,
            }
            await session.execute(
                insert(ConversationRecord)
                .values(**row)
                .on_conflict_do_update(
                    index_elements=[ConversationRecord.user_id],
                    set_={"state": row["state"], "updated_at": row["updated_at"]},
                )
            )
            await session.commit()
