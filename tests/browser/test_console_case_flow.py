"""A grid worker works a real case in the console, from received to resolved, in Chromium.

The resident files the case through the WeChat simulator; each console action pushes the
resident (checked in the simulator's inbox); the resident then opens the H5 status link from
the last push on a phone. Role boundary: a G01 grid worker opening a G02 case gets 404.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import Page, expect
from sqlalchemy import select

from bot.app_keys import CLOCK
from governance.console.demo import DEMO_PASSWORD, seed_demo_accounts
from governance.petitions.models import Petition, PetitionStatus
from tests.browser.conftest import Stack, StackFactory, screenshot


async def file_through_the_simulator(
    stack: Stack, openid: str, point: str, words: list[str]
) -> Petition:
    await stack.sim("POST", "/sim/api/residents", openid=openid)
    await stack.sim("POST", f"/sim/api/residents/{openid}/scan", scene=f"report:{point}")
    for text in words:
        await stack.say(openid, text)
    async with stack.sessions() as session:
        petition = await session.scalar(select(Petition).where(Petition.resident_openid == openid))
    assert petition is not None
    return petition


async def seed_accounts(stack: Stack) -> None:
    async with stack.sessions() as session, session.begin():
        await seed_demo_accounts(session, now=stack.app[CLOCK].now())


async def inbox_with(stack: Stack, openid: str, text: str) -> list[dict[str, Any]]:
    """Wait until the resident's simulator inbox has a message containing `text`."""

    async def probe() -> list[dict[str, Any]]:
        inbox = await stack.sim("GET", f"/sim/api/residents/{openid}/inbox")
        return [m for m in inbox if text in str(m.get("content", ""))]

    found: list[dict[str, Any]] = await stack.wait_for(probe)
    return found


async def sign_in(page: Page, stack: Stack, username: str) -> None:
    await page.goto(f"{stack.gateway_url}/console/login")
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await expect(page.locator("h1")).to_have_text("案件列表")


async def test_grid_worker_works_a_case_to_resolved_and_the_resident_follows(
    make_stack: StackFactory, page: Page, phone_page: Page
) -> None:
    stack = await make_stack()
    await seed_accounts(stack)
    openid = "o-browser-1"
    petition = await file_through_the_simulator(
        stack, openid, "GP-0101", ["院门口的路灯坏了三天了晚上很黑", "13812345678", "1"]
    )
    ticket = petition.ticket_no
    await inbox_with(stack, openid, "已派单")

    await sign_in(page, stack, "dolma")
    row = page.locator("table.queue tr", has_text=ticket)
    await expect(row).to_contain_text("已派单")
    await expect(row).to_contain_text("卓玛")
    await screenshot(page, "console_queue_dolma")
    await row.get_by_role("link", name=ticket).click()
    await expect(page.locator("h1")).to_have_text(f"工单 {ticket}")
    await expect(page.locator(".words")).to_have_text("院门口的路灯坏了三天了晚上很黑")
    await expect(page.locator("dl.facts").first).to_contain_text("13812345678")  # the assignee
    await screenshot(page, "console_case_received")

    await page.locator("[data-action=accept]").click()
    await expect(page.locator(".notice")).to_have_text("已接单。")
    await page.locator("[data-action=on_site]").click()
    await expect(page.locator(".notice")).to_contain_text("已记录到场")
    await inbox_with(stack, openid, "已到现场")
    progress = page.locator("form", has=page.locator("[data-action=progress]"))
    await progress.locator("textarea").fill("灯泡烧坏了，已经更换，正在测试线路")
    await progress.locator("[data-action=progress]").click()
    await inbox_with(stack, openid, "灯泡烧坏了，已经更换，正在测试线路")
    reply = page.locator("form", has=page.locator("[data-action=reply]"))
    await reply.locator("textarea").fill("今晚路灯就能亮，请放心")
    await reply.locator("[data-action=reply]").click()
    await inbox_with(stack, openid, "今晚路灯就能亮，请放心")
    resolve = page.locator("form", has=page.locator("[data-action=resolve]"))
    await resolve.locator("textarea").fill("已修好，灯泡和线路都已更换")
    await resolve.locator("[data-action=resolve]").click()
    await expect(page.locator(".notice")).to_contain_text("已办结")
    await expect(page.locator(".case-head .status")).to_have_text("已办结")
    await expect(page.locator(".clock-met")).to_have_count(2)
    timeline = page.locator("ol.timeline li")
    await expect(timeline).to_have_count(7)  # submitted, dispatched and the five actions
    await screenshot(page, "console_case_resolved")

    [resolved] = await inbox_with(stack, openid, "已修好，灯泡和线路都已更换")
    await inbox_with(stack, openid, "修好了吗")
    async with stack.sessions() as session:
        stored = await session.scalar(select(Petition).where(Petition.ticket_no == ticket))
    assert stored is not None
    assert stored.status == PetitionStatus.RESOLVED
    assert stored.resolution_met is True

    link = re.search(r"https?://\S+/s/\S+", resolved["content"])
    assert link is not None, resolved
    url = re.sub(r"^https?://[^/]+", stack.gateway_url, link.group(0))
    response = await phone_page.goto(url)
    assert response is not None
    assert response.status == 200
    body = phone_page.locator("body")
    await expect(body).to_contain_text(ticket)
    await expect(body).to_contain_text("院门口的路灯坏了三天了晚上很黑")
    await expect(body).to_contain_text("办结")
    await screenshot(phone_page, "console_flow_resident_status_page")


async def test_grid_worker_opening_another_grids_case_by_url_gets_404(
    make_stack: StackFactory, page: Page
) -> None:
    stack = await make_stack()
    await seed_accounts(stack)
    other = await file_through_the_simulator(
        stack, "o-browser-2", "GP-0201", ["纳金路菜市场门口的路灯不亮了", "跳过", "1"]
    )
    await sign_in(page, stack, "dolma")
    await expect(page.locator("main")).to_contain_text("没有符合条件的案件。")
    await expect(page.locator("main")).not_to_contain_text(other.ticket_no)
    response = await page.goto(f"{stack.gateway_url}/console/cases/{other.ticket_no}")
    assert response is not None
    assert response.status == 404
    await expect(page.locator("h1")).to_have_text("没有找到")
    await expect(page.locator("main")).not_to_contain_text("纳金路")
    await screenshot(page, "console_role_boundary_404")
    await page.context.clear_cookies()
    await sign_in(page, stack, "dorje")  # the G02 grid worker sees it
    response = await page.goto(f"{stack.gateway_url}/console/cases/{other.ticket_no}")
    assert response is not None
    assert response.status == 200
    await expect(page.locator(".words")).to_have_text("纳金路菜市场门口的路灯不亮了")
