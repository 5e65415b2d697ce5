"""The console on a 360 px phone, in Chinese and in Tibetan: no horizontal scrolling anywhere,
and Tibetan drawn with a Tibetan font."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import StackFactory, screenshot
from tests.browser.test_console_case_flow import (
    file_through_the_simulator,
    seed_accounts,
    sign_in,
)

PAGES = ("cases", "dashboard", "directory", "responsibility", "eldercare", "posters", "audit")


async def no_horizontal_scroll(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"{page.url} is {width} px wide"


async def test_console_fits_a_360_px_phone_in_both_languages(
    make_stack: StackFactory, phone_page: Page
) -> None:
    stack = await make_stack()
    await seed_accounts(stack)
    petition = await file_through_the_simulator(
        stack,
        "o-phone-1",
        "GP-0101",
        ["སྒོ་ཁའི་ལམ་སྒྲོན་ཉིན་གསུམ་རིང་ཉམས་འདུག་དགོང་མོ་མུན་ནག་རེད", "མི་དགོས", "1"],
    )
    page = phone_page
    await page.goto(f"{stack.gateway_url}/console/login")
    await no_horizontal_scroll(page)
    await screenshot(page, "console_phone_login")
    await sign_in(page, stack, "admin")
    for name in PAGES:
        await page.goto(f"{stack.gateway_url}/console/{name}")
        await no_horizontal_scroll(page)
    await page.goto(f"{stack.gateway_url}/console/cases")
    await screenshot(page, "console_phone_queue_zh")
    await page.goto(f"{stack.gateway_url}/console/cases/{petition.ticket_no}")
    await no_horizontal_scroll(page)
    await screenshot(page, "console_phone_case_zh")

    await page.get_by_role("link", name="བོད་ཡིག").click()
    await expect(page.locator("h1")).to_have_text(f"ལས་ཀ་ {petition.ticket_no}")
    await no_horizontal_scroll(page)
    await screenshot(page, "console_phone_case_bo")
    font = await page.evaluate("getComputedStyle(document.querySelector('.words')).fontFamily")
    assert "Tibetan" in font
    for name in PAGES:
        await page.goto(f"{stack.gateway_url}/console/{name}")
        await no_horizontal_scroll(page)
    await page.goto(f"{stack.gateway_url}/console/cases")
    await expect(page.locator("h1")).to_have_text("ལས་ཀའི་ཐོ།")
    await screenshot(page, "console_phone_queue_bo")
    await page.goto(f"{stack.gateway_url}/console/dashboard")
    await expect(page.locator("body")).to_have_attribute("data-charts", "ready")
    await no_horizontal_scroll(page)
    await screenshot(page, "console_phone_dashboard_bo")
