"""Dashboard: the headline figures and three rates, charts fed by a JSON endpoint, exports.

Figures come from `governance.petitions.metrics.report` over the viewer's scope. The date
range is local days, both ends included ("to" 2026-11-30 means until 2026-12-01 00:00).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import select

from bot.web.console.cases import name_in
from bot.web.console.core import PREFIX, ConsoleCore, Viewer, query_url
from bot.web.console.export import to_csv, to_xlsx
from governance.clock import LOCAL_TZ
from governance.console.cases import export_rows, scoped_report
from governance.directory.models import Grid
from governance.petitions.metrics import Figures, Report

RATES = ("on_time_closure_rate", "response_rate", "solution_rate", "satisfaction_rate")
COUNTS = ("received", "resolved", "escalated", "overdue")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True, slots=True)
class Period:
    first: date
    last: date
    error: bool = False
    """The asked range was not understood: the default range is shown with a notice."""

    @property
    def since(self) -> datetime:
        return datetime.combine(self.first, time(0), tzinfo=LOCAL_TZ)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=LOCAL_TZ)

    def query(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}

    def label(self) -> str:
        return f"{self.first.isoformat()} ~ {self.last.isoformat()}"


def parse_period(query: dict[str, str], now: datetime) -> Period:
    """From `from` / `to` (YYYY-MM-DD, local); default: this calendar year up to today."""
    today = now.astimezone(LOCAL_TZ).date()
    default = Period(date(today.year, 1, 1), today)
    asked_from, asked_to = query.get("from", ""), query.get("to", "")
    if not asked_from and not asked_to:
        return default
    try:
        first = date.fromisoformat(asked_from) if asked_from else default.first
        last = date.fromisoformat(asked_to) if asked_to else today
    except ValueError:
        return Period(default.first, default.last, error=True)
    if last < first or (last - first).days > 366 * 5:
        return Period(default.first, default.last, error=True)
    return Period(first, last)


def _table(rows: dict[str, Figures], labels: dict[str, str] | None = None) -> dict[str, Any]:
    keys = sorted(rows)
    return {
        "keys": keys,
        "labels": [(labels or {}).get(key, key) for key in keys],
        **{
            name: [rows[key].as_dict()[name] for key in keys]
            for name in (*COUNTS, "solution_rate", "satisfaction_rate", "on_time_closure_rate")
        },
    }


class DashboardPages:
    def __init__(self, core: ConsoleCore) -> None:
        self.core = core

    async def _report(self, viewer: Viewer, period: Period) -> Report:
        async with self.core.sessions() as session:
            return await scoped_report(
                session,
                viewer.scope,
                since=period.since,
                until=period.until,
                now=self.core.deps.clock.now(),
            )

    async def _tables(self, viewer: Viewer, result: Report) -> dict[str, dict[str, Any]]:
        t, lang = viewer.t, viewer.lang
        async with self.core.sessions() as session:
            grids = {g.id: name_in(lang, g) for g in (await session.scalars(select(Grid))).all()}
        categories = {key: t.get(f"category_{key}", key) for key in result.by_category}
        return {
            "by_month": _table(result.by_month),
            "by_category": _table(result.by_category, categories),
            "by_grid": _table(result.by_grid, grids),
        }

    async def page(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        period = parse_period(dict(request.query), self.core.deps.clock.now())
        result = await self._report(viewer, period)
        total = result.total
        query = period.query()
        tables = await self._tables(viewer, result)
        return self.core.render(
            request,
            "dashboard.html",
            viewer=viewer,
            period=period,
            by_month=tables["by_month"],
            by_category=tables["by_category"],
            by_grid=tables["by_grid"],
            total=total.as_dict(),
            counts=COUNTS,
            rates=RATES,
            pending=max(0, total.received - total.resolved - total.cancelled),
            data_url=query_url(f"{PREFIX}/dashboard/data.json", query),
            csv_url=query_url(f"{PREFIX}/dashboard/export.csv", query),
            xlsx_url=query_url(f"{PREFIX}/dashboard/export.xlsx", query),
        )

    async def data(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """Chart series in the viewer's language (translated labels included)."""
        t = viewer.t
        period = parse_period(dict(request.query), self.core.deps.clock.now())
        result = await self._report(viewer, period)
        return web.json_response(
            {
                "period": period.query(),
                "series": {key: t(f"dash_{key}") for key in (*COUNTS, *RATES)},
                "total": result.total.as_dict(),
                **await self._tables(viewer, result),
            }
        )

    async def export(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        kind = request.match_info["kind"]
        now = self.core.deps.clock.now()
        period = parse_period(dict(request.query), now)
        zh = self.core.texts["zh"]
        async with self.core.sessions() as session, session.begin():
            rows = await export_rows(session, viewer.scope, since=period.since, until=period.until)
            result = await scoped_report(
                session, viewer.scope, since=period.since, until=period.until, now=now
            )
            self.core.audit(
                session,
                request,
                viewer,
                f"export_{kind}",
                target_type="export",
                target_id=period.label(),
                detail={"rows": len(rows)},
            )
        name = f"minqing-{period.first:%Y%m%d}-{period.last:%Y%m%d}.{kind}"
        if kind == "csv":
            body, content_type = to_csv(zh, rows), "text/csv"
        else:
            body, content_type = to_xlsx(zh, rows, result, period.label()), XLSX_TYPE
        return web.Response(
            body=body,
            content_type=content_type,
            charset="utf-8" if kind == "csv" else None,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
