"""Resident H5 pages in Debian's Chromium: a real push link on a 360 px phone in Chinese, Tibetan
and elder mode (no horizontal scrolling, a Tibetan font, buttons big enough to tap), the
"not fixed" answer, booking cancel, the policy page and the friendly invalid-link page.

Screenshots land in test-artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from playwright.async_api import Page
from sqlalchemy import select

from bot.app_keys import OUTBOX, SETTINGS
from bot.links import LinkSigner
from governance.bookings.models import Booking, BookingStatus
from governance.bookings.service import Booked, BookingRequest, book
from governance.clock import LOCAL_TZ
from governance.directory.service import get_or_create_resident
from governance.petitions.lifecycle import transition
from governance.petitions.models import Petition, PetitionStatus
from tests.browser.conftest import Stack, screenshot

S = PetitionStatus
PHONE_WIDTH = 360
LINK = re.compile(r"https?://\S+/s/[A-Za-z0-9_-]+")


async def _fits_the_phone(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_WIDTH, f"{page.url} scrolls sideways: {width} px"


async def _tap_targets_are_big(page: Page, selector: str = ".btn, .bar a") -> None:
    boxes = [await element.bounding_box() for element in await page.query_selector_all(selector)]
    assert boxes, f"no {selector} on {page.url}"
    for box in boxes:
        assert box is not None
        assert box["height"] >= 44, f"a tap target is only {box['height']} px high"
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= PHONE_WIDTH


async def _fonts_of(page: Page, selector: str) -> set[str]:
    """The fonts Chromium really used to draw the element's text (DevTools protocol)."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("DOM.enable")
    await cdp.send("CSS.enable")
    document = await cdp.send("DOM.getDocument")
    node = await cdp.send(
        "DOM.querySelector", {"nodeId": document["root"]["nodeId"], "selector": selector}
    )
    fonts = await cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})
    await cdp.detach()
    return {font["familyName"] for font in fonts["fonts"]}


async def _file_and_resolve(stack: Stack, openid: str, words: list[str]) -> Petition:
    """The resident files through the simulator; the assignee accepts, goes and resolves."""
    await stack.sim("POST", "/sim/api/residents", openid=openid)
    await stack.sim("POST", f"/sim/api/residents/{openid}/scan", scene="report:GP-0101")
    for text in words:
        await stack.say(openid, text)
    async with stack.sessions() as session, session.begin():
        petition = await session.scalar(select(Petition).where(Petition.resident_openid == openid))
        assert petition is not None
        assert petition.status == S.DISPATCHED, "intake dispatches by the matrix"
        now = datetime.now(LOCAL_TZ)
        for status in (S.ACCEPTED, S.ON_SITE, S.RESOLVED):
            await transition(
                session,
                petition,
                status,
                actor=f"staff:{petition.assignee_staff_id}",
                now=now,
                note="已更换灯泡，恢复照明" if status == S.RESOLVED else "",
            )
    stack.app[OUTBOX].wake()
    return petition


async def _push_link(stack: Stack, openid: str, containing: str) -> str:
    """The status link in the push the resident received, pointed at this test's gateway."""

    async def probe() -> list[dict[str, Any]]:
        inbox = await stack.sim("GET", f"/sim/api/residents/{openid}/inbox")
        return [m for m in inbox if containing in str(m.get("content", ""))]

    [message, *_] = await stack.wait_for(probe)
    found = LINK.search(message["content"])
    assert found is not None, message
    public = stack.app[SETTINGS].public_base_url
    return found.group(0).replace(public, stack.gateway_url)


async def test_a_pushed_status_link_on_a_phone_in_chinese_tibetan_and_elder_mode(
    stack: Stack, phone_page: Page
) -> None:
    petition = await _file_and_resolve(
        stack, "o-h5-phone", ["院门口的路灯坏了三天了晚上很黑", "跳过", "1"]
    )
    link = await _push_link(stack, "o-h5-phone", "修好了吗")
    page = phone_page

    await page.goto(link)
    assert petition.ticket_no in await page.inner_text("h1")
    assert "正在现场核实" in await page.inner_text("#timeline")
    assert await page.is_visible("text=没修好")
    await _fits_the_phone(page)
    await _tap_targets_are_big(page)
    await screenshot(page, "h5_status_zh_phone")

    await page.click("a.switch-lang")
    assert await page.get_attribute("html", "lang") == "bo"
    await _fits_the_phone(page)
    await _tap_targets_are_big(page)
    fonts = await _fonts_of(page, "#timeline li")
    assert fonts & {"Tibetan Machine Uni", "Noto Sans Tibetan", "Jomolhari"}, fonts
    await screenshot(page, "h5_status_bo_phone")

    await page.click("a.switch-elder")
    assert await page.get_attribute("body", "class") == "elder"
    body_px = await page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert body_px >= 22
    await _fits_the_phone(page)
    await _tap_targets_are_big(page)
    await screenshot(page, "h5_status_bo_elder_phone")

    await page.goto(link + "?lang=zh")
    assert await page.get_attribute("body", "class") == "elder", "elder mode is remembered"
    await _fits_the_phone(page)
    await screenshot(page, "h5_status_zh_elder_phone")

    await page.click("button[value=not_fixed]")
    await page.wait_for_selector("#flash")
    assert "非常抱歉没能修好" in await page.inner_text("#flash")
    assert "已上报上级部门" in await page.inner_text("#status")
    assert "回访：没修好" in await page.inner_text("#timeline")
    assert not await page.is_visible("button[value=not_fixed]")
    await _fits_the_phone(page)
    await screenshot(page, "h5_status_after_not_fixed_phone")
    async with stack.sessions() as session:
        fresh = await session.get(Petition, petition.id)
    assert fresh is not None
    assert fresh.status == S.ESCALATED


async def test_adding_information_from_the_desktop_page(stack: Stack, page: Page) -> None:
    petition = await _file_and_resolve(stack, "o-h5-desk", ["小区门口的路灯不亮了", "跳过", "1"])
    link = await _push_link(stack, "o-h5-desk", "修好了吗")
    await page.goto(link)
    await page.fill("#info-text", "灯又灭了 <script>alert(1)</script>")
    await page.click("#info button")
    await page.wait_for_selector("#flash")
    assert "已转给工作人员" in await page.inner_text("#flash")
    assert "灯又灭了 <script>alert(1)</script>" in await page.inner_text("#timeline")
    await screenshot(page, "h5_status_desktop_info_added")
    assert petition.ticket_no in await page.inner_text("h1")


async def test_a_booking_is_cancelled_from_the_phone(stack: Stack, phone_page: Page) -> None:
    settings = stack.app[SETTINGS]
    now = datetime.now(LOCAL_TZ)
    day = now.date() + timedelta(days=2)
    while day.isoweekday() == 7:  # the nursing station rests on Sundays
        day += timedelta(days=1)
    wanted = datetime(day.year, day.month, day.day, 10, tzinfo=LOCAL_TZ)
    async with stack.sessions() as session, session.begin():
        await get_or_create_resident(session, "o-h5-elder", language="bo", now=now)
        outcome = await book(
            session,
            BookingRequest(
                openid="o-h5-elder",
                service="nursing",
                wanted=(wanted, wanted),
                elder_name="ཚེ་རིང་སྒྲོལ་མ།",
                address="北京中路12号院3单元2楼",
                phone="13812345678",
                language="bo",
                grid_id="G01",
            ),
            now,
        )
    assert isinstance(outcome, Booked)
    signer = LinkSigner(
        settings.links_secret.get_secret_value(), ttl=timedelta(days=settings.link_ttl_days)
    )
    link = f"{stack.gateway_url}/b/{signer.sign_booking(outcome.booking_id, 'o-h5-elder', now)}"
    page = phone_page
    await page.goto(link + "?elder=1")
    assert outcome.provider_bo in await page.inner_text("dl.facts")
    await _fits_the_phone(page)
    await _tap_targets_are_big(page)
    await screenshot(page, "h5_booking_bo_elder_phone")
    await page.click("#cancel a.btn")
    await page.wait_for_selector("#cancel form")
    await _fits_the_phone(page)
    await screenshot(page, "h5_booking_confirm_phone")
    await page.click("#cancel form button")
    await page.wait_for_selector("#flash")
    assert outcome.number in await page.inner_text("#flash")
    await _fits_the_phone(page)
    await screenshot(page, "h5_booking_cancelled_phone")
    async with stack.sessions() as session:
        booking = await session.get(Booking, outcome.booking_id)
    assert booking is not None
    assert booking.status == BookingStatus.CANCELLED


async def test_policy_and_invalid_link_pages_fit_the_phone(stack: Stack, phone_page: Page) -> None:
    page = phone_page
    for lang in ("zh", "bo"):
        await page.goto(f"{stack.gateway_url}/p/elderly_allowance?lang={lang}&elder=1")
        await _fits_the_phone(page)
        await _tap_targets_are_big(page, ".bar a")
        await screenshot(page, f"h5_policy_{lang}_elder_phone")
    response = await page.goto(f"{stack.gateway_url}/s/not-a-real-token")
    assert response is not None
    assert response.status == 404
    assert "ནུས་མེད" in await page.inner_text("body")
    assert "这个链接已失效" in await page.inner_text("body")
    await _fits_the_phone(page)
    fonts = await _fonts_of(page, "p[lang=bo]")
    assert fonts & {"Tibetan Machine Uni", "Noto Sans Tibetan", "Jomolhari"}, fonts
    await screenshot(page, "h5_invalid_link_phone")
