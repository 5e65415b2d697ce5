"""The console inside the real gateway (`create_app`): mounted under /console, and QR posters
generated through the WeChat simulator and downloaded by a community officer."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest

from bot.app_keys import CLOCK
from governance.console.demo import DEMO_PASSWORD, seed_demo_accounts
from tests.bot.conftest import StackFactory

CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


async def test_posters_are_generated_and_downloaded_from_the_console(
    make_stack: StackFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.web.console.core.PROJECT_ROOT", tmp_path)  # posters under tmp
    stack = await make_stack()
    async with stack.sessions() as session, session.begin():
        await seed_demo_accounts(session, now=stack.app[CLOCK].now())
    base = f"{stack.gateway_url}/console"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        await _work(browser, base)


async def _work(http: aiohttp.ClientSession, base: str) -> None:
    """Sign in, generate the posters, download one (cookies kept like a browser)."""
    async with http.get(f"{base}/login") as response:
        token = CSRF.search(await response.text())
    assert token is not None
    async with http.post(
        f"{base}/login",
        data={"_csrf": token.group(1), "username": "lhakpa", "password": DEMO_PASSWORD},
    ) as response:
        assert response.status == 200
        html = await response.text()
    assert "案件列表" in html
    async with http.get(f"{base}/posters") as response:
        html = await response.text()
    assert "还没有生成" in html
    csrf = CSRF.search(html)
    assert csrf is not None
    async with http.post(
        f"{base}/posters", data={"_csrf": csrf.group(1), "community": "lhasa-gesanglinka"}
    ) as response:
        assert response.status == 200
        html = await response.text()
    assert "海报已生成。" in html
    assert "/console/posters/GP-0101.pdf" in html
    async with http.get(f"{base}/posters/GP-0101.pdf") as response:
        assert response.status == 200
        assert response.content_type == "application/pdf"
        assert (await response.read()).startswith(b"%PDF")
    async with http.get(f"{base}/posters/GP-9999.png") as response:
        assert response.status == 404
