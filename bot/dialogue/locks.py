"""Per-resident serialisation: one turn at a time, taken before the conversation is loaded.

Residents double-send and WeChat retries; without this two turns race on one draft.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from redis.exceptions import LockError

from bot.kv import DELETE_IF_SCRIPT
from bot.redis_batch import RedisBatcher

log = logging.getLogger(__name__)


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
    """A Redis lock per resident so turns on different gateway workers never interleave.

    `SET NX PX` with a random token, polled while another turn holds it; released by a Lua
    compare-and-delete, so a turn that outlived the lock's timeout never frees a later turn's
    lock. Both go through the gateway's `RedisBatcher`."""

    POLL_SECONDS = 0.05

    def __init__(self, redis: RedisBatcher, *, timeout_seconds: float = 30.0) -> None:
        self._redis = redis
        self._timeout = timeout_seconds

    @asynccontextmanager
    async def hold(self, user_id: str) -> AsyncIterator[None]:
        key = f"minqing:user-lock:{user_id}"
        token = secrets.token_hex(16)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._timeout
        ttl = max(1, int(self._timeout * 1000))
        while not await self._redis.execute("SET", key, token, "PX", ttl, "NX"):
            if loop.time() >= give_up:
                raise LockError(f"the lock of {user_id} stayed taken for {self._timeout:g} s")
            await asyncio.sleep(self.POLL_SECONDS)
        try:
            yield
        finally:
            if not await self._redis.execute("EVAL", DELETE_IF_SCRIPT, 1, key, token):
                # The turn outlived the lock: its work is done, another turn may hold it now.
                log.warning("the lock of %s had expired before its turn ended", user_id)
