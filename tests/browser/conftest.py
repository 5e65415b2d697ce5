"""Playwright fixtures for Debian's Chromium, and the real app stack for browser use.

Every test in tests/browser runs in ONE session-wide event loop (added automatically below):
Playwright's async objects are bound to the loop they were created in, so the shared browser,
the aiohttp gateway + simulator and the test body must all live in the same loop. Async
fixtures that browser tests use must therefore be declared with
`@pytest_asyncio.fixture(loop_scope="session")` (function scope is fine); `sessions` and
`make_stack` are overridden here for that reason, on a seeded SQLite database only.

Usage:

    async def test_x(stack: Stack, page: Page) -> None:
        await page.goto(stack.gateway_url + "/healthz")
        await screenshot(page, "healthz")

`page` (1280x800) and `phone_page` (360x740, scale 2, touch) save a full-page screenshot to
test-artifacts/screenshots/<test name>.png when the test ends. Chromium is never downloaded:
if /usr/bin/chromium is missing the tests FAIL (CI installs it).
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.settings import PROJECT_ROOT, Settings
from governance.db import create_engine, create_session_factory
from governance.seed import seed_demo
from nlu.embedded import EmbeddedEngine
from tests.bot.conftest import Stack, StackFactory, stack_factory

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = PROJECT_ROOT / "test-artifacts" / "screenshots"
BROWSER_DIR = Path(__file__).resolve().parent

__all__ = ["CHROMIUM", "SCREENSHOTS", "Stack", "StackFactory", "screenshot"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives Debian's Chromium through Playwright (tests/browser)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every browser test `browser` and run it in the session-wide event loop."""
    for item in items:
        if BROWSER_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)
            # Prepended so it is the closest `asyncio` marker (auto mode adds a plain one).
            item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "page"


async def screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG under test-artifacts/screenshots/ and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{_safe_name(name)}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(scope="session")
def chromium_executable() -> Path:
    """Debian's Chromium; missing means FAIL, not skip (CI installs it)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium package "
            "(apt-get install chromium); browser tests never download browsers",
            pytrace=False,
        )
    return CHROMIUM


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chromium_browser(chromium_executable: Path) -> AsyncIterator[Browser]:
    """One headless Debian Chromium for the whole session (never a downloaded browser)."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium_executable),
            headless=True,
            # A synthetic microphone (a beep) that needs no permission prompt: the console's
            # prompt-clip recorder is tested with it.
            args=[
                "--no-sandbox",
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
            ],
        )
        yield browser
        await browser.close()


@contextlib.asynccontextmanager
async def _open_page(
    browser: Browser, request: pytest.FixtureRequest, suffix: str, **options: Any
) -> AsyncIterator[Page]:
    context: BrowserContext = await browser.new_context(
        locale="zh-CN", timezone_id="Asia/Shanghai", **options
    )
    page = await context.new_page()
    try:
        yield page
    finally:
        try:
            if not page.is_closed() and page.url != "about:blank":
                await screenshot(page, request.node.name + suffix)
        finally:
            await context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(chromium_browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A desktop page (1280x800, zh-CN, Asia/Shanghai); screenshot saved at teardown."""
    async with _open_page(
        chromium_browser, request, "", viewport={"width": 1280, "height": 800}
    ) as opened:
        yield opened


@pytest_asyncio.fixture(loop_scope="session")
async def phone_page(
    chromium_browser: Browser, request: pytest.FixtureRequest
) -> AsyncIterator[Page]:
    """A 360 px phone page (device scale 2, touch); screenshot saved at teardown."""
    async with _open_page(
        chromium_browser,
        request,
        "_phone",
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    ) as opened:
        yield opened


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    """Browser tests run on SQLite only (a copy of the migrated template)."""
    path = tmp_path / "minqing.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest_asyncio.fixture(loop_scope="session")
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """The seeded demo community, in the session loop the browser tests run in."""
    engine = create_engine(database_url)
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        await seed_demo(session, PROJECT_ROOT / "data")
    yield factory
    await engine.dispose()


@pytest_asyncio.fixture(loop_scope="session")
async def make_stack(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    embedded_nlu: EmbeddedEngine,
) -> AsyncIterator[StackFactory]:
    """tests/bot's make_stack (gateway + simulator on free ports) in the session loop."""
    async with stack_factory(settings, sessions, embedded_nlu) as start:
        yield start


@pytest_asyncio.fixture(loop_scope="session")
async def stack(make_stack: StackFactory) -> Stack:
    """The real app stack: gateway + simulator on free ports over a seeded SQLite database."""
    return await make_stack()
