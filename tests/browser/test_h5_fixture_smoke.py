"""The browser fixtures themselves: Chromium opens the real gateway and screenshots land."""

from __future__ import annotations

from playwright.async_api import Page

from tests.browser.conftest import SCREENSHOTS, Stack, screenshot


async def test_healthz_opens_in_chromium(stack: Stack, page: Page, phone_page: Page) -> None:
    response = await page.goto(stack.gateway_url + "/healthz")
    assert response is not None
    assert response.status == 200
    assert "ok" in await page.content()
    path = await screenshot(page, "fixture_smoke_healthz")
    assert path.parent == SCREENSHOTS
    assert path.stat().st_size > 0
    await phone_page.goto(stack.gateway_url + "/healthz")
    assert phone_page.viewport_size == {"width": 360, "height": 740}
    assert await phone_page.evaluate("[screen.width, devicePixelRatio]") == [360, 2]
