"""Per-resident serialisation: one turn at a time, taken before the conversation is loaded.

Residents double-send and WeChat retries; without this two turns race on one draft.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from redis.asyncio import Redis


class UserLocks(Protocol):
    def hold(self, user_id: str) -> AbstractAsyncContextManager[None]: ...


class LocalUserLocks:
    """asyncio locks, dropped when no turn holds or waits for them."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, user_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(user_id, (asyncio.Lock(), 0))
        self._locks[user_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[user_id]
            if users <= 1:
                del self._locks[user_id]
            else:
                self._locks[user_id] = (lock, users - 1)


class RedisUserLocks:
    """A Redis lock per resident so turns on different gateway workers never interleave."""

    def __init__(self, redis: Redis, *, timeout_seconds: float = 30.0) -> None:
        self._redis = redis
        self._timeout = timeout_seconds

    @asynccontextmanager
    async def hold(self, user_id: str) -> AsyncIterator[None]:
        lock = self._redis.lock(
            f"minqing:user-lock:{user_id}", timeout=self._timeout, blocking_timeout=self._timeout
        )
        async with lock:
            yield
