"""Redis commands issued by concurrent turns in one event-loop tick share one round trip.

Every message costs several small Redis commands (replay nonce, dedup claim, lock, rate slot,
lock release, claim extension), and on a busy gateway each round trip's socket write and wake-up
costs more CPU than the command itself. Commands are queued and written together on the next
tick (pipelined, no MULTI: each command stays independent), so under load many turns' commands
travel together; a lone command goes alone, one tick later.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

Command = tuple[str | bytes | int | float, ...]


class RedisBatcher:
    """Queues commands and flushes them together on the next loop iteration."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._pending: list[tuple[Command, asyncio.Future[Any]]] = []
        self._flushes: set[asyncio.Task[None]] = set()
        self.round_trips = 0
        """Batches written so far: with `commands`, the batching achieved."""
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
        try:
            replies = await self._round_trip([command for command, _ in batch])
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

    async def _round_trip(self, commands: list[Command]) -> list[Any]:
        """The batch's replies in order; a command's own error (wrong type, script error) comes
        back in its place.

        A pooled socket the server closed (Redis restarted) fails on first use before any reply
        arrives: the batch is sent once more on a new connection, as redis-py retries. A failure
        after replies began is not retried (a command that ran must not run twice)."""
        try:
            return await self._on_connection(commands)
        except _NothingRead:
            return await self._on_connection(commands)

    async def _on_connection(self, commands: list[Command]) -> list[Any]:
        """One packed write on a pooled connection, then one read per command.

        redis-py's pipeline object (command stack, retries, metrics hooks) cost more client CPU
        than the socket write it saved when turns come one at a time; this is the bare protocol.
        Replies are raw (SET gives b"OK" or None), as the callers expect."""
        pool = self._redis.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        replies: list[Any] = []
        try:
            await connection.send_packed_command(
                connection.pack_commands(commands), check_health=False
            )
            for _ in commands:
                try:
                    replies.append(await connection.read_response())
                except ResponseError as error:
                    replies.append(error)
        except BaseException as error:
            # Replies may be left unread on the socket: never hand it to the next caller.
            await connection.disconnect(nowait=True)
            if isinstance(error, RedisConnectionError) and not replies:
                raise _NothingRead from error
            raise
        finally:
            await pool.release(connection)
        return replies


class _NothingRead(RedisConnectionError):
    """The connection failed before the first reply of a batch."""
