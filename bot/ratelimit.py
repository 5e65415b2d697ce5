"""Per-resident message rate limit, shared by all gateway workers through a `KeyValueStore`.

The store has no atomic increment, so a fixed window is counted by claiming numbered slots with
`add` (atomic in every implementation): message n of a window claims slot n, two workers can
never claim the same slot, and once slot `limit` is taken the window is full. Each worker keeps
a hint of the last slot it saw taken, so a message normally costs one `add`, and a message over
the limit costs none.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.kv import KeyValueStore
from governance.clock import Clock

DEFAULT_LIMIT = 20
DEFAULT_WINDOW_SECONDS = 60


@dataclass(frozen=True, slots=True)
class RateDecision:
    """What the limiter decided for one message."""

    allowed: bool
    count: int
    """Messages counted in this window so far (capped at limit + 1)."""
    notify: bool = False
    """Over the limit and the resident has not been told in this window: tell them once."""


class RateLimiter:
    """At most `limit` messages per `window_seconds` per subject (a resident's openid)."""

    def __init__(
        self,
        store: KeyValueStore,
        clock: Clock,
        *,
        limit: int = DEFAULT_LIMIT,
        window_seconds: int = DEFAULT_WINDOW_SECONDS,
        prefix: str = "rate",
    ) -> None:
        if limit < 1 or window_seconds < 1:
            raise ValueError("limit and window_seconds must be positive")
        self._store = store
        self._clock = clock
        self._limit = limit
        self._window = window_seconds
        self._prefix = prefix
        self._hint_window = -1
        self._hints: dict[str, int] = {}

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def window_seconds(self) -> int:
        return self._window

    def _current_window(self) -> int:
        return int(self._clock.now().timestamp()) // self._window

    def _key(self, subject: str, window: int, slot: str) -> str:
        return f"{self._prefix}:{subject}:{window}:{slot}"

    async def hit(self, subject: str) -> RateDecision:
        """Count one message from `subject`; `allowed` is False once the window is full."""
        window = self._current_window()
        if window != self._hint_window:  # hints of earlier windows are useless: drop them all
            self._hint_window, self._hints = window, {}
        ttl = 2 * self._window
        slot = self._hints.get(subject, 0) + 1
        while slot <= self._limit:
            if await self._store.add(self._key(subject, window, str(slot)), "1", ttl):
                self._hints[subject] = slot
                return RateDecision(True, slot)
            slot += 1  # another worker (or an earlier message) holds it
        self._hints[subject] = self._limit
        told = await self._store.add(self._key(subject, window, "notice"), "1", ttl)
        return RateDecision(False, self._limit + 1, notify=told)
