"""The dashboard in Chromium: ECharts (served locally) draws the charts, and the Excel export
downloads a workbook a 12345 office can take (opened here with openpyxl)."""

from __future__ import annotations

from pathlib import Path

from openpyxl import load_workbook  # type: ignore[import-untyped]
from playwright.async_api import Page, expect

from tests.browser.conftest import StackFactory, screenshot
from tests.browser.test_console_case_flow import (
    file_through_the_simulator,
    seed_accounts,
    sign_in,
)


async def test_dashboard_charts_and_excel_export(
    make_stack: StackFactory, page: Page, tmp_path: Path
) -> None:
    stack = await make_stack()
    await seed_accounts(stack)
    first = await file_through_the_simulator(
        stack, "o-dash-1", "GP-0101", ["院门口的路灯坏了三天了晚上很黑", "跳过", "1"]
    )
    second = await file_through_the_simulator(
        stack, "o-dash-2", "GP-0201", ["菜市场门口的下水道堵了，污水漫到路上", "跳过", "1"]
    )
    cdn_requests: list[str] = []
    page.on(
        "request",
        lambda request: (
            cdn_requests.append(request.url)
            if not request.url.startswith(stack.gateway_url)
            else None
        ),
    )
    await sign_in(page, stack, "admin")
    await page.get_by_role("link", name="统计").click()
    await expect(page.locator("body")).to_have_attribute("data-charts", "ready")
    for chart in ("by_month", "by_category", "by_grid"):
        await expect(page.locator(f"#chart-{chart} canvas").first).to_be_visible()
    await expect(page.locator("#fig-received")).to_have_text("2")
    await expect(page.locator(".summary")).to_contain_text("已接收群众诉求 2 件")
    assert cdn_requests == []  # ECharts comes from the gateway, not a CDN
    await screenshot(page, "console_dashboard")

    async with page.expect_download() as waiting:
        await page.locator("[data-export=xlsx]").click()
    download = await waiting.value
    assert download.suggested_filename.endswith(".xlsx")
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    book = load_workbook(saved)
    rows = list(book["案件明细"].iter_rows(values_only=True))
    assert rows[0][:6] == ("工单编号", "受理时间", "诉求类别", "所属网格", "地址", "诉求内容")
    by_ticket = {row[0]: row for row in rows[1:]}
    assert set(by_ticket) == {first.ticket_no, second.ticket_no}
    assert by_ticket[first.ticket_no][2] == "路灯"
    assert by_ticket[first.ticket_no][5] == "院门口的路灯坏了三天了晚上很黑"
    assert by_ticket[second.ticket_no][3] == "第二网格（纳金路片区）"
    summary = {row[0]: row[1] for row in book["统计汇总"].iter_rows(values_only=True) if row[0]}
    assert summary["接收"] == 2

    async with page.expect_download() as waiting:
        await page.locator("[data-export=csv]").click()
    csv_file = tmp_path / "export.csv"
    await (await waiting.value).save_as(csv_file)
    text = csv_file.read_text(encoding="utf-8-sig")
    assert first.ticket_no in text
    assert second.ticket_no in text
