"""Redis commands issued by concurrent turns in one event-loop tick share one round trip.

Every message costs several small Redis commands (replay nonce, dedup claim, lock, rate slot,
lock release, claim extension), and on a busy gateway each round trip's socket write and wake-up
costs more CPU than the command itself. Commands are queued and sent as one pipeline (no
MULTI: each command stays independent) on the next tick, so under load many turns' commands
travel together; a lone command goes alone, one tick later.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

Command = tuple[str | bytes | int | float, ...]


class RedisBatcher:
    """Queues commands and flushes them together on the next loop iteration."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._pending: list[tuple[Command, asyncio.Future[Any]]] = []
        self._flushes: set[asyncio.Task[None]] = set()
        self.round_trips = 0
        """Pipelines (or lone commands) sent so far: with `commands`, the batching achieved."""
        self.commands = 0

    async def execute(self, *command: str | bytes | int | float) -> Any:
        """Run one command (``"SET", key, value, "PX", 500, "NX"``) and return its reply."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((command, future))
        if len(self._pending) == 1:
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.ensure_future(self._send(batch))
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _send(self, batch: list[tuple[Command, asyncio.Future[Any]]]) -> None:
        self.round_trips += 1
        self.commands += len(batch)
        replies: list[Any]
        try:
            if len(batch) == 1:
                lone = self._redis.execute_command(*batch[0][0])  # type: ignore[no-untyped-call]
                replies = [await lone]
            else:
                pipeline = self._redis.pipeline(transaction=False)
                for command, _ in batch:
                    pipeline.execute_command(*command)
                # A command's own error (wrong type, script error) is returned in its place.
                replies = await pipeline.execute(raise_on_error=False)
        except Exception as error:  # the connection failed: every command in it failed
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        except asyncio.CancelledError:  # shut down with the loop: never leave a waiter hanging
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), reply in zip(batch, replies, strict=True):
            if future.done():  # its waiter was cancelled: the command ran regardless
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)
