"""APScheduler wiring: which jobs run when; only the process holding the lease runs them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.jobs.leader import LeaderLease

log = logging.getLogger(__name__)
Job = Callable[[], Awaitable[object]]
MISFIRE_GRACE_SECONDS = 600


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a job runs: every `seconds`, or daily at `hour`:`minute` (Asia/Shanghai)."""

    seconds: float | None = None
    hour: int | None = None
    minute: int = 0
    at_start: bool = False


class Scheduler:
    def __init__(self, lease: LeaderLease, *, timezone: str) -> None:
        self._lease = lease
        self._scheduler = AsyncIOScheduler(timezone=timezone)
        self._is_leader = False
        self._at_start: list[str] = []

    @property
    def is_leader(self) -> bool:
        return self._is_leader

    def add(self, job_id: str, job: Job, schedule: Schedule) -> None:
        async def run_if_leader() -> None:
            if not self._is_leader:
                return
            try:
                await job()
            except Exception:
                log.exception("job %s failed; it runs again at its next time", job_id)

        options: dict[str, object] = {
            "id": job_id,
            "replace_existing": True,
            "max_instances": 1,
            "coalesce": True,
            # APScheduler skips a run more than 1 s late by default; a busy start-up (model
            # loading, a slow disk) must delay a job, never drop it until tomorrow.
            "misfire_grace_time": MISFIRE_GRACE_SECONDS,
        }
        if schedule.at_start:
            self._at_start.append(job_id)
        if schedule.seconds is not None:
            self._scheduler.add_job(run_if_leader, "interval", seconds=schedule.seconds, **options)
        else:
            self._scheduler.add_job(
                run_if_leader, "cron", hour=schedule.hour, minute=schedule.minute, **options
            )

    async def heartbeat(self) -> None:
        was_leader = self._is_leader
        self._is_leader = await self._lease.acquire_or_renew()
        if self._is_leader and not was_leader:
            log.info("this process now runs the scheduled jobs (%s)", self._lease.holder)

    async def start(self) -> None:
        await self.heartbeat()
        self._scheduler.add_job(
            self.heartbeat,
            "interval",
            seconds=10,
            id="leader-heartbeat",
            replace_existing=True,
            max_instances=1,
            coalesce=True,
        )
        self._scheduler.start()
        now = datetime.now(self._scheduler.timezone)
        for job_id in self._at_start:  # first run now that the lease is known, not at add()
            self._scheduler.modify_job(job_id, next_run_time=now)

    async def stop(self) -> None:
        self._scheduler.shutdown(wait=False)
        await self._lease.release()
