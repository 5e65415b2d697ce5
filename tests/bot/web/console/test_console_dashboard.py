"""Dashboard figures, chart JSON and the 12345 exports (CSV and a real .xlsx), per role."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlalchemy import select

from governance.console.models import AuditEntry
from tests.bot.web.console.conftest import Console, file_petition

FORMULA = '=HYPERLINK("http://evil.example","click")'


async def _two_grids(console: Console) -> tuple[str, str]:
    now = console.clock.now()
    g01 = await file_petition(console.sessions, now, description=FORMULA)
    g02 = await file_petition(
        console.sessions, now, grid_id="G02", grid_point_id="GP-0201", category="road"
    )
    await console.login("lhakpa")
    for verb, data in (("accept", {}), ("resolve", {"note": "已修好"})):
        status, _ = await console.post(f"/console/cases/{g01}/{verb}", data)
        assert status == 200
    await console.post("/console/logout", {})
    return g01, g02


async def test_dashboard_numbers_and_sentence(console: Console) -> None:
    await _two_grids(console)
    await console.login("admin")
    status, html = await console.get("/console/dashboard")
    assert status == 200
    assert "已接收群众诉求 2 件，已解决 1 件，其余 1 件" in html
    assert 'id="fig-received">2<' in html
    assert 'id="fig-on_time_closure_rate">100.0%<' in html
    assert "/console/static/echarts.min.js" in html


async def test_chart_json_is_scoped_to_the_grid_worker(console: Console) -> None:
    await _two_grids(console)
    await console.login("dolma")
    async with console.client.get("/console/dashboard/data.json") as response:
        assert response.status == 200
        data = await response.json()
    assert data["by_grid"]["keys"] == ["G01"]
    assert data["by_grid"]["labels"] == ["第一网格（北京中路片区）"]
    assert data["total"]["received"] == 1
    assert data["by_category"]["labels"] == ["路灯"]
    assert data["series"]["received"] == "接收"
    await console.get("/console/lang/bo?next=/console/dashboard")
    async with console.client.get("/console/dashboard/data.json") as response:
        data = await response.json()
    assert data["by_category"]["labels"] == ["ལམ་སྒྲོན།"]


async def test_csv_export_for_12345(console: Console) -> None:
    g01, g02 = await _two_grids(console)
    await console.login("lhakpa")
    async with console.client.get("/console/dashboard/export.csv") as response:
        assert response.status == 200
        assert "attachment" in response.headers["Content-Disposition"]
        body = await response.read()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:12] == [
        "工单编号",
        "受理时间",
        "诉求类别",
        "所属网格",
        "地址",
        "诉求内容",
        "办理状态",
        "承办人",
        "响应时间",
        "办结时间",
        "是否按时办结",
        "满意度",
    ]
    by_ticket = {row[0]: row for row in rows[1:]}
    assert set(by_ticket) == {g01, g02}
    assert by_ticket[g01][5] == "'" + FORMULA  # never a formula in Excel / WPS
    assert by_ticket[g01][6] == "已办结"
    assert by_ticket[g01][10] == "是"
    assert by_ticket[g02][10] == ""
    assert by_ticket[g01][1] == "2026-11-22 10:00"  # local time


async def test_xlsx_export_has_cases_and_summary(console: Console) -> None:
    g01, _ = await _two_grids(console)
    await console.login("admin")
    async with console.client.get(
        "/console/dashboard/export.xlsx?from=2026-11-01&to=2026-11-30"
    ) as response:
        assert response.status == 200
        assert response.content_type.endswith("spreadsheetml.sheet")
        body = await response.read()
    book = load_workbook(io.BytesIO(body))
    cases, summary = book["案件明细"], book["统计汇总"]
    rows = list(cases.iter_rows(values_only=True))
    assert rows[0][0] == "工单编号"
    assert len(rows) == 3
    first = next(row for row in rows[1:] if row[0] == g01)
    assert first[5] == FORMULA  # kept as text
    assert cases.cell(row=2 if rows[1][0] == g01 else 3, column=6).data_type == "s"
    assert first[1].strftime("%Y-%m-%d %H:%M") == "2026-11-22 10:00"
    facts = {row[0]: row[1] for row in summary.iter_rows(values_only=True) if row and row[0]}
    assert facts["统计期间"] == "2026-11-01 ~ 2026-11-30"
    assert facts["接收"] == 2
    assert facts["办结"] == 1
    async with console.sessions() as session:
        audit = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "export_xlsx"))
        ).one()
    assert audit.detail == {"rows": 2}


async def test_period_filter_and_a_bad_period(console: Console) -> None:
    await _two_grids(console)
    await console.login("admin")
    _, html = await console.get("/console/dashboard?from=2026-12-01&to=2026-12-31")
    assert "已接收群众诉求 0 件" in html
    status, html = await console.get("/console/dashboard?from=2026-12-31&to=2026-12-01")
    assert status == 200
    assert "日期范围不对" in html
    _, html = await console.get("/console/dashboard?from=yesterday")
    assert "日期范围不对" in html
    console.clock.advance(timedelta(days=400))
    await console.login("admin")  # the 12-hour session ended long ago
    _, html = await console.get("/console/dashboard")
    assert "已接收群众诉求 0 件" in html  # the default period is the current year
