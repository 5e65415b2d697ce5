"""Exactly one scheduler runs, however many gateway processes do: a lease in the shared store.

The lease is renewed every few seconds; if its holder dies, another process takes over once
the lease expires. Jobs are idempotent, so a hand-over neither skips nor repeats their effects.
"""

from __future__ import annotations

import os
import socket
import uuid

from bot.kv import KeyValueStore

LEASE_KEY = "scheduler:leader"


class LeaderLease:
    def __init__(self, store: KeyValueStore, *, ttl_seconds: float = 30.0) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    async def acquire_or_renew(self) -> bool:
        """True while this process holds the lease.

        Renewal is a compare-and-set: a lease that expired and was taken by another process
        is never overwritten, so two processes cannot both believe they lead.
        """
        if await self._store.add(LEASE_KEY, self.holder, self._ttl):
            return True
        return await self._store.replace(LEASE_KEY, self.holder, self.holder, self._ttl)

    async def release(self) -> None:
        """Hand the lease over at shutdown (only if this process still holds it)."""
        await self._store.delete_if(LEASE_KEY, self.holder)
