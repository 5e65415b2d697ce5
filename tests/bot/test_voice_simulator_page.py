"""A person records a voice message on the simulator page (Chromium's fake microphone) and hears
the bot's voice reply: MediaRecorder → upload → AMR-NB → gateway → voice petition → spoken
reply with an audio player in the chat. Debian's Chromium through Playwright, never downloaded."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import async_playwright
from sqlalchemy import select

from bot.settings import Settings
from governance.petitions.models import VoiceRecording
from tests.bot.conftest import StackFactory
from tests.bot.test_voice_gateway import voice_settings, zh_clips

CHROMIUM = Path("/usr/bin/chromium")
__all__ = ["voice_settings", "zh_clips"]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
async def test_record_in_the_browser_and_hear_the_bots_voice_reply(
    make_stack: StackFactory, voice_settings: Settings
) -> None:
    stack = await make_stack()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
            ],
        )
        try:
            page = await browser.new_page()
            await page.goto(stack.simulator_url + "/")
            await page.click("#new-resident")
            await page.wait_for_function("document.getElementById('phone-openid').textContent")
            openid = await page.text_content("#phone-openid")
            assert openid
            await page.click("#record")
            await asyncio.sleep(2.0)  # the fake microphone plays a beep
            await page.click("#record")
            reply_audio = page.locator(".bubble audio").nth(1)
            await reply_audio.wait_for(timeout=60_000)
            sources = await page.eval_on_selector_all(
                ".bubble audio", "nodes => nodes.map(node => node.getAttribute('src'))"
            )
        finally:
            await browser.close()
    assert len(sources) >= 2, "the resident's recording and the bot's spoken reply"
    async with stack.http.get(stack.simulator_url + sources[0]) as own:
        assert own.status == 200
        assert own.content_type in {"audio/webm", "audio/ogg"}, "a preview the browser can play"
    async with stack.http.get(stack.simulator_url + sources[-1]) as reply:
        assert reply.status == 200
        assert reply.content_type == "audio/mpeg", "the bot's reply is the MP3 it uploaded"
    async with stack.sessions() as session:
        recording = await session.scalar(
            select(VoiceRecording).where(VoiceRecording.openid == openid)
        )
    assert recording is not None
    assert recording.original_format == "amr", "the simulator delivered AMR like WeChat"
    assert recording.duration_seconds is not None
    assert recording.duration_seconds > 1.0
    assert recording.petition_id is not None, "a beep is no speech: a person listens"
