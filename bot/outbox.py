"""Delivers outbox rows with retries and exponential backoff; rows end SENT or DEAD, never gone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.settings import OutboxSettings
from governance.clock import Clock
from governance.db import autocommit_sessions
from governance.outbox import service as outbox
from governance.outbox.models import OutboxMessage

log = logging.getLogger(__name__)
LEASE_SECONDS = 60.0
MAX_FAILURE_PAUSE_SECONDS = 5.0
"""Longest pause between delivery rounds while they keep failing (database down)."""


class DeliveryFailed(Exception):
    """A send that did not happen; `retryable` decides between backoff and dead letter."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class OutboxSender(Protocol):
    async def send(self, message: OutboxMessage) -> None:
        """Deliver one row or raise DeliveryFailed."""
        ...


class OutboxWorker:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        sender: OutboxSender,
        clock: Clock,
        settings: OutboxSettings,
    ) -> None:
        self._sessions = sessions
        self._quick_sessions = autocommit_sessions(sessions)
        """For the claim (a read, then one UPDATE … RETURNING), mark-sent and give-back (one
        UPDATE each): no BEGIN/COMMIT around them."""
        self._sender = sender
        self._clock = clock
        self._settings = settings
        self._wakeup = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """New rows were committed: deliver now instead of at the next poll."""
        self._wakeup.set()

    def stop(self) -> None:
        """Ask `run` to return once the push in flight is sent and recorded.

        Cancelling a round instead could cut between a send and its mark-sent (the resident
        would get that push again after the lease) and leaves a database call unfinished."""
        self._stopping = True
        self._wakeup.set()

    async def deliver_due(self, *, woken: bool = False) -> int:
        """Send every due row once; returns how many were sent.

        `woken`: rows were just committed (`wake`), so the claim need not look for any first."""
        async with self._quick_sessions() as session:
            rows = await outbox.claim_due(
                session,
                now=self._clock.now(),
                limit=self._settings.batch_size,
                lease_seconds=LEASE_SECONDS,
                probe=not woken,
            )
        sent = 0
        for index, row in enumerate(rows):
            if self._stopping:
                await self._give_back(rows[index:])
                break
            try:
                await self._sender.send(row)
            except DeliveryFailed as failure:
                async with self._sessions() as session:
                    status = await outbox.mark_failed(
                        session,
                        row.id,
                        now=self._clock.now(),
                        error=str(failure),
                        retryable=failure.retryable,
                        max_attempts=self._settings.max_attempts,
                        base_delay_seconds=self._settings.base_delay_seconds,
                        max_delay_seconds=self._settings.max_delay_seconds,
                    )
                log.warning(
                    "outbox %s %s attempt failed (%s): %s", row.id, row.channel, status, failure
                )
            except Exception as error:  # a bug in rendering must not stop the queue
                log.exception("outbox %s crashed", row.id)
                async with self._sessions() as session:
                    await outbox.mark_failed(
                        session,
                        row.id,
                        now=self._clock.now(),
                        error=f"{type(error).__name__}: {error}",
                        retryable=True,
                        max_attempts=self._settings.max_attempts,
                        base_delay_seconds=self._settings.base_delay_seconds,
                        max_delay_seconds=self._settings.max_delay_seconds,
                    )
            else:
                async with self._quick_sessions() as session:
                    await outbox.mark_sent(session, row.id, now=self._clock.now())
                sent += 1
        return sent

    async def _give_back(self, rows: Sequence[OutboxMessage]) -> None:
        """Claimed rows left unsent at shutdown: due again now, not after their lease."""
        async with self._quick_sessions() as session:
            await outbox.release(session, [row.id for row in rows], now=self._clock.now())

    async def run(self) -> None:
        """Deliver until stopped (or cancelled): on every wake-up and at least every poll interval.

        While rounds keep failing (the database is unreachable) the poll backs off and only the
        first failure carries a traceback, so an outage does not flood the log.
        """
        failures = 0
        woken = False
        while not self._stopping:
            try:
                await self.deliver_due(woken=woken)
            except Exception as error:
                failures += 1
                if failures == 1:
                    log.exception("outbox delivery round failed; retrying with backoff")
                else:
                    log.warning(
                        "outbox delivery round failed again (%d in a row): %s",
                        failures,
                        f"{type(error).__name__}: {error}"[:300],
                    )
            else:
                if failures:
                    log.info("outbox delivery recovered after %d failed rounds", failures)
                failures = 0
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
            # that arrives together with a wake-up, and the worker would outlive its shutdown.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._pause(failures)):
                    await self._wakeup.wait()
            woken = self._wakeup.is_set()
            self._wakeup.clear()

    def _pause(self, failures: int) -> float:
        """The poll interval, doubled per failed round in a row up to MAX_FAILURE_PAUSE."""
        poll = self._settings.poll_seconds
        if not failures:
            return poll
        return float(min(max(poll, MAX_FAILURE_PAUSE_SECONDS), poll * 2 ** min(failures, 16)))
