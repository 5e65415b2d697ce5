"""Where conversations live between turns: memory (unit tests, REPL) or SQL (the product)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Insert, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.dialogue.models import ConversationRecord
from bot.dialogue.state import Conversation, Lang
from governance.clock import Clock
from governance.db import autocommit_engine
from governance.directory.models import Resident


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
    """One statement per load (`load_turn`: with the resident's row) or save, each committing by
    itself (no BEGIN/COMMIT), in SQLAlchemy Core on a pooled connection (about half the client
    CPU of the same statement through the ORM; both run on every message). An idle conversation
    (no flow) that the turn left as it was is not written: its time stamp only matters to
    expire an open flow."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._engine = autocommit_engine(session_factory)
        self._upsert = _upsert(self._engine.dialect.name)
        self._clock = clock

    async def load(self, user_id: str, default_language: Lang) -> Conversation:
        async with self._engine.connect() as connection:
            row = (await connection.execute(_LOAD, {"user_id": user_id})).first()
        if row is None:
            return self.conversation(user_id, default_language, None, None)
        return self.conversation(user_id, default_language, row.state, row.updated_at)

    async def load_turn(self, user_id: str) -> TurnStart | None:
        """The resident's row and their conversation in one statement (None: first contact)."""
        async with self._engine.connect() as connection:
            row = (await connection.execute(_LOAD_TURN, {"user_id": user_id})).first()
        if row is None:
            return None
        profile = row.profile or {}
        resident = StoredResident(
            row.language if profile.get("language_chosen") else None,
            row.last_message_at,
            row.subscribed,
            row.elder_mode,
            row.grid_id,
            row.phone,
            profile.get("address"),
        )
        return TurnStart(resident, row.state, row.updated_at)

    @staticmethod
    def conversation(
        user_id: str,
        default_language: Lang,
        state: dict[str, Any] | None,
        updated_at: datetime | None,
    ) -> Conversation:
        """The conversation from its stored state, or a new one in `default_language`."""
        if state is None:
            conversation = Conversation(user_id=user_id, language=default_language)
        else:
            conversation = Conversation.from_record(user_id, state, updated_at)
        conversation.stored = _canonical(conversation.to_record())
        return conversation

    async def save(self, conversation: Conversation) -> None:
        """One upsert statement, or none for an idle conversation the turn did not change."""
        record = conversation.to_record()
        canonical = _canonical(record)
        if conversation.flow is None and canonical == conversation.stored:
            return
        conversation.updated_at = self._clock.now()
        async with self._engine.connect() as connection:
            await connection.execute(
                self._upsert,
                {
                    "user_id": conversation.user_id,
                    "state": record,
                    "updated_at": conversation.updated_at,
                },
            )
        conversation.stored = canonical


@dataclass(frozen=True, slots=True)
class StoredResident:
    """The resident's columns a turn starts from."""

    chosen_language: str | None
    last_message_at: datetime | None
    subscribed: bool
    elder_mode: bool
    grid_id: str | None = None
    """The grid they last reported or asked about: prefills bookings and the staff directory."""
    phone: str | None = None
    address: str | None = None
    """The address of their last booking (kept in the profile)."""


NEW_RESIDENT = StoredResident(None, None, subscribed=True, elder_mode=False)
"""What a turn knows of a resident it has just created: nothing yet."""


@dataclass(frozen=True, slots=True)
class TurnStart:
    resident: StoredResident
    state: dict[str, Any] | None
    """The stored conversation (None: none stored yet)."""
    updated_at: datetime | None


# Built once: SQLAlchemy memoises the cache key of a statement object it executes again.
_LOAD = select(ConversationRecord.state, ConversationRecord.updated_at).where(
    ConversationRecord.user_id == bindparam("user_id")
)
_LOAD_TURN = (
    select(
        Resident.language,
        Resident.profile,
        Resident.last_message_at,
        Resident.subscribed,
        Resident.elder_mode,
        Resident.grid_id,
        Resident.phone,
        ConversationRecord.state,
        ConversationRecord.updated_at,
    )
    .select_from(Resident)
    .outerjoin(ConversationRecord, ConversationRecord.user_id == Resident.openid)
    .where(Resident.openid == bindparam("user_id"))
)


def _upsert(dialect: str) -> Insert:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(ConversationRecord)
    return statement.on_conflict_do_update(
        index_elements=[ConversationRecord.user_id],
        set_={"state": statement.excluded.state, "updated_at": statement.excluded.updated_at},
    )


def _canonical(record: dict[str, Any]) -> str:
    """A deep, comparable snapshot (the slots hold nested lists the turn may change in place)."""
    return json.dumps(record, sort_keys=True, ensure_ascii=False)
