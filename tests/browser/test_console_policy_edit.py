"""A community officer corrects a policy in Chromium, marks it verified, and the resident's
next question gets the corrected text without the "sample" caveat."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import StackFactory, screenshot
from tests.browser.test_console_case_flow import seed_accounts, sign_in

NEW_LINE = "请先打电话预约，再带材料到社区服务站。"


async def test_an_officer_edits_and_verifies_a_policy_in_the_browser(
    make_stack: StackFactory, page: Page
) -> None:
    stack = await make_stack()
    await seed_accounts(stack)
    await sign_in(page, stack, "lhakpa")
    await page.goto(f"{stack.gateway_url}/console/policies")
    await page.get_by_role("link", name="高龄津贴", exact=True).click()
    await expect(page.locator("h1")).to_contain_text("高龄津贴")

    summary = page.get_by_label("简介（中文）")
    original = await summary.input_value()
    await summary.fill(original + "\n" + NEW_LINE)  # a fourth line: too long for a reply
    await page.get_by_role("button", name="保存修改").click()
    await expect(page.get_by_role("alert")).to_contain_text("有 4 行，最多 3 行")
    await expect(summary).to_have_value(original + "\n" + NEW_LINE)  # the typed text is kept

    first, second, _third = original.split("\n")
    await summary.fill(f"{first}\n{second}\n{NEW_LINE}")
    await page.get_by_role("button", name="保存修改").click()
    await expect(page.get_by_role("status")).to_contain_text("已保存")
    await expect(page.locator("table").last).to_contain_text("修改内容（待核实）")

    await page.get_by_role("button", name="标记为已核实").click()
    await expect(page.get_by_role("status")).to_contain_text("已标记为核实")
    await screenshot(page, "console_policy_verified")

    reply = await stack.say("o-browser-policy", "高龄津贴有哪些规定")
    assert NEW_LINE in reply
    assert "以上为示例内容" not in reply
