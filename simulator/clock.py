"""A clock with a settable offset: API rules (windows, expiry) run on virtual time."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Clock:
    """Virtual time = real time + offset; gateway timestamps always use real time."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        """Virtual seconds since the epoch."""
        return time.time() + self.offset

    @staticmethod
    def real_now() -> float:
        """Real seconds since the epoch (for signed requests the gateway checks)."""
        return time.time()

    def advance(self, seconds: float) -> None:
        """Move virtual time forward (or back, with a negative value)."""
        self.offset += seconds

    def reset(self) -> None:
        """Back to real time."""
        self.offset = 0.0


def iso(timestamp: float) -> str:
    """ISO 8601 in UTC, as inbox entries report their time."""
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="milliseconds")
