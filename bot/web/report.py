"""Metrics for leaders and 12345 offices: JSON at `/api/report`, text for `minqing report`.

Aggregates only (counts and rates), never a resident's details.
"""

from __future__ import annotations

from datetime import date, datetime, time

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from governance.clock import LOCAL_TZ, Clock
from governance.petitions.metrics import Figures, Report, report

ROWS = (
    ("received", "received"),
    ("resolved", "resolved"),
    ("escalated", "escalated"),
    ("overdue", "overdue"),
    ("on-time closure", "on_time_closure_rate"),
    ("response rate", "response_rate"),
    ("solution rate", "solution_rate"),
    ("satisfaction rate", "satisfaction_rate"),
)


def local_day_start(value: str | None) -> datetime | None:
    """ "2026-11-01" → midnight of that day in Lhasa (None stays None)."""
    if not value:
        return None
    return datetime.combine(date.fromisoformat(value), time(0), tzinfo=LOCAL_TZ)


async def build_report(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    *,
    community: str | None,
    since: str | None,
    until: str | None,
) -> Report:
    async with sessions() as session:
        return await report(
            session,
            community_id=community,
            since=local_day_start(since),
            until=local_day_start(until),
            now=clock.now(),
        )


def _cell(figures: Figures, attribute: str) -> str:
    value = figures.as_dict()[attribute]
    if value is None:
        return "-"
    return f"{value:.1%}" if isinstance(value, float) else str(value)


def format_text(result: Report) -> str:
    """A plain table: totals, then by grid, category and month."""
    lines = [f"{label:<22}{_cell(result.total, attr):>10}" for label, attr in ROWS]
    for title, table in (
        ("by grid", result.by_grid),
        ("by category", result.by_category),
        ("by month", result.by_month),
    ):
        if not table:
            continue
        lines += ["", f"{title:<14}" + "".join(f"{label.split()[0]:>14}" for label, _ in ROWS)]
        for key in sorted(table):
            lines.append(f"{key:<14}" + "".join(f"{_cell(table[key], a):>14}" for _, a in ROWS))
    return "\n".join(lines)


class ReportEndpoint:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def get(self, request: web.Request) -> web.Response:
        try:
            result = await build_report(
                self._sessions,
                self._clock,
                community=request.query.get("community") or None,
                since=request.query.get("since"),
                until=request.query.get("until"),
            )
        except ValueError:
            return web.json_response({"error": "since/until must be YYYY-MM-DD"}, status=400)
        return web.json_response(result.as_dict())
