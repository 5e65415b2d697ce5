"""Expiring key-value stores shared by the gateway's workers: SQL (default), Redis, or memory.

`add` is the atomic primitive behind replay protection, delivery dedup and single-refresher locks.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.redis_batch import RedisBatcher
from governance.clock import Clock
from governance.db import dialect_name
from governance.kv import KeyValueEntry


class KeyValueStore(Protocol):
    async def add(self, key: str, value: str, ttl_seconds: float) -> bool:
        """Store `key` unless a live entry exists; True when this call stored it."""
        ...

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str, ttl_seconds: float) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def replace(self, key: str, expected: str, value: str, ttl_seconds: float) -> bool:
        """Overwrite a live `key` only while it still holds `expected` (compare-and-set)."""
        ...

    async def delete_if(self, key: str, expected: str) -> bool:
        """Delete `key` only while it holds `expected`: a lock or lease released by its owner."""
        ...


class MemoryKeyValueStore:
    """One process only: the embedded (SQLite, no Redis) gateway's per-request keys, and tests.

    Expired entries are dropped every `PURGE_EVERY` writes, so one nonce per message does not
    grow the dict without bound."""

    PURGE_EVERY = 1024

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._items: dict[str, tuple[str, float]] = {}
        self._writes = 0

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _store(self, key: str, value: str, ttl_seconds: float) -> None:
        now = self._now()
        self._items[key] = (value, now + ttl_seconds)
        self._writes += 1
        if self._writes % self.PURGE_EVERY == 0:
            self._items = {k: item for k, item in self._items.items() if item[1] > now}

    def __len__(self) -> int:
        """Entries held, expired ones not yet purged included."""
        return len(self._items)

    async def add(self, key: str, value: str, ttl_seconds: float) -> bool:
        current = self._items.get(key)
        if current and current[1] > self._now():
            return False
        self._store(key, value, ttl_seconds)
        return True

    async def get(self, key: str) -> str | None:
        current = self._items.get(key)
        return current[0] if current and current[1] > self._now() else None

    async def set(self, key: str, value: str, ttl_seconds: float) -> None:
        self._store(key, value, ttl_seconds)

    async def delete(self, key: str) -> None:
        self._items.pop(key, None)

    async def replace(self, key: str, expected: str, value: str, ttl_seconds: float) -> bool:
        if await self.get(key) != expected:
            return False
        self._store(key, value, ttl_seconds)
        return True

    async def delete_if(self, key: str, expected: str) -> bool:
        if await self.get(key) != expected:
            return False
        del self._items[key]
        return True


class SqlKeyValueStore:
    """The `infra_kv` table: an upsert that only overwrites expired rows makes `add` atomic."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = session_factory
        self._clock = clock

    async def add(self, key: str, value: str, ttl_seconds: float) -> bool:
        now = self._clock.now()
        expires_at = now + timedelta(seconds=ttl_seconds)
        async with self._sessions() as session:
            insert = pg_insert if dialect_name(session) == "postgresql" else sqlite_insert
            row = insert(KeyValueEntry).values(key=key, value=value, expires_at=expires_at)
            claim = row.on_conflict_do_update(
                index_elements=[KeyValueEntry.key],
                set_={"value": row.excluded.value, "expires_at": expires_at},
                where=KeyValueEntry.expires_at <= now,
            ).returning(KeyValueEntry.key)
            stored = (await session.execute(claim)).scalar_one_or_none()
            await session.commit()
            return stored is not None

    async def get(self, key: str) -> str | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(KeyValueEntry.value).where(
                    KeyValueEntry.key == key, KeyValueEntry.expires_at > self._clock.now()
                )
            )

    async def set(self, key: str, value: str, ttl_seconds: float) -> None:
        expires_at = self._clock.now() + timedelta(seconds=ttl_seconds)
        async with self._sessions() as session:
            insert = pg_insert if dialect_name(session) == "postgresql" else sqlite_insert
            row = insert(KeyValueEntry).values(key=key, value=value, expires_at=expires_at)
            await session.execute(
                row.on_conflict_do_update(
                    index_elements=[KeyValueEntry.key],
                    set_={"value": value, "expires_at": expires_at},
                )
            )
            await session.commit()

    async def delete(self, key: str) -> None:
        async with self._sessions() as session:
            await session.execute(delete(KeyValueEntry).where(KeyValueEntry.key == key))
            await session.commit()

    async def replace(self, key: str, expected: str, value: str, ttl_seconds: float) -> bool:
        now = self._clock.now()
        async with self._sessions() as session:
            replaced = await session.scalar(
                update(KeyValueEntry)
                .where(
                    KeyValueEntry.key == key,
                    KeyValueEntry.value == expected,
                    KeyValueEntry.expires_at > now,
                )
                .values(value=value, expires_at=now + timedelta(seconds=ttl_seconds))
                .returning(KeyValueEntry.key)
            )
            await session.commit()
            return replaced is not None

    async def delete_if(self, key: str, expected: str) -> bool:
        async with self._sessions() as session:
            deleted = await session.scalar(
                delete(KeyValueEntry)
                .where(
                    KeyValueEntry.key == key,
                    KeyValueEntry.value == expected,
                    KeyValueEntry.expires_at > self._clock.now(),
                )
                .returning(KeyValueEntry.key)
            )
            await session.commit()
            return deleted is not None

    async def purge_expired(self) -> int:
        """Drop expired rows; called from a housekeeping job."""
        async with self._sessions() as session:
            result = await session.execute(
                delete(KeyValueEntry).where(KeyValueEntry.expires_at <= self._clock.now())
            )
            await session.commit()
            return int(getattr(result, "rowcount", 0) or 0)


_REPLACE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""
DELETE_IF_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""
"""Deletes KEYS[1] only while it holds ARGV[1]: a lock or lease released by its owner."""


class RedisKeyValueStore:
    """Redis `SET NX PX`: the shared store when several gateway workers run.

    Compare-and-set and compare-and-delete run as Lua scripts, atomic on the server. Commands go
    through the gateway's `RedisBatcher`, so concurrent turns share round trips.
    """

    def __init__(self, redis: RedisBatcher, prefix: str = "minqing:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def add(self, key: str, value: str, ttl_seconds: float) -> bool:
        stored = await self._redis.execute(
            "SET", self._prefix + key, value, "PX", _milliseconds(ttl_seconds), "NX"
        )
        return bool(stored)

    async def get(self, key: str) -> str | None:
        value = await self._redis.execute("GET", self._prefix + key)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def set(self, key: str, value: str, ttl_seconds: float) -> None:
        await self._redis.execute(
            "SET", self._prefix + key, value, "PX", _milliseconds(ttl_seconds)
        )

    async def delete(self, key: str) -> None:
        await self._redis.execute("DEL", self._prefix + key)

    async def replace(self, key: str, expected: str, value: str, ttl_seconds: float) -> bool:
        replaced = await self._redis.execute(
            "EVAL",
            _REPLACE_SCRIPT,
            1,
            self._prefix + key,
            expected,
            value,
            _milliseconds(ttl_seconds),
        )
        return bool(replaced)

    async def delete_if(self, key: str, expected: str) -> bool:
        deleted = await self._redis.execute(
            "EVAL", DELETE_IF_SCRIPT, 1, self._prefix + key, expected
        )
        return bool(deleted)


def _milliseconds(ttl_seconds: float) -> int:
    return max(1, int(ttl_seconds * 1000))
