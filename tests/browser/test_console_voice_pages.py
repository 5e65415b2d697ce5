"""In Chromium: staff play a voice petition and transcribe it; record a prompt clip by microphone.

The microphone is Chromium's fake capture device (a beep), so MediaRecorder, the upload and the
server-side conversion all run for real.
"""

from __future__ import annotations

from pathlib import Path

import pytest_asyncio
from playwright.async_api import Page, expect
from sqlalchemy import select

from bot.app_keys import CLOCK
from bot.settings import Settings
from bot.voice.speech import prompt_library
from governance.petitions.models import Petition, PetitionStatus
from tests.bot.web.console.conftest import file_voice
from tests.browser.conftest import Stack, StackFactory, screenshot
from tests.browser.test_console_case_flow import seed_accounts, sign_in


@pytest_asyncio.fixture(loop_scope="session")
async def media_dir(settings: Settings, tmp_path: Path) -> Path:
    """Recordings and prompt clips under tmp_path (set before the stack is built)."""
    settings.voice.media_dir = tmp_path / "media"
    return settings.voice.media_dir


async def test_staff_play_a_tibetan_voice_petition_and_transcribe_it(
    media_dir: Path, make_stack: StackFactory, page: Page
) -> None:
    stack: Stack = await make_stack()
    await seed_accounts(stack)
    ticket = await file_voice(stack.sessions, stack.app[CLOCK].now(), media_dir)

    await sign_in(page, stack, "dolma")
    await page.goto(f"{stack.gateway_url}/console/cases/{ticket}")
    panel = page.locator("#voice")
    await expect(panel).to_contain_text("这条语音还没有人转写")
    duration = await panel.locator("audio").evaluate(
        """audio => new Promise((resolve, reject) => {
            audio.addEventListener("loadedmetadata", () => resolve(audio.duration));
            audio.addEventListener("error", () => reject(new Error("audio failed")));
            audio.load();
        })"""
    )
    assert 0.5 < duration < 2.0, "the browser decoded the MP3 the console served"
    await screenshot(page, "console_voice_case")

    await panel.locator("textarea").fill("楼下的路灯坏了好几天，晚上一片漆黑")
    await panel.get_by_role("button", name="提交转写并派单").click()
    await expect(page.locator(".notice")).to_contain_text("转写已保存")
    await expect(page.locator(".words")).to_have_text("楼下的路灯坏了好几天，晚上一片漆黑")
    async with stack.sessions() as session:
        petition = await session.scalar(select(Petition).where(Petition.ticket_no == ticket))
    assert petition is not None
    assert petition.status == PetitionStatus.DISPATCHED
    assert petition.category == "streetlight"


async def test_staff_record_a_missing_tibetan_clip_with_the_microphone(
    media_dir: Path, settings: Settings, make_stack: StackFactory, page: Page
) -> None:
    stack = await make_stack()
    await seed_accounts(stack)
    library = prompt_library(settings.voice)
    assert library is not None
    before = library.gaps("bo")
    clip = before[0]

    await sign_in(page, stack, "lhakpa")
    await page.get_by_role("link", name="语音提示").click()
    await page.get_by_role("link", name=f"藏文 · 缺 {len(before)} 段").click()
    row = page.locator(f"#clip-{clip}")
    await expect(row).to_contain_text("缺录音")
    await expect(row.locator(".script")).to_have_text(library.script_text(clip, "bo"))
    await screenshot(page, "console_prompts_bo")

    record = row.get_by_role("button", name="开始录音")
    await record.click()
    await expect(row.get_by_role("button", name="停止并保存")).to_be_visible()
    await page.wait_for_timeout(1500)  # let the fake microphone beep into the recorder
    await row.get_by_role("button", name="停止并保存").click()
    await expect(page.locator(".notice")).to_contain_text(f"已保存录音 {clip}")
    await expect(page.locator(f"#clip-{clip}")).to_contain_text("工作人员已录")
    saved = media_dir / "prompts" / "bo" / f"{clip}.mp3"
    assert saved.is_file()
    assert saved.stat().st_size > 1000
    assert clip not in library.gaps("bo"), "the bot's speech finds the new recording"
    await screenshot(page, "console_prompts_recorded")
